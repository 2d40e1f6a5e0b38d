"""The training runner fits what its spec says, in process, on a tiny sample."""

import pandas as pd
from autogluon.tabular import TabularPredictor

from apps.automl import runner
from tests.conftest import EXAMPLES


def test_excluded_model_families_are_never_attempted(tmp_path):
    frame = pd.read_csv(EXAMPLES / "iris.csv")
    frame.iloc[::5].to_parquet(tmp_path / runner.TEST_FILE)
    frame.drop(frame.index[::5]).to_parquet(tmp_path / runner.TRAIN_FILE)
    spec = {
        "label": "species",
        "problem_type": "multiclass",
        "presets": "medium_quality",
        "time_limit": 30,
        "num_cpus": 1,
        "hyperparameters": {"LR": {}, "NN_TORCH": {}},
        "excluded_model_types": ["NN_TORCH", "FASTAI"],
        "verbosity": 0,
    }
    result = runner.fit(tmp_path, spec)
    predictor = TabularPredictor.load(str(tmp_path / runner.PREDICTOR_DIR), verbosity=0)
    assert any(name.startswith("LinearModel") for name in predictor.model_names())
    assert predictor.model_failures().empty, "an excluded family was attempted"
    # The held-out evaluation the version page draws is computed in the same run.
    evaluation = result["evaluation"]
    assert evaluation["kind"] == "classification" and evaluation["n_rows"] == 30
    assert sorted(evaluation["labels"]) == ["setosa", "versicolor", "virginica"]
    assert sum(map(sum, evaluation["confusion_matrix"])) == 30
    assert [curve["label"] for curve in evaluation["curves"]] == evaluation["labels"]
