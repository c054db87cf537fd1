"""The HTML report's viewer on large sessions: its size and its first screen in a browser.

Writes a 1,000-item and a 16,000-item session with bench/report_speed.py's writer (the
same answers, labels, judges and checks), writes each one's page with the real command,
`sftscope report DIR --format html -o FILE`, and opens it from a file:// URL in headless
Chromium (Debian's chromium-headless-shell, driven by Playwright's Python package). The
first-screen time runs from the navigation's start to the first item row drawn and
visible, the median of --runs fresh pages. Exit 1 over a limit:

- 1,000 items: at most 5 MB and at most 1.5 s to the first item row;
- 16,000 items: at most 40 MB, and the list paged (100 rows drawn, not 16,000).

    .venv/bin/python bench/report_viewer.py [--runs 3] [--browser PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report_speed import write_session  # noqa: E402 (the path above first)

LIMITS = {1_000: (5e6, 1.5), 16_000: (40e6, None)}  # items: (bytes, first-screen seconds)
PAGE = 100  # rows the viewer draws per page (tui/render/viewer.js)


def write_page(directory: Path, target: Path) -> None:
    """The real command, as a person runs it."""
    script = Path(sys.executable).with_name("sftscope")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sftscope.tui.cli"]
    command += ["report", str(directory), "--format", "html", "-o", str(target)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"sftscope report failed: {done.stderr[-1500:]}")


def first_screen(browser: object, page_file: Path, runs: int) -> tuple[list[float], int]:
    """Seconds from navigation to the first item row visible, per run; rows drawn."""
    took, rows = [], 0
    for _ in range(runs):
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        started = time.perf_counter()
        page.goto(page_file.as_uri(), wait_until="commit")
        page.wait_for_selector("#viewer-list article", state="visible", timeout=60_000)
        took.append(time.perf_counter() - started)
        rows = page.locator("#viewer-list article").count()
        page.close()
    return took, rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="fresh pages per file; the median is reported")
    parser.add_argument("--browser", default=shutil.which("chromium-headless-shell"))
    args = parser.parse_args()
    if not args.browser:
        sys.exit("no chromium-headless-shell: apt-get install -y chromium-headless-shell")
    from playwright.sync_api import sync_playwright

    ok = True
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.browser)
        for count, (max_bytes, max_seconds) in LIMITS.items():
            directory, page_file = Path(tmp) / f"s{count}", Path(tmp) / f"r{count}.html"
            write_session(directory, count)
            started = time.perf_counter()
            write_page(directory, page_file)
            wrote = time.perf_counter() - started
            size = page_file.stat().st_size
            took, rows = first_screen(browser, page_file, args.runs)
            seconds = statistics.median(took)
            good = size <= max_bytes and rows == min(PAGE, count)
            good = good and (max_seconds is None or seconds <= max_seconds)
            ok = ok and good
            limit = f"{max_bytes / 1e6:.0f} MB" + (f", {max_seconds} s" if max_seconds else "")
            print(
                f"{count} items: {size / 1e6:.2f} MB (the command {wrote:.2f} s); first item row "
                f"{seconds:.2f} s (median of {len(took)}: {', '.join(f'{t:.2f}' for t in took)}); "
                f"{rows} rows drawn; limit {limit} {'ok' if good else 'FAIL'}"
            )
        browser.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
