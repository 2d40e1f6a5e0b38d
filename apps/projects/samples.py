"""Sample datasets shipped with Maestro ML (``examples/data``): a new user trains a first model in minutes.

Each sample names its file, the column to predict and the task, so the "new job" form can be filled in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Sample:
    key: str
    title: str
    filename: str
    target: str
    task: str
    description: str

    @property
    def path(self) -> Path:
        return Path(settings.BASE_DIR) / "examples" / "data" / self.filename


SAMPLES: dict[str, Sample] = {
    sample.key: sample
    for sample in (
        Sample(
            "titanic", "Titanic passengers", "titanic.csv", "Survived", "binary", "Who survived: 1313 rows, 5 columns."
        ),
        Sample(
            "penguins",
            "Palmer penguins",
            "penguins.csv",
            "species",
            "multiclass",
            "Which species: 344 rows, 8 columns.",
        ),
        Sample("iris", "Iris flowers", "iris.csv", "species", "multiclass", "Which species: 150 rows, 5 columns."),
        Sample(
            "boston", "Boston housing", "boston.csv", "medv", "regression", "Median home value: 506 rows, 14 columns."
        ),
    )
}
