"""The comparison report opens cleanly in headless Chromium (skipped where it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from browsers import CHROMIUM, FLAGS
from genrelab.experiments.compare import Inputs, compare
from genrelab.experiments.report import write_results
from test_compare import write_segment_table

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    table = write_segment_table(folder / "features_3_sec.csv", tracks=6, segments=4)
    entries = compare(
        Inputs(str(table)),
        ["knn", "random_forest"],
        ["kfold-3", "random-rows-80-10-10"],
        seeds=[0, 1],
        params={"random_forest": {"n_estimators": 20}},
    )
    return write_results(entries, folder / "out", {"data": table.name})["html"]


def test_report_renders_without_console_errors(report: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")  # screenshots are for people, not for git
    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth])"
            )
            banner = page.locator(".leak").first
            assert banner.is_visible()
            colour = banner.evaluate("e => getComputedStyle(e).borderTopColor")
            rows = page.locator("tr.leaky").count()
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [report.as_uri()]  # self-contained: nothing else is fetched
    assert len(images) == 1 + 4 * 2 + 2 and all(done and width > 100 for done, width in images)
    assert colour == "rgb(200, 30, 30)"
    assert rows == 2
    assert (ARTIFACTS / "report.png").read_bytes().startswith(b"\x89PNG")
