"""Run every ``tests/performance/bench_*.py`` in turn (``make bench``) and summarise.

Each benchmark runs as its own process with this interpreter and prints its own table; a benchmark
exits non-zero when it fails or misses a goal. ``python tests/performance/run_all.py upload automl``
runs only the benchmarks whose names contain one of the given words.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main(filters: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if filters:
        scripts = [script for script in scripts if any(word in script.stem for word in filters)]
    if not scripts:
        print("No benchmark matched.")
        return 1
    outcomes: list[tuple[str, int, float]] = []
    for script in scripts:
        print(f"\n=== {script.stem} " + "=" * max(0, 66 - len(script.stem)), flush=True)
        began = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=ROOT)
        outcomes.append((script.stem, code, time.perf_counter() - began))
    print("\n=== summary " + "=" * 58)
    for name, code, seconds in outcomes:
        print(f"{name:<30} {'ok' if code == 0 else f'FAILED (exit {code})':<20} {seconds:8.1f} s")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
