"""``{% approval_panel version %}``: the approval section of the model version page (state, history, the buttons
the current user may use). The registry's template includes ``governance/_version_panel.html``, which uses it, so
the registry never imports governance."""

from __future__ import annotations

from django import template

from apps.governance import rules, selectors
from apps.governance.choices import ApprovalState

register = template.Library()


@register.inclusion_tag("governance/approval_panel.html", takes_context=True)
def approval_panel(context, version) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    approval = selectors.latest_request_of(version=version)
    project = version.registered_model.project
    try:
        can_submit = (approval is None or approval.state == ApprovalState.REJECTED) and not rules.may_submit(
            user, project
        )
    except rules.NotVisible:
        can_submit = False
    data = {
        "version": version,
        "approval": approval,
        "can_submit": can_submit,
        "csrf_token": context.get("csrf_token"),
        "next": request.path if request is not None else "",
    }
    if approval is not None:
        approval = selectors.approval_requests_base().get(pk=approval.pk)
        data.update(
            approval=approval,
            history=selectors.history_rows(request=approval),
            votes=approval.votes.count(),
            actions=selectors.available_actions(request=approval, user=user),
        )
    return data
