from django.conf import settings
from django.db import models

from apps.core.models import BackgroundWork, WorkEvent, WorkStatus
from apps.explain.choices import ExplanationMethod


class Explanation(BackgroundWork):
    """One explanation of a model version: what was asked (method, parameters, rows), what produced it
    (explainer, background, budget, seed, in ``result``) and its plots in storage.

    It is its own cache entry: ``cache_key`` hashes version, archive, method, parameters and the SHA-256
    of the input rows, so a repeated request finds the row instead of recomputing. Rows go with their
    version (CASCADE), their plot files with them.
    """

    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.CASCADE, related_name="explanations")
    method = models.CharField(max_length=16, choices=ExplanationMethod.choices)
    params = models.JSONField(default=dict, blank=True, help_text="Parameters the explanation was computed with.")
    rows = models.JSONField(default=list, blank=True, help_text="The rows explained (local methods).")
    row_index = models.JSONField(default=list, blank=True, help_text="Their index in the training data, if from it.")
    input_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the input rows as JSON.")
    cache_key = models.CharField(max_length=64, db_index=True)
    result = models.JSONField(default=dict, blank=True)
    plots = models.JSONField(default=dict, blank=True, help_text="{plot name: storage name}")
    progress = models.FloatField(default=0.0)
    eta_at = models.DateTimeField(null=True, blank=True, help_text="When a running explanation expects to end.")
    elapsed_seconds = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "cache_key"],
                condition=~models.Q(status=WorkStatus.FAILED),
                name="one_live_explanation_per_cache_key",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=1), name="explanation_progress_0_1"
            ),
        ]
        indexes = [models.Index(fields=["model_version", "method", "status"], name="explanation_lookup")]

    def __str__(self) -> str:
        return f"{self.get_method_display()} of version {self.model_version_id} ({self.status})"


class ExplanationEvent(WorkEvent):
    """Append-only history of an explanation's state changes."""

    explanation = models.ForeignKey(Explanation, on_delete=models.CASCADE, related_name="events")

    def __str__(self) -> str:
        return f"explanation {self.explanation_id}: {self.from_state} → {self.to_state}"
