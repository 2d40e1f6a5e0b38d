"""The whole flow in a real browser (Chromium through Playwright) against a live server and a real Celery worker.

An ML engineer signs in, creates a project, adds a reviewer, uploads a CSV, starts a short job and watches its
progress reach ``succeeded``, opens the version and sees its evaluation plots decode, tries a prediction and
explains a row (SHAP and LIME side by side), then submits the version; the reviewer signs in, starts the review
and the testing, waits for the automatic checks and approves. Every page of the walk is then visited again at
390 px wide. On every page: axe-core finds no serious or critical violation, nothing is wider than the window,
and the page-load time (Navigation Timing) is recorded; screenshots of every step go to
``var/test-artifacts/screenshots/`` and the timings to ``var/test-artifacts/page-timings.json`` (read by
``tests/performance/bench_pages.py``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from apps.explain.models import Explanation
from apps.governance.models import ApprovalRequest
from apps.projects.models import Dataset, Project
from apps.registry.models import ModelVersion
from tests.accounts.factories import PASSWORD, UserFactory
from tests.conftest import EXAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WIDE, NARROW = 1280, 390
BLOCKING_IMPACTS = ("serious", "critical")
ROW = {"Name": "Allen, Miss Elisabeth Walton", "PClass": "1st", "Age": 29, "Sex": "female"}
AXE = Axe()
STARTED = time.monotonic()
# Generous waits for the worker's steps and the first model load: the shared CI machine can be slow. The walk
# takes about a minute on an idle machine.
SLOW_MS = 240_000


@dataclass
class Walk:
    """What the walk saw: one entry per page visit (name, width, url, load seconds) and its screenshots."""

    folder: Path
    visits: list[dict] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)  # name -> path, for the narrow pass

    def shot(self, page: Page, name: str) -> None:
        width = page.viewport_size["width"]
        path = self.folder / "screenshots" / f"{len(self.screenshots) + 1:02d}-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        self.screenshots.append(path.name)

    def check(self, page: Page, name: str, *, remember: bool = True) -> None:
        """The page just loaded: record its load time, check accessibility and width, take a screenshot."""
        print(f"[{time.monotonic() - STARTED:7.1f} s] {name} at {page.viewport_size['width']} px", flush=True)
        page.wait_for_load_state("load")
        timing = page.evaluate(
            """() => { const t = performance.getEntriesByType("navigation")[0];
                       return { load: t.loadEventEnd - t.startTime, dom: t.domContentLoadedEventEnd - t.startTime,
                                ttfb: t.responseStart - t.startTime }; }"""
        )
        width = page.viewport_size["width"]
        self.visits.append(
            {
                "page": name,
                "width": width,
                "path": re.sub(r"^https?://[^/]+", "", page.url),
                "load_s": round(timing["load"] / 1000, 3),
                "dom_s": round(timing["dom"] / 1000, 3),
                "ttfb_s": round(timing["ttfb"] / 1000, 3),
            }
        )
        if remember:
            self.pages[name] = re.sub(r"^https?://[^/]+", "", page.url).split("#")[0]
        assert page.title().endswith("· Maestro ML"), page.title()
        results = AXE.run(page)
        blocking = [
            f"{violation['id']} ({violation['impact']}): {violation['help']} — "
            + "; ".join(node["target"][0] for node in violation["nodes"][:3])
            for violation in results.response["violations"]
            if violation["impact"] in BLOCKING_IMPACTS
        ]
        assert not blocking, f"{name} at {width} px: " + " | ".join(blocking)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} at {width} px is {overflow} px wider than the window"
        self.shot(page, name)


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/?next=/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def images_decoded(page: Page, selector: str) -> list[int]:
    """naturalWidth of every image ``selector`` matches, once each has finished loading (0 = did not decode)."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete)", arg=selector, timeout=20_000
    )
    return page.eval_on_selector_all(selector, "images => images.map(i => i.naturalWidth)")


def test_the_whole_flow_in_a_browser(celery_worker, live_server, browser, artifacts, settings):
    settings.AUTOML_HYPERPARAMETERS = {"GBM": {}}  # one model family: recorded on the job, the worker honours it
    base = live_server.url
    UserFactory(username="eve", roles=["ml_engineer"])
    UserFactory(username="rita", roles=["reviewer"])
    walk = Walk(folder=artifacts)
    for old in (artifacts / "screenshots").glob("*.png"):
        old.unlink()

    engineer = browser.new_context(viewport={"width": WIDE, "height": 900})
    engineer.on("dialog", lambda dialog: dialog.accept())
    page = engineer.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    # Sign in: the dashboard guides a user without a project.
    page.goto(f"{base}/accounts/login/")
    walk.check(page, "sign-in")
    sign_in(page, base, "eve")
    expect(page.get_by_role("heading", name="Your first model in a few minutes")).to_be_visible()
    walk.check(page, "dashboard-empty")

    # Create a project, add the reviewer, upload a CSV.
    page.get_by_label("Name").fill("Titanic survival")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    project = Project.objects.get(name="Titanic survival")
    page.locator("#id_username").fill("rita")
    page.locator("#id_role").select_option("viewer")
    page.get_by_role("button", name="Save member").click()
    expect(page.get_by_text("rita is now viewer.")).to_be_visible()
    page.locator("#id_name").fill("titanic")
    page.locator("#id_file").set_input_files(str(EXAMPLES / "titanic.csv"))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/datasets/\d+/$"))
    walk.check(page, "dataset")
    dataset = Dataset.objects.get(project=project)
    assert page.locator("figure svg.chart").count() >= dataset.n_columns  # a chart per column
    page.goto(f"{base}/projects/{project.pk}/")
    walk.check(page, "project")

    # Train from the dataset page; watch the progress until the job succeeds.
    page.goto(f"{base}/datasets/{dataset.pk}/")
    page.get_by_role("link", name="Train a model on this dataset").click()
    page.wait_for_url(re.compile(r"/automl/\?dataset="))
    walk.check(page, "new-job")
    page.get_by_label("Target column").fill("Survived")
    page.get_by_label("Task type").select_option("binary")
    page.get_by_label("Time budget (seconds)").fill("10")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/automl/jobs/\d+/$"))
    walk.check(page, "job-queued")
    seen_progress = set()
    deadline = time.monotonic() + SLOW_MS / 1000
    while time.monotonic() < deadline:
        status = page.locator(".js-status").first.text_content(timeout=10_000).strip()
        seen_progress.add(float(page.locator(".js-progress").first.get_attribute("value") or 0))
        if status in ("succeeded", "failed", "cancelled"):
            break
        page.wait_for_timeout(500)
    assert status == "succeeded", page.locator(".js-error").text_content()
    page.wait_for_load_state("load")  # the script reloads the page once the job has ended
    expect(page.get_by_role("link", name="Open the registered model version")).to_be_visible(timeout=15_000)
    assert max(seen_progress) > 0 and len(seen_progress) >= 2, seen_progress  # progress moved while it ran
    walk.check(page, "job-succeeded")
    assert page.locator("figure.leaderboard-chart svg").count() == 1

    # The version: evaluation plots decode; a prediction; one row explained by SHAP and LIME.
    page.get_by_role("link", name="Open the registered model version").click()
    page.wait_for_url(re.compile(r"/registry/versions/\d+/$"))
    walk.check(page, "version")
    version = ModelVersion.objects.get(registered_model__project=project)
    widths = images_decoded(page, "img.js-evaluation-plot")
    assert len(widths) == 3 and all(width > 0 for width in widths), widths
    page.get_by_role("link", name="Try a prediction").click()
    page.locator("#instances").fill(json.dumps([ROW]))
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.locator(".js-predict-result")).to_contain_text("predictions", timeout=SLOW_MS)
    walk.shot(page, "prediction")
    print(f"[{time.monotonic() - STARTED:7.1f} s] predicted", flush=True)
    page.get_by_role("link", name="Explain", exact=True).click()
    page.locator("#explain-row").fill(json.dumps(ROW))
    page.get_by_role("button", name="Explain this row").click()
    expect(page.locator(".js-explain-shap")).to_be_visible(timeout=SLOW_MS)
    expect(page.locator(".js-explain-lime")).to_be_visible()
    widths = images_decoded(page, ".js-explain-shap img, .js-explain-lime img")
    assert len(widths) == 2 and all(width > 0 for width in widths), widths
    walk.shot(page, "explanation")
    print(f"[{time.monotonic() - STARTED:7.1f} s] explained", flush=True)

    # Submit for approval.
    page.get_by_role("link", name="Submit for approval").click()
    page.get_by_label("Note for the reviewers").fill("Ready for review")
    page.get_by_role("button", name=f"Submit v{version.version} for approval").click()
    expect(page.get_by_text("This version has not been submitted")).to_have_count(0)
    walk.check(page, "version-submitted")
    page.goto(f"{base}/projects/{project.pk}/models/")
    walk.check(page, "models")
    page.goto(f"{base}/registry/models/{version.registered_model_id}/")
    walk.check(page, "registered-model")
    page.goto(f"{base}/")
    walk.check(page, "dashboard")
    assert not [error for error in errors if "Content Security Policy" in error], errors

    # The reviewer: review, testing (checks on the worker), approve.
    reviewer = browser.new_context(viewport={"width": WIDE, "height": 900})
    reviewer.on("dialog", lambda dialog: dialog.accept())
    review = reviewer.new_page()
    sign_in(review, base, "rita")
    expect(review.get_by_role("heading", name="Approvals waiting for you")).to_be_visible()
    review.get_by_role("link", name=f"{version.registered_model.name} v{version.version}").first.click()
    review.wait_for_url(re.compile(r"/approvals/\d+/$"))
    walk.check(review, "approval-submitted")
    review.get_by_role("button", name="Start review").click()
    # Testing checks that a global explanation exists: the one queued at registration, on the worker.
    deadline = time.monotonic() + SLOW_MS / 1000
    explained = Explanation.objects.filter(model_version=version, method="shap_global", status="succeeded")
    while not explained.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    review.get_by_role("button", name="Start testing").click()
    deadline = time.monotonic() + SLOW_MS / 1000
    while not review.get_by_role("button", name="Approve", exact=True).count() and time.monotonic() < deadline:
        review.wait_for_timeout(1000)
        review.reload()
    approval = ApprovalRequest.objects.get(model_version=version)
    assert approval.checks_status == "passed", [check for check in approval.checks if check["status"] != "passed"]
    review.get_by_role("button", name="Approve", exact=True).click()
    expect(review.locator("h1 .status")).to_have_text("approved")
    walk.check(review, "approval-approved")
    review.goto(f"{base}/approvals/")
    walk.check(review, "approvals")
    review.goto(f"{base}/notifications/")
    walk.check(review, "notifications")

    # Every page of the walk again at 390 px.
    narrow = browser.new_context(viewport={"width": NARROW, "height": 844}, is_mobile=True, has_touch=True)
    small = narrow.new_page()
    sign_in(small, base, "eve")
    for name, path in list(walk.pages.items()):
        if name == "sign-in":  # signed in, it would only redirect
            continue
        small.goto(f"{base}{path}")
        walk.check(small, name, remember=False)
    for context in (engineer, reviewer, narrow):
        context.close()

    report = artifacts / "page-timings.json"
    report.write_text(json.dumps({"visits": walk.visits, "screenshots": walk.screenshots}, indent=1))
    print("\nPage-load times (Navigation Timing, load event):")
    for visit in walk.visits:
        print(f"  {visit['page']:<22} {visit['width']:>5} px  {visit['load_s']:6.3f} s  {visit['path']}")
    print(f"{len(walk.screenshots)} screenshots in {artifacts / 'screenshots'}")
