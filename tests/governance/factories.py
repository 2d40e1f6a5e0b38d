"""A project team with one person per role, and short helpers to drive approvals through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import factory
from rest_framework.test import APIClient

from apps.governance.models import ApprovalPolicy, WebhookEndpoint
from apps.governance.webhooks import new_secret
from tests.accounts.factories import UserFactory
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member


@dataclass
class Team:
    """``author`` owns the project and trained ``version``; ``engineer`` (an editor) submits; two reviewers and a
    deployer (an editor with models:deploy) are members; ``viewer`` is a member without rights; ``admin`` is a
    platform admin; ``outsider`` belongs to another project."""

    project: Any
    version: Any
    author: Any
    engineer: Any
    reviewer: Any
    reviewer2: Any
    deployer: Any
    viewer: Any
    admin: Any
    outsider: Any

    def client(self, who: str):
        """An API client signed in as ``who`` (one per person, kept for the test)."""
        clients = self.__dict__.setdefault("_clients", {})
        if who not in clients:
            clients[who] = signed_in(getattr(self, who))
        return clients[who]


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def make_team(make_version, sample: str = "titanic") -> Team:
    project = ProjectFactory()
    dataset = DatasetFactory(project=project, name=sample)
    version = make_version(sample, dataset=dataset)
    other = ProjectFactory()
    return Team(
        project=project,
        version=version,
        author=project.owner,
        engineer=add_member(project, "editor", roles=["ml_engineer"]),
        reviewer=add_member(project, "viewer", roles=["reviewer"]),
        reviewer2=add_member(project, "viewer", roles=["reviewer"]),
        deployer=add_member(project, "editor", roles=["ml_engineer"]),
        viewer=add_member(project, "viewer", roles=["viewer"]),
        admin=UserFactory(roles=["admin"]),
        outsider=other.owner,
    )


def submit(client, version, comment: str = "please review"):
    return client.post(f"/api/v1/models/{version.pk}/submit-approval", {"comment": comment}, format="json")


def move(client, approval_id: int, action: str, comment: str = ""):
    path = action.replace("_", "-")
    return client.post(f"/api/v1/approvals/{approval_id}/{path}", {"comment": comment}, format="json")


class ApprovalPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApprovalPolicy

    min_approvers = 1


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    url = "https://hooks.example.org/maestro"
    secret = factory.LazyFunction(new_secret)


def run_queued_checks() -> None:
    """Run every queued check run here (the feature-importance hook override is visible only in this process)."""
    from apps.governance.models import CheckRun
    from apps.governance.services import check_run_execute

    for run_id in CheckRun.objects.filter(status="queued").values_list("pk", flat=True):
        check_run_execute(run_id=run_id)


def to_state(team: Team, state: str, *, version=None) -> int:
    """Walk a new request of ``version`` (default: the team's) through the API to ``state``; answers its id."""
    version = version or team.version
    response = submit(team.client("engineer"), version)
    assert response.status_code == 201, response.content
    approval_id = response.json()["id"]
    reviewer = team.client("reviewer")
    path = {
        "submitted": [],
        "review": ["start_review"],
        "testing": ["start_review", "start_testing"],
        "approved": ["start_review", "start_testing", "approve"],
        "rejected": ["start_review", "reject"],
        "deployed": ["start_review", "start_testing", "approve", "deploy"],
    }[state]
    for action in path:
        if action == "approve":
            run_queued_checks()
        client = team.client("deployer") if action == "deploy" else reviewer
        answer = move(client, approval_id, action)
        assert answer.status_code == 200, answer.content
    assert answer_state(team, approval_id) == state
    return approval_id


def answer_state(team: Team, approval_id: int) -> str:
    return team.client("viewer").get(f"/api/v1/approvals/{approval_id}").json()["state"]
