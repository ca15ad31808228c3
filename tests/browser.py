"""Open pages in the system's headless Chromium and report what a reader would see broken.

Selenium drives ``/usr/bin/chromium`` through ``/usr/bin/chromedriver`` (Debian's chromium and
chromium-driver packages, installed by ``./dev.sh test``) and never downloads a browser or a
driver (``SE_OFFLINE``). Use the session fixture in tests::

    from tests.browser import browser  # noqa: F401  (a pytest fixture)

    def test_page(browser: Browser) -> None:
        check = browser.open_page("report.html")
        assert not check.console_errors

or :func:`open_page` on its own, which starts and stops a browser for one page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMEDRIVER", "CHROMIUM", "WINDOW", "Browser", "PageCheck", "browser", "open_page"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

WINDOW = (1280, 900)
"""The window pages are checked in: a laptop screen."""

_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--window-size={WINDOW[0]},{WINDOW[1]}")

# every <img> with what the browser made of it; naturalWidth is 0 for an image that failed
_IMAGES_JS = """
return Array.from(document.images).map(
  (img) => [img.alt, img.complete, img.naturalWidth, img.naturalHeight]);
"""

# every table wider than the box it sits in (it would need sideways scrolling), by its first
# header cell; and the width of the page's text column
_OVERFLOW_JS = """
const boxes = Array.from(document.querySelectorAll("table")).map((t) => t.parentElement);
return [boxes.filter((b) => b.scrollWidth > b.clientWidth + 1).map(
          (b) => b.querySelector("th") ? b.querySelector("th").textContent : "?"),
        document.querySelector("main") ? document.querySelector("main").clientWidth : 0];
"""


@dataclass
class PageCheck:
    """What the browser saw of a page."""

    images: list[tuple[str, bool, int, int]] = field(default_factory=list)
    """One ``(alt, complete, naturalWidth, naturalHeight)`` per ``<img>``, in page order."""
    console_errors: list[str] = field(default_factory=list)
    """The messages the browser logged at level SEVERE (failed loads, script errors)."""
    overflowing_tables: list[str] = field(default_factory=list)
    """Tables wider than their box at :data:`WINDOW`, by their first header."""
    column_px: int = 0
    """Width of the page's text column."""


def _missing_browser() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if not missing:
        return None
    return (f"{' and '.join(missing)} not found: the report tests open pages in headless "
            "Chromium. Run ./dev.sh test, which installs Debian's chromium and chromium-driver "
            "(or: sudo apt-get install chromium chromium-driver).")


class Browser:
    """A headless Chromium session that opens local pages one after another."""

    def __init__(self) -> None:
        problem = _missing_browser()
        if problem:
            # a missing browser is a broken test set-up, not a reason to skip the checks
            pytest.fail(problem, pytrace=False)
        os.environ["SE_OFFLINE"] = "true"  # selenium must never fetch a browser or driver
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = CHROMIUM
        for arg in _ARGS:
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver: Any = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))

    def open_page(self, path: str | Path, timeout_s: float = 20.0) -> PageCheck:
        """Load a local file, wait until it and its images have loaded, and check it.

        Parameters
        ----------
        path : str or Path
            The HTML file.
        timeout_s : float, default 20
            How long to wait for the page to finish loading.

        Returns
        -------
        PageCheck
        """
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get_log("browser")  # drop what earlier pages logged
        self.driver.get(Path(path).resolve().as_uri())
        # "complete" comes after the load event, which waits for every image to decode
        WebDriverWait(self.driver, timeout_s).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        images = [(str(a), bool(c), int(w), int(h))
                  for a, c, w, h in self.driver.execute_script(_IMAGES_JS)]
        errors = [str(e.get("message", "")) for e in self.driver.get_log("browser")
                  if e.get("level") == "SEVERE"]
        overflowing, column = self.driver.execute_script(_OVERFLOW_JS)
        return PageCheck(images=images, console_errors=errors,
                         overflowing_tables=[str(t) for t in overflowing],
                         column_px=int(column))

    def quit(self) -> None:
        """End the browser session."""
        self.driver.quit()


def open_page(path: str | Path, session: Browser | None = None) -> PageCheck:
    """Open a local HTML file in headless Chromium and report its images and console errors.

    Parameters
    ----------
    path : str or Path
        The HTML file.
    session : Browser, optional
        A running browser (the ``browser`` fixture); without one, a browser is started for
        this page and stopped after it.

    Returns
    -------
    PageCheck
    """
    if session is not None:
        return session.open_page(path)
    own = Browser()
    try:
        return own.open_page(path)
    finally:
        own.quit()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole test session (starting one takes a second)."""
    session = Browser()
    try:
        yield session
    finally:
        session.quit()
