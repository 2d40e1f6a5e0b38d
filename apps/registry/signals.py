"""Events the registry sends to the apps above it (governance, explain), after the change has committed.

- ``model_version_registered``: ``sender=ModelVersion, version_id=...`` — a new version exists
  (explain can make its global explanation, governance can offer it for approval).
- ``model_version_deployed``: ``sender=ModelVersion, version_id=..., deployment_id=..., action="deploy"|"rollback",
  previous_version_id=...`` — the registered model's production version changed.
"""

from django.dispatch import Signal

model_version_registered = Signal()
model_version_deployed = Signal()
