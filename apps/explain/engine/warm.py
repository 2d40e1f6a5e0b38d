"""shap compiles its masking and averaging code with numba the first time a process explains anything: about twelve
seconds on 2 cores, which a first explanation would otherwise spend out of its budget. :func:`warm_up` compiles it
on tiny data, for models with one output and with several; workers call :func:`warm_in_background` at start.

shap's compiled functions are also told to cache what they compile on disk (numba's own cache, beside the package
or in ``NUMBA_CACHE_DIR``), so later processes of the same installation load most of it instead (about 5 s instead
of 12 here; the averaging function takes the link function as an argument, which numba cannot cache)."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

logger = logging.getLogger("maestro.explain.engine")

_warm = threading.Event()
_lock = threading.Lock()


def is_warm() -> bool:
    return _warm.is_set()


def _cache_compiled_code() -> int:
    """Turn numba's on-disk cache on for every compiled function of the shap modules loaded; answers how many.
    Where no cache folder is writable numba refuses, and they are compiled in memory as before."""
    import sys

    from numba.core.registry import CPUDispatcher

    cached = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("shap") or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and getattr(value, "_cache", None) is not None:
                try:
                    value.enable_caching()
                except Exception:  # noqa: BLE001 - no writable cache folder: compile in memory
                    logger.info("numba cannot cache %s.%s here", name, value.__name__)
                    continue
                cached += 1
    return cached


def warm_up() -> float:
    """Compile shap's numba code in this process (once; callers wait for a warm-up already under way). Answers
    the seconds this call spent."""
    if _warm.is_set():
        return 0.0
    began = time.monotonic()
    with _lock:
        if _warm.is_set():
            return time.monotonic() - began
        import shap  # noqa: F401 - loads the modules whose compiled functions are cached below

        from apps.explain.engine.common import EXACT, PERMUTATION
        from apps.explain.engine.rows import RowExplainer

        _cache_compiled_code()

        rng = np.random.default_rng(0)
        background, row = rng.random((4, 3)), rng.random(3)

        def one(matrix: np.ndarray) -> np.ndarray:
            return matrix.sum(axis=1)

        def two(matrix: np.ndarray) -> np.ndarray:
            return np.stack([matrix.sum(axis=1), matrix.prod(axis=1)], axis=1)

        for function in (one, two):
            for kind in (EXACT, PERMUTATION):
                RowExplainer(function, background, explainer=kind, permutations=1, seed=0)(row, 0)
        _warm.set()
    spent = time.monotonic() - began
    logger.info("Explanation code compiled in %.1f s", spent)
    return spent


def warm_in_background() -> threading.Thread:
    """Warm up in a daemon thread (a worker process's start must not wait for it)."""

    def run() -> None:
        try:
            warm_up()
        except Exception:  # noqa: BLE001 - a failed warm-up only means the first explanation compiles
            logger.warning("Could not warm the explanation code up", exc_info=True)

    thread = threading.Thread(target=run, name="maestro-explain-warm-up", daemon=True)
    thread.start()
    return thread
