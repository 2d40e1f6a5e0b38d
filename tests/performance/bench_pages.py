"""Page-load time of every page of the browser walk against the roadmap's goal of 2 s.

Runs ``tests/pages/test_browser_walk.py`` (Playwright driving Debian's Chromium against a live server and a
real Celery worker: sign in, project, upload, train, evaluation, prediction, explanation, approval, then every
page again at 390 px) and reads the Navigation Timing it recorded for each page: time to first byte, DOM
content loaded and the load event (everything the page needs, images and scripts included), in seconds.

Goal: every page's load event within 2 s. Exit code 1 when one is missed or the walk fails.
Run: ``python tests/performance/bench_pages.py`` (``make bench`` runs every ``bench_*.py``); it needs the same
services as the test suite (the configured database and broker).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMINGS = ROOT / "var" / "test-artifacts" / "page-timings.json"
GOAL_S = 2.0


def main() -> int:
    TIMINGS.unlink(missing_ok=True)
    walk = subprocess.run(  # noqa: S603 - this interpreter running our own test
        [sys.executable, "-m", "pytest", "tests/pages/test_browser_walk.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        check=False,
    )
    if walk.returncode != 0 or not TIMINGS.exists():
        print(walk.stdout[-4000:], walk.stderr[-2000:])
        print("The browser walk failed; no page-load times.")
        return 1
    visits = json.loads(TIMINGS.read_text())["visits"]
    print(f"{'page':<22} {'width':>6} {'first byte s':>13} {'DOM ready s':>12} {'load s':>8}  goal {GOAL_S:.0f} s")
    missed = 0
    for visit in visits:
        ok = visit["load_s"] <= GOAL_S
        missed += not ok
        print(
            f"{visit['page']:<22} {visit['width']:>6} {visit['ttfb_s']:>13.3f} {visit['dom_s']:>12.3f} "
            f"{visit['load_s']:>8.3f}  {'met' if ok else 'MISSED'}"
        )
    loads = [visit["load_s"] for visit in visits]
    print(
        f"\n{len(visits)} page loads: median {statistics.median(loads):.3f} s, max {max(loads):.3f} s; "
        f"{len(visits) - missed} within {GOAL_S:.0f} s, {missed} over. Load average: {os.getloadavg()[0]:.1f}."
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
