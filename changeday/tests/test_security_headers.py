"""Security headers on every page: a Content-Security-Policy with no
'unsafe-inline', no framing except the partner widget, and the other headers;
templates carry no inline script, style or event handler for it to block; the
production settings keep cookies secure."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from changeday.tests.test_settings import manage, production_env
from conftest import create_pledge

TEMPLATES = Path(django_settings.BASE_DIR) / "templates"
# Emails are read in mail programs, where no CSP applies and inline styles are the only styles.
EMAIL_TEMPLATES = {"emails"}

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|<[a-z][^>]*\sstyle\s*=", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""<[a-z][^>]*\s(href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def _directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def _pages(campaign: Any) -> list[str]:
    pledge = create_pledge(campaign)
    return [
        "/",
        f"/campaigns/{campaign.slug}/",
        f"/campaigns/{campaign.slug}/pledge/",
        f"/campaigns/{campaign.slug}/wall/",
        f"/pledges/{pledge.public_id}/",
        f"/campaigns/{campaign.slug}/stats/",
        "/accounts/login/",
        "/admin/login/",
        "/api/v1/campaigns/",
        "/no-such-page/",
    ]


def _inline_code(html: str) -> list[str]:
    found = []
    for pattern in (INLINE_SCRIPT, INLINE_STYLE, EVENT_HANDLER, JS_URL):
        found += [match.group(0) for match in pattern.finditer(html)]
    return found


def test_every_page_has_a_strict_content_security_policy_and_the_other_headers(
    client: Client, campaign: Any
) -> None:
    for url in _pages(campaign):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        csp = _directives(response["Content-Security-Policy"])
        assert "unsafe-inline" not in response["Content-Security-Policy"], url
        assert "unsafe-eval" not in response["Content-Security-Policy"], url
        assert csp["default-src"] == "'self'"
        assert csp["script-src"] == "'self'"
        assert csp["style-src"] == "'self'"
        assert csp["object-src"] == "'none'"
        assert csp["base-uri"] == "'none'"
        assert csp["frame-ancestors"] == "'none'", url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "camera=()" in response["Permissions-Policy"]
        assert "geolocation=()" in response["Permissions-Policy"]


def test_the_widget_alone_may_be_framed_by_partner_sites(client: Client, campaign: Any) -> None:
    response = client.get(f"/campaigns/{campaign.slug}/widget/?sector=nhs")
    assert response.status_code == 200
    csp = _directives(response["Content-Security-Policy"])
    assert csp["frame-ancestors"] == "*"
    assert "X-Frame-Options" not in response
    # Everything else about its policy is as strict as anywhere.
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_templates_have_no_inline_scripts_styles_or_event_handlers() -> None:
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        if EMAIL_TEMPLATES & set(path.relative_to(TEMPLATES).parts):
            continue
        offenders += [f"{path.relative_to(TEMPLATES)}: {code}" for code in _inline_code(path.read_text())]
    assert offenders == []


def test_pages_as_served_have_no_inline_scripts_styles_or_event_handlers(
    client: Client, campaign: Any, organiser: Any
) -> None:
    """What crispy-forms and the admin write counts too, not only our templates."""
    urls = _pages(campaign)
    client.force_login(organiser)
    urls += ["/moderation/", f"/campaigns/{campaign.slug}/widget/"]
    for url in urls:
        response = client.get(url)
        if response["Content-Type"].startswith("text/html"):
            assert _inline_code(response.content.decode()) == [], url


def test_the_inline_code_checks_catch_what_they_look_for() -> None:
    assert _inline_code('<script>alert(1)</script><script src="/a.js"></script>') == ["<script>"]
    assert _inline_code('<p class="x" style="color:red">') == ['<p class="x" style=']
    assert _inline_code("<style>p{}</style>") == ["<style"]
    assert len(_inline_code('<button type="button" onclick="go()">')) == 1
    assert len(_inline_code('<a href="javascript:go()">')) == 1
    assert _inline_code('<p data-one="pledge">only words: style = onclick= </p>') == []
    # The embed snippet is text for partners' pages, escaped, not markup here.
    assert _inline_code('<textarea>&lt;iframe style="border:0"&gt;</textarea>') == []


def _production_setting(code: str, **extra: str) -> Any:
    result = manage(
        "shell",
        "-c",
        f"import json; from django.conf import settings; print(json.dumps({code}))",
        env=production_env(**extra),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_cookies_are_secure_and_the_session_cookie_is_http_only() -> None:
    values = _production_setting(
        "[settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, settings.CSRF_COOKIE_SECURE,"
        " settings.SESSION_COOKIE_SAMESITE, settings.SECURE_HSTS_SECONDS, settings.SECURE_SSL_REDIRECT]"
    )
    assert values == [True, True, True, "Lax", 31_536_000, True]


@pytest.mark.django_db
def test_a_login_sets_secure_http_only_cookies_when_cookies_are_secure(
    client: Client, organiser: Any, settings: Any
) -> None:
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client.get("/accounts/login/")
    assert client.cookies[settings.CSRF_COOKIE_NAME]["secure"]
    client.post("/accounts/login/", {"username": "organiser@example.org", "password": "pw-organiser-1"})
    session = client.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"]
