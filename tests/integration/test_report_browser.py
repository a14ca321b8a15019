"""The reports in a real browser: headless Debian Chromium, offline, driven by Playwright.

Why Playwright: it speaks the DevTools protocol for us, reports every request the page makes (and lets
us refuse them), and screenshots one element by selector. Its Python package drives the system's
/usr/bin/chromium through `executable_path`; `playwright install` (which downloads a browser build)
is never needed.

Network: the browser is started with background networking, component updates and sync off and a
proxy that points at a closed loopback port, and every request is routed through a handler that
aborts anything that is not the report file itself. The test fails if the page asked for anything.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from planner.report import write_plan_report, write_upload_report
from helpers.report_samples import manifest, plan_data, upload_data

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--no-sandbox",  # tests may run as root (containers, CI); the page is our own file
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--proxy-server=127.0.0.1:9",  # anything that slips past the router goes nowhere
    "--proxy-bypass-list=<-loopback>",
]


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(path).exists():
            return path
    pytest.fail("The report's browser test needs Chromium: install it with `sudo apt-get install chromium` "
                "(Debian/Ubuntu) or run `make browser` as root.", pytrace=False)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    exe = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The report's browser test needs the Playwright Python package: "
                    "run `.venv/bin/pip install -e '.[test]'` (no `playwright install` needed).", pytrace=False)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=exe, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1000, "height": 900}, device_scale_factor=1, service_workers="block")
        try:
            yield context
        finally:
            context.close()


class Visit:
    """Load a file in a fresh page, recording every request and console complaint."""

    def __init__(self, context, path: Path, *, width: int = 1000) -> None:
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.seen: list[str] = []  # as the page's own request events report them
        self.console: list[str] = []
        self.page = context.new_page()
        self.page.set_viewport_size({"width": width, "height": 900})
        target = path.resolve().as_uri()

        def route(r):
            self.requests.append(r.request.url)
            if r.request.url == target:
                r.continue_()
            else:
                self.refused.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("request", lambda req: self.seen.append(req.url))
        self.page.goto(target, wait_until="load")
        self.target = target

    def close(self) -> None:
        self.page.close()


def ink(png: bytes) -> tuple[float, int]:
    """(share of pixels that are not background white, number of distinct colours) of a screenshot."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    small = img.resize((max(1, img.width // 2), max(1, img.height // 2)))
    raw = small.tobytes()
    pixels = [raw[i:i + 3] for i in range(0, len(raw), 3)]
    inked = sum(1 for r, g, b in pixels if min(r, g, b) < 235)
    return inked / len(pixels), len(set(pixels))


def check_chart(visit: Visit, selector: str, out: Path) -> None:
    el = visit.page.locator(f"{selector} svg")
    assert el.count() == 1, f"{selector}: no inline SVG"
    box = el.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 120, f"{selector} is drawn too small: {box}"
    png = el.screenshot(path=str(out))
    share, colours = ink(png)
    assert share > 0.03, f"{selector} looks blank ({share:.1%} of it has ink)"
    assert colours > 8, f"{selector} has only {colours} colours"


def test_upload_report_renders_offline(browser, tmp_path: Path) -> None:
    files = write_upload_report(upload_data("failed"), tmp_path / "report.html", manifest(20, 3, 5))
    visit = Visit(browser, files.html)
    try:
        for chart in ("#throughput-chart", "#progress-chart"):
            check_chart(visit, chart, tmp_path / f"{chart[1:]}.png")
        visit.page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert visit.page.title().startswith("mdplan upload report: acct/cams/2024")
        assert "30,250 files" in visit.page.inner_text("#status")
        assert visit.requests == visit.seen == [visit.target], f"the page asked for {visit.refused}"
        assert not visit.refused
        assert not [c for c in visit.console if "error" in c.lower() or "refused" in c.lower()], visit.console
    finally:
        visit.close()


def test_upload_report_fits_a_phone(browser, tmp_path: Path) -> None:
    files = write_upload_report(upload_data("interrupted"), tmp_path / "report.html", manifest(5, 0, 5))
    visit = Visit(browser, files.html, width=390)
    try:
        overflow = visit.page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 390, f"the page is {overflow}px wide on a 390px phone"
        font = visit.page.evaluate("parseFloat(getComputedStyle(document.querySelector('#status')).fontSize)")
        assert font >= 14
        check_chart(visit, "#throughput-chart", tmp_path / "phone-throughput.png")
        visit.page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        assert not visit.refused
    finally:
        visit.close()


def test_plan_report_renders_offline(browser, tmp_path: Path) -> None:
    path = write_plan_report(plan_data(), tmp_path / "plan.html")
    visit = Visit(browser, path)
    try:
        check_chart(visit, "#crossover-chart", tmp_path / "crossover.png")
        check_chart(visit, "#sizes-chart", tmp_path / "sizes.png")
        visit.page.screenshot(path=str(tmp_path / "plan-page.png"), full_page=True)
        assert visit.page.inner_text("#recommendation").startswith("Mail a drive.")
        assert visit.requests == [visit.target] and not visit.refused
    finally:
        visit.close()


def test_a_page_that_fetches_is_caught(browser, tmp_path: Path) -> None:
    """The harness itself: a page with an external image must be seen asking for it."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="https://example.invalid/x.png"></body></html>')
    visit = Visit(browser, bad)
    try:
        assert visit.refused and visit.refused[0].startswith("https://example.invalid/")
    finally:
        visit.close()
