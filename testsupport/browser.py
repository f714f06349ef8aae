"""A headless browser for tests: Debian's chromium driven by Playwright, signing in without the
login form, screenshots kept as test artifacts and accessibility checks with axe-core."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from testsupport.artifacts import ARTIFACTS, artifact_path
from testsupport.processes import BASE_DIR

CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, headless; without the background-networking flags it keeps
# trying to reach Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing() -> str | None:
    """Why the browser cannot start, or None."""
    if shutil.which(CHROMIUM):
        return None
    return f"{CHROMIUM} is missing: install Debian's chromium package (make test does)."


@contextmanager
def chromium_running() -> Iterator[Any]:
    """A headless chromium (a Playwright Browser) until the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Browser-test helpers: accessibility checks with axe-core (pinned in package.json,
# read from node_modules, never a CDN) and screenshots kept as test artifacts.
AXE_SCRIPT = BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ARTIFACTS / "screenshots"
# What blocks people: axe's "serious" and "critical" findings fail a test.
BLOCKING_IMPACTS = ("serious", "critical")


# A phone as the browser tests hold one: the viewport of a common handset, touch, a dense screen.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


def log_in_through_the_form(page: Any, *, email: str, password: str, then: str) -> None:
    """On the login page an organiser's page sent `page` to, log in as a person does and wait
    until the browser is back at the path `then`."""
    from urllib.parse import urlsplit

    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").tap()
    # The path itself: the login page's own address ends with it too (?next=...).
    page.wait_for_url(lambda url: urlsplit(url).path == then)


def browser_log_in(context: Any, user: Any, base_url: str) -> None:
    """Sign `user` in to a Playwright browser context without the login form,
    with the session cookie of a test client that force_login signed in."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}])


def screenshot(page: Any, name: str) -> Path:
    path = artifact_path("screenshots", f"{name}.png")
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Any) -> list[str]:
    """The page's serious and critical axe findings, one readable line per element.

    The page's context needs bypass_csp=True: axe is injected as a script the
    site's Content-Security-Policy would rightly refuse."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    lines = []
    for violation in violations:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(
                f"{violation['impact']} {violation['id']} ({violation['help']}) at {node['target']}: "
                f"{node['html'][:160]} | {summary}"
            )
    return lines


def script_errors(page: Any, *, console: bool = False) -> list[str]:
    """The list that collects the page's uncaught script errors (and, with `console`, the
    errors it logs, such as a CSP refusal or a failed fetch) for a test to assert empty."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if console:
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors
