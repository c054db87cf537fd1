"""Headless Chromium for the browser tests (the HTML report's viewer, `sftscope serve`).

Debian's chromium-headless-shell, driven by Playwright's Python package with
`executable_path` (never `playwright install`). Without it a browser test is skipped,
saying how to install it, except under CI (env CI set), where it fails: `.ci/run` installs
the browser, so a missing one there is a broken build. No browser test can pass without a
browser having run (SFTSCOPE_CHROMIUM=/nonexistent shows the skips).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

BROWSERS = ("/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell")
INSTALL = "apt-get install -y chromium-headless-shell (and pip install playwright, the dev extra)"


def find_browser() -> str | None:
    """SFTSCOPE_CHROMIUM names another Chromium (a path that does not exist: none)."""
    given = os.environ.get("SFTSCOPE_CHROMIUM")
    if given is not None:
        return given if Path(given).exists() else None
    found = shutil.which("chromium-headless-shell")
    return found or next((b for b in BROWSERS if Path(b).exists()), None)


def no_browser(why: str) -> None:
    """Skip (fail under CI) the test that needed a browser, saying how to install one."""
    if os.environ.get("CI"):
        pytest.fail(f"CI without a browser ({why}): {INSTALL}")
    pytest.skip(f"{why}: {INSTALL}")


@contextmanager
def chromium(purpose: str) -> Iterator[Any]:
    """A launched headless Chromium (Playwright's Browser), closed afterwards."""
    executable = find_browser()
    if executable is None:
        no_browser(f"no headless Chromium to {purpose}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("Playwright's Python package is missing")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            launched.close()
