"""The web page in headless Chromium: upload a clip and see its genre, bars, timeline, spectrogram.

Skips where Debian's chromium or playwright is missing (never ``playwright install``). The
screenshot is kept in ``artifacts/browser/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import soundfile as sf

from browsers import CHROMIUM, FLAGS
from genrelab import synth
from genrelab.service import ServiceSettings, background_server, create_app

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

ARGS = [
    *FLAGS,
    # A synthetic microphone (a beep) that needs no permission prompt, for the recorder.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    settings = ServiceSettings(tmp_dir=tmp_path_factory.mktemp("browser-tmp"), warm_up=False)
    with background_server(create_app(tiny_bundle, settings)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page whose script errors (and failed loads) are collected in ``page.errors``."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["microphone"]
    )
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    yield page
    context.close()


def test_upload_shows_the_genre(server, page, tmp_path):
    clip = tmp_path / "evening raga.wav"
    sf.write(clip, synth.song(9.0, style="classical", seed=5), 22050)
    expected = httpx.post(
        f"{server}/v1/classify", files={"file": (clip.name, clip.read_bytes())}, timeout=60
    ).json()

    page.goto(server)
    page.wait_for_function("document.getElementById('model').textContent.includes('3 genres')")
    page.set_input_files("#file", str(clip))
    page.wait_for_function("document.getElementById('genre').textContent.length > 0")
    page.wait_for_function("document.getElementById('spectrogram').naturalWidth > 0")
    page.wait_for_timeout(900)  # let the bars finish their transition
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "upload.png"), full_page=True)

    assert page.inner_text("#genre").lower() == expected["genre"] == "classical"
    assert page.inner_text("#file-name") == clip.name
    assert page.locator("#bars li").count() == 3
    assert page.locator("#timeline rect").count() == 3 * len(expected["windows"])
    assert "Done in" in page.inner_text("#status")
    assert page.errors == []
    assert (ARTIFACTS / "upload.png").read_bytes().startswith(b"\x89PNG")


def test_recording_is_classified(server, page):
    page.goto(server)
    page.click("#rec")
    page.wait_for_timeout(3000)  # the tiny model needs 2 s
    assert page.inner_text("#rec-label") == "Stop"
    page.click("#rec")
    page.wait_for_function("document.getElementById('genre').textContent.length > 0")
    assert page.inner_text("#file-name").startswith("recording.")
    assert page.inner_text("#genre").lower() in {"ambient", "classical", "rock"}
    assert page.errors == []
