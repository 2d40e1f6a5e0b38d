"""PNG plots of real explanation results: valid images, no figure left open, the same bytes twice, and safe to
draw from several threads at once."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from apps.explain import plots
from apps.explain.engine import lime_local, sample_background, shap_global, shap_local

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(titanic, penguins):
    global_binary = shap_global(**titanic.kwargs, data=titanic.data, background_size=30, sample_size=60)
    global_multiclass = shap_global(**penguins.kwargs, data=penguins.data, background_size=20, sample_size=30)
    rows = titanic.X.iloc[[0, 1]].copy()
    rows.loc[rows.index[1], "Age"] = np.nan  # a missing value shows as "missing"
    local = shap_local(**titanic.kwargs, rows=rows, background=global_binary.background)
    local_multiclass = shap_local(
        **penguins.kwargs,
        rows=penguins.X.iloc[[0]],
        background=sample_background(penguins.X, features=penguins.features, size=20),
    )
    lime = lime_local(**titanic.kwargs, rows=rows, training_data=titanic.data, num_samples=300)
    return {
        "global": global_binary,
        "global_multiclass": global_multiclass,
        "local": local,
        "local_multiclass": local_multiclass,
        "lime": lime,
    }


PLOTS = {
    "summary": lambda r: plots.summary_png(r["global"]),
    "summary_multiclass": lambda r: plots.summary_png(r["global_multiclass"]),
    "bar": lambda r: plots.bar_png(r["global"]),
    "bar_multiclass": lambda r: plots.bar_png(r["global_multiclass"]),
    "waterfall": lambda r: plots.waterfall_png(r["local"], row=1),
    "waterfall_multiclass": lambda r: plots.waterfall_png(r["local_multiclass"]),
    "force": lambda r: plots.force_png(r["local"], row=1),
    "force_multiclass": lambda r: plots.force_png(r["local_multiclass"]),
    "lime": lambda r: plots.lime_png(r["lime"], row=1),
}


def decode(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


@pytest.mark.parametrize("name", list(PLOTS))
def test_plot_is_a_valid_png_and_closes_its_figure(name, results):
    assert plt.get_fignums() == []
    png = PLOTS[name](results)
    image = decode(png)
    assert image.format == "PNG" and image.width > 300 and image.height > 100
    assert plt.get_fignums() == []
    assert PLOTS[name](results) == png  # deterministic


def test_plots_decode_with_matplotlib_too(results):
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(plots.bar_png(results["global"])), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100


def test_plots_from_several_threads(results):
    names = ["summary", "bar", "waterfall", "force", "lime"] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(lambda name: PLOTS[name](results), names))
    for name, png in zip(names, images, strict=True):
        decode(png)
        assert png == PLOTS[name](results)
    assert plt.get_fignums() == []


def test_a_row_that_is_not_there(results):
    with pytest.raises(IndexError):
        plots.waterfall_png(results["local"], row=5)
    with pytest.raises(IndexError):
        plots.lime_png(results["lime"], row=-1)
    assert plt.get_fignums() == []
