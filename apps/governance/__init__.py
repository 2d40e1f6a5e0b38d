"""The approval workflow of model versions (submitted, review, testing, approved or rejected, deployed) under
django-fsm. Registered now so its migrations and permissions have a fixed place; the registry already asks it for
an approval through ``apps.registry.hooks.register_approval_provider``."""
