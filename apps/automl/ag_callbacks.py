"""AutoGluon callbacks of the training runner process (imports AutoGluon: only the runner uses this module)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from autogluon.core.callbacks import AbstractCallback

from apps.automl.runner import write_json


class ProgressCallback(AbstractCallback):
    """Writes the best validation score so far to a JSON file after every fitted model.

    A module-level class: AutoGluon pickles its trainer, callbacks included, while fitting.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = str(path)

    def _after_model_fit(self, trainer, model_names, stack_name="core", level=1) -> bool:
        try:
            scores = {
                name: float(score)
                for name, score in trainer.get_models_attribute_dict("val_score").items()
                if score is not None and math.isfinite(float(score))
            }
            if scores:
                best = max(scores, key=scores.get)
                write_json(
                    Path(self.path),
                    {
                        "model": best,
                        "score": scores[best],
                        "metric": getattr(trainer.eval_metric, "name", ""),
                        "models_fitted": len(scores),
                        "at": time.time(),
                    },
                )
        except Exception:  # noqa: BLE001, S110 - a progress report must never break the fit
            pass
        return False
