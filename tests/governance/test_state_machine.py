"""The machine through the API with one person per role: the whole walk, every forbidden move from every state
(generated from the machine's declared transitions), and who may never move (403 in every state)."""

from __future__ import annotations

import pytest

from apps.governance.choices import ApprovalState
from apps.governance.models import ApprovalRequest
from tests.governance.factories import answer_state, move, run_queued_checks, submit, to_state

pytestmark = pytest.mark.django_db

FIELD = ApprovalRequest._meta.get_field("state")
SOURCES: dict[str, set[str]] = {}
for _transition in FIELD.get_all_transitions(ApprovalRequest):
    SOURCES.setdefault(_transition.name, set()).add(str(_transition.source))
# Who may make each move (so a refusal can only be about the state): reviewers, and an editor for deploy.
ACTOR = {name: "deployer" if name == "deploy" else "reviewer" for name in SOURCES}


def test_the_machine_declares_the_documented_moves():
    assert SOURCES == {
        "start_review": {"submitted"},
        "start_testing": {"review"},
        "approve": {"testing"},
        "reject": {"review", "testing"},
        "deploy": {"approved"},
    }
    for transition in FIELD.get_all_transitions(ApprovalRequest):
        assert transition.permission is not None, transition.name
        assert transition.conditions is not None, transition.name


def test_walk_the_whole_machine_with_one_person_per_role(team, explained):
    response = submit(team.client("engineer"), team.version, comment="ready")
    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["model_version"], body["submitted_by"]) == (
        "submitted",
        team.version.pk,
        team.engineer.username,
    )
    approval_id = body["id"]
    reviewer, reviewer2 = team.client("reviewer"), team.client("reviewer2")
    assert move(reviewer, approval_id, "start_review", "looking").json()["state"] == "review"
    assert move(reviewer2, approval_id, "start_testing", "run them").json()["state"] == "testing"
    run_queued_checks()
    approved = move(reviewer2, approval_id, "approve", "good")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    deployed = move(team.client("deployer"), approval_id, "deploy", "ship")
    assert deployed.status_code == 200, deployed.content
    body = deployed.json()
    assert body["state"] == "deployed" and body["deployment"]["model_version"] == team.version.pk
    history = body["history"]
    assert [(row["from"], row["to"], row["by"]) for row in history if row["action"] != "checks"] == [
        (None, "submitted", team.engineer.username),
        ("submitted", "review", team.reviewer.username),
        ("review", "testing", team.reviewer2.username),
        ("testing", "approved", team.reviewer2.username),
        ("approved", "deployed", team.deployer.username),
    ]
    assert [row["comment"] for row in history if row["action"] != "checks"] == [
        "ready",
        "looking",
        "run them",
        "good",
        "ship",
    ]
    assert body["history_verified"] is True
    team.version.registered_model.refresh_from_db()
    assert team.version.registered_model.production_version_id == team.version.pk


@pytest.mark.parametrize("state", [state.value for state in ApprovalState])
def test_every_move_the_machine_forbids_from_this_state_is_409_naming_it(team, explained, state):
    approval_id = to_state(team, state)
    ApprovalRequest.objects.filter(pk=approval_id).update(checks_status="passed")  # only the state can refuse
    forbidden = [name for name, sources in SOURCES.items() if state not in sources]
    assert forbidden, state
    for name in forbidden:
        response = move(team.client(ACTOR[name]), approval_id, name)
        assert response.status_code == 409, (name, response.content)
        assert f"'{state}'" in response.json()["detail"], response.json()
        assert response.json()["state"] == state
    assert answer_state(team, approval_id) == state


@pytest.mark.parametrize("state", [state.value for state in ApprovalState])
def test_who_may_never_move_gets_403_in_every_state(team, explained, state):
    approval_id = to_state(team, state)
    never = {
        "viewer": list(SOURCES),  # a project viewer without rights: nothing
        "engineer": ["start_review", "start_testing", "approve", "reject", "deploy"],  # the submitter
        "author": ["start_review", "start_testing", "approve", "reject", "deploy"],  # trained it, no reviewer role
    }
    for who, names in never.items():
        for name in names:
            response = move(team.client(who), approval_id, name)
            assert response.status_code == 403, (who, name, state, response.content)
    assert answer_state(team, approval_id) == state


def test_a_request_of_another_project_is_404_and_anonymous_401(team, api_client):
    approval_id = to_state(team, "submitted")
    outsider = team.client("outsider")
    assert outsider.get(f"/api/v1/approvals/{approval_id}").status_code == 404
    assert move(outsider, approval_id, "start_review").status_code == 404
    assert move(api_client, approval_id, "start_review").status_code == 401
    assert submit(outsider, team.version).status_code == 404
