"""In a real browser, the Content-Security-Policy blocks nothing on the main
pages (so nothing inline is left for it to block), a partner site can frame
the widget and no other page, and the honeypot stays out of sight."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conftest import create_pledge
from pledges.models import Pledge, Status
from testsupport.browser import browser_log_in
from testsupport.processes import free_port

# Runs in every document and frame before its own scripts.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  const what = event.blockedURI || "inline";
  window.__cspViolations.push(`${event.violatedDirective} blocked ${what} at ${where}`);
});
"""


class _Watch:
    """Every CSP violation event, console error and page error a page meets."""

    def __init__(self, context: Any) -> None:
        context.add_init_script(COLLECT_VIOLATIONS)
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("response", self._response)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} for {response.url}")

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def visit(self, url: str) -> list[str]:
        """What went wrong loading url: nothing, on a page that needs no exemption."""
        response = self.page.goto(url)
        if response is None or response.status != 200:
            return [f"{url} answered {response.status if response else 'nothing'}"]
        self.page.wait_for_load_state("load")
        return self.check()

    def check(self) -> list[str]:
        """The CSP violations and console or network problems of the page so far."""
        # Violation events are dispatched in a task after the blocked load.
        self.page.wait_for_timeout(150)
        return [*self.page.evaluate("window.__cspViolations"), *self.problems]


@pytest.fixture
def watch(chromium: Any) -> Iterator[_Watch]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield _Watch(context)
    finally:
        context.close()


@pytest.mark.django_db(transaction=True)
def test_the_public_pages_raise_no_csp_violations(live_server: Any, campaign: Any, watch: _Watch) -> None:
    pledges = [create_pledge(campaign, n, sectors=["nhs", "housing"][: 1 + n % 2]) for n in range(4)]
    base = f"{live_server.url}/campaigns/{campaign.slug}"
    for url in [
        f"{live_server.url}/",
        f"{base}/",
        f"{base}/wall/",
        f"{base}/wall/?sector=housing",
        f"{base}/stats/",
        f"{base}/widget/",
        f"{live_server.url}/pledges/{pledges[0].public_id}/",
        f"{live_server.url}/accounts/login/",
    ]:
        assert watch.visit(url) == [], url

    # The live counter polls and rewrites the page in place: still nothing blocked.
    assert watch.visit(f"{base}/") == []
    create_pledge(campaign, 9)
    watch.page.wait_for_function(
        "() => document.querySelector('[data-counter=\"total\"]').textContent === '5'", timeout=15_000
    )
    assert watch.check() == [], "campaign page after a live update"


@pytest.mark.django_db(transaction=True)
def test_pledging_in_the_browser_raises_no_csp_violations_and_the_honeypot_stays_hidden(
    live_server: Any, campaign: Any, watch: _Watch
) -> None:
    page = watch.page
    assert watch.visit(f"{live_server.url}/campaigns/{campaign.slug}/pledge/") == []
    honeypot = page.locator("#id_website")
    box = honeypot.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 0, f"the honeypot is on screen: {box}"
    # Out of the accessibility tree: no role or name a screen reader would announce.
    assert page.get_by_role("textbox", name="Leave this field empty").count() == 0
    page.get_by_label("I pledge to…").fill("learn and use the name of every porter on my ward")
    page.get_by_label("NHS", exact=True).check()
    page.get_by_label("Your name as it should appear").fill("Ayo Bello")
    page.get_by_label("Your role or job title").fill("Ward sister")
    page.locator("#id_region").select_option("london")
    page.get_by_label("Email address").fill("ayo@example.org")
    page.get_by_label("I agree that my pledge").check()
    # Tabbing on from the region, the field before it, never lands in the honeypot.
    page.locator("#id_region").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "email"
    page.get_by_role("button", name="Make my pledge").click()
    page.wait_for_url("**/pledge/sent/")
    assert watch.check() == [], "after pledging"
    assert Pledge.objects.filter(email="ayo@example.org").exists()


@pytest.mark.django_db(transaction=True)
def test_the_moderation_queue_raises_no_csp_violations_as_htmx_swaps_cards(
    live_site: str, pre_campaign: Any, organiser: Any, watch: _Watch
) -> None:
    for n in range(3):
        create_pledge(pre_campaign, n)
    browser_log_in(watch.page.context, organiser, live_site)
    assert watch.visit(f"{live_site}/moderation/?campaign={pre_campaign.slug}") == []
    page = watch.page
    page.wait_for_function("() => window.htmx && document.activeElement.classList.contains('mod-card')")
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    page.keyboard.press("p")
    page.wait_for_function("() => document.querySelectorAll('.mod-card').length === 2", timeout=10_000)
    page.keyboard.press("?")
    assert watch.check() == [], "moderation after a decision"
    assert Pledge.objects.filter(campaign=pre_campaign, status=Status.PUBLISHED).count() == 1


@pytest.fixture
def partner_site(live_server: Any) -> Iterator[str]:
    """A partner's page on another origin, framing our widget and our campaign page."""

    class Partner(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            slug = self.path.strip("/")
            body = (
                "<!doctype html><title>Partner</title>"
                f'<iframe id="widget" src="{live_server.url}/campaigns/{slug}/widget/"></iframe>'
                f'<iframe id="page" src="{live_server.url}/campaigns/{slug}/"></iframe>'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Partner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_partner_site_can_frame_the_widget_and_no_other_page(
    live_server: Any, campaign: Any, chromium: Any, partner_site: str
) -> None:
    create_pledge(campaign)
    page = chromium.new_page()
    page.goto(f"{partner_site}/{campaign.slug}/")
    widget = page.frame_locator("#widget")
    assert widget.locator(".count").inner_text() == "1"
    page.wait_for_load_state("load")
    framed = [frame for frame in page.frames if frame.url.startswith(live_server.url)]
    assert [frame.url for frame in framed] == [f"{live_server.url}/campaigns/{campaign.slug}/widget/"]
    # The campaign page was refused: the frame holds the browser's error page instead.
    assert page.frame_locator("#page").get_by_text(campaign.name).count() == 0
