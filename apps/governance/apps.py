from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """The approval workflow of model versions (submitted, review, testing, approved or rejected, deployed) under
    django-fsm. It answers the registry's approval and deploy hooks, so every way into production follows it."""

    name = "apps.governance"
    label = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from apps.governance import metrics, selectors, services
        from apps.registry import hooks

        hooks.register_approval_provider(selectors.approvals_of)
        hooks.register_deploy_authorizer(services.DEPLOY_AUTHORIZER)
        hooks.register_explanation_listener(services.approval_checks_after_explanation)
        metrics.register_metrics()
