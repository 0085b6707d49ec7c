"""Make docs/lesson-seed.png: the lesson page of the lecture's example, mid-backward.

    python docs/lesson_screenshot.py   (needs Debian's chromium and the dev extra)

Writes the page with `backprop graph`, opens it in headless chromium through
Playwright, presses → six times (four forward steps, two backward) and takes a
screenshot.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from backprop.cli import main

HERE = Path(__file__).resolve().parent


def shoot(out: Path, steps: int = 6) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium on the PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "lesson.html"
        if main(["graph", "2/sin(exp(-x))", "--at", "-4.499", "-o", str(page_path)]) != 0:
            sys.exit("backprop graph failed")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            page = browser.new_page(viewport={"width": 1280, "height": 600})
            page.goto(page_path.as_uri())
            for _ in range(steps):
                page.keyboard.press("ArrowRight")
            page.screenshot(path=str(out))
            browser.close()


if __name__ == "__main__":
    shoot(HERE / "lesson-seed.png")
