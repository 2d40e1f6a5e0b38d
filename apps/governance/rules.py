"""Who may move an approval request: one function, :func:`refusal`, says why a user may not (or ``None``).

The transitions of ``ApprovalRequest`` declare ``permission=permission(action)``, which asks the same function, so
the machine's declared permission and the 403's message never disagree. These rules never look at the request's
state: a user who may never make a move is refused in every state (403), and only a user who may make it is told
that now is the wrong time (409).

- submit: a project editor (or owner) whose account holds ``models:edit``;
- start review, start testing, approve, reject: an account holding ``approvals:review`` (the reviewer and admin
  roles) that can see the project (any project role);
- deploy: ``approvals:review``, or a project editor holding ``models:deploy``;
- separation of duties: whoever submitted the request and whoever trained the version (the job's author, the
  version's creator) never start its review, approve it or deploy it, whatever their roles — superusers included;
- the project's policy may also keep the approvers from deploying.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from apps.accounts.roles import has_capability
from apps.governance.choices import ApprovalAction
from apps.projects.choices import ProjectRole
from apps.projects.permissions import ROLE_RANK, project_role

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.governance.models import ApprovalRequest
    from apps.projects.models import Project
    from apps.registry.models import ModelVersion

REVIEW_CAPABILITY = "approvals:review"
REVIEW_ACTIONS = {
    ApprovalAction.START_REVIEW,
    ApprovalAction.START_TESTING,
    ApprovalAction.APPROVE,
    ApprovalAction.REJECT,
}
# The moves the submitter and the model's author may never make on their own model.
SEPARATED_ACTIONS = {ApprovalAction.START_REVIEW, ApprovalAction.APPROVE, ApprovalAction.DEPLOY}
VERBS = {
    ApprovalAction.SUBMIT: "submit",
    ApprovalAction.START_REVIEW: "start the review of",
    ApprovalAction.START_TESTING: "start testing",
    ApprovalAction.APPROVE: "approve",
    ApprovalAction.REJECT: "reject",
    ApprovalAction.DEPLOY: "deploy",
}


class NotVisible(Exception):
    """The user cannot see the request's project (callers answer 404)."""


def author_ids(version: ModelVersion) -> set[int]:
    """Who trained ``version``: the creator of its training job and of the version itself."""
    ids = {version.created_by_id}
    if version.job_id:
        ids.add(version.job.created_by_id)
    return {user_id for user_id in ids if user_id is not None}


def may_submit(user: User, project: Project) -> str | None:
    """Why ``user`` may not submit a version of ``project`` for approval, or None."""
    role = project_role(user=user, project=project)
    if role is None:
        raise NotVisible
    if ROLE_RANK[role] < ROLE_RANK[ProjectRole.EDITOR]:
        return f"Submitting for approval needs the editor role in project '{project.name}'; you are {role}."
    if not has_capability(user, "models:edit"):
        return "Submitting for approval needs 'models:edit', which your account's role does not include."
    return None


def may_act(user: User, project: Project, action: str) -> str | None:
    """Why ``user`` may never make ``action`` in ``project`` (roles only, not a particular request), or None."""
    role = project_role(user=user, project=project)
    if role is None:
        raise NotVisible
    if action in REVIEW_ACTIONS and not has_capability(user, REVIEW_CAPABILITY):
        return (
            f"Only reviewers and administrators may {VERBS[action]} an approval request; "
            f"your account's role does not include '{REVIEW_CAPABILITY}'."
        )
    if action == ApprovalAction.DEPLOY and not (
        has_capability(user, REVIEW_CAPABILITY)
        or (ROLE_RANK[role] >= ROLE_RANK[ProjectRole.EDITOR] and has_capability(user, "models:deploy"))
    ):
        return (
            "Deploying needs the reviewer or admin role, or the editor role in project "
            f"'{project.name}' with 'models:deploy'; you are {role} there."
        )
    return None


def separation_refusal(request: ApprovalRequest, user: User, action: str) -> str | None:
    """Why separation of duties keeps ``user`` from ``action`` on ``request``, or None."""
    if action in SEPARATED_ACTIONS:
        verb = VERBS[action]
        if user.pk == request.submitted_by_id:
            return f"Separation of duties: you submitted this model version, so someone else must {verb} it."
        if user.pk in author_ids(request.model_version):
            return f"Separation of duties: you trained this model version, so someone else must {verb} it."
    if action == ApprovalAction.DEPLOY and request.policy.get("deployer_must_differ"):
        if request.votes.filter(user=user).exists():
            return (
                "Separation of duties: you approved this request and the project's policy wants someone "
                "other than its approvers to deploy it."
            )
    return None


def refusal(request: ApprovalRequest, user: User, action: str) -> str | None:
    """Why ``user`` may not make ``action`` on ``request`` (whatever its state), or None when they may.

    Raises :class:`NotVisible` when the user cannot see the request's project.
    """
    if not user or not user.is_authenticated or not user.is_active:
        raise NotVisible
    project = request.model_version.registered_model.project
    return may_act(user, project, action) or separation_refusal(request, user, action)


def permission(action: str) -> Callable[[ApprovalRequest, User], bool]:
    """The ``permission=`` of a transition: whether ``user`` may make ``action`` on the request."""

    def allowed(instance: ApprovalRequest, user: User) -> bool:
        try:
            return refusal(instance, user, action) is None
        except NotVisible:
            return False

    allowed.__name__ = f"may_{action}"
    return allowed
