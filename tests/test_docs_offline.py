"""/docs (Swagger UI) and /redoc work offline: their scripts, styles and icon are served locally.

FastAPI's default pages load Swagger UI and ReDoc from a CDN (and ReDoc's fonts from Google),
so they are blank without internet access. The first test reads the HTML without a browser;
the others render both pages in headless Chromium that can reach nothing but the server, and
skip where Debian's chromium or playwright is missing (never ``playwright install``).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from browsers import CHROMIUM, FLAGS
from genrelab.service import ServiceSettings, background_server, create_app

CDN_MARKERS = ("https://cdn", "unpkg", "jsdelivr", "fonts.googleapis", "fonts.gstatic")
#: URLs in the pages' HTML: tag attributes, and Swagger UI's ``url: '/openapi.json'``.
URL_PATTERN = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|\burl: '([^']+)'""")
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}
#: Chromium may load only the server: any other request is refused before it leaves.
HOST = "docs.genrelab.test"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    """The real app on a loopback port."""
    settings = ServiceSettings(tmp_dir=tmp_path_factory.mktemp("docs-tmp"), warm_up=False)
    with background_server(create_app(tiny_bundle, settings)) as url:
        yield url


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_html_references_only_local_assets(server, path):
    with httpx.Client(base_url=server, timeout=30) as client:
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert not [marker for marker in CDN_MARKERS if marker in page.text]
        urls = {a or b for a, b in URL_PATTERN.findall(page.text)}
        # The page's script, the API description, and for Swagger UI its stylesheet.
        assert {".js", ".json"} <= {Path(url).suffix for url in urls}
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["content-type"].startswith(CONTENT_TYPES[Path(url).suffix]), url
            assert len(asset.content) > 1000, url
            if Path(url).suffix in {".js", ".css"}:  # e.g. ReDoc's logo, cut from its bundle
                assert not [marker for marker in CDN_MARKERS if marker in asset.text], url


# --- headless Chromium, offline -------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    args = [
        *FLAGS,
        # A host name like a real deployment's (pages may treat localhost specially) that
        # resolves to the loopback server; every other name fails to resolve.
        f"--host-resolver-rules=MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND",
    ]
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    """A page on ``HOST`` that records every request and refuses (and lists) foreign ones."""
    origin = f"http://{HOST}:{urlsplit(server).port}"
    context = browser.new_context(base_url=origin, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors, page.requests, page.foreign = [], [], []

    def gate(route) -> None:
        url = route.request.url
        page.requests.append(url)
        if url.startswith(origin + "/"):
            route.continue_()
        else:
            page.foreign.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", gate)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("requestfailed", lambda r: page.errors.append(f"{r.url}: {r.failure}"))
    yield page
    context.close()


def _check_offline(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
    assert page.foreign == []
    assert page.errors == []
    assert any(url.endswith("/openapi.json") for url in page.requests)


@needs_chromium
def test_swagger_ui_renders_the_api_offline(page):
    page.goto("/docs")
    operation = page.locator(".opblock-summary-path", has_text="/v1/classify").first
    operation.wait_for(timeout=20_000)
    assert page.locator(".opblock-summary-path", has_text="/v1/spectrogram").count() == 1
    assert "genrelab" in page.inner_text(".info .title")
    page.wait_for_load_state("networkidle")
    _check_offline(page, "swagger")


@needs_chromium
def test_redoc_renders_the_api_offline(page):
    page.goto("/redoc")
    title = page.locator("h1", has_text="genrelab").first
    title.wait_for(timeout=20_000)
    assert page.get_by_text("/v1/classify").count() >= 1
    page.wait_for_load_state("networkidle")
    _check_offline(page, "redoc")
