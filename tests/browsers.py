"""Headless Chromium for the browser tests: where it is, and the flags every test launches with.

Tests that need it skip with "chromium is not installed" when it is absent (``.ci/run``
installs Debian's chromium when it can).
"""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: No background traffic, no first-run pages: a test sees only the requests it causes.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
