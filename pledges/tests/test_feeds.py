"""The Atom feeds, read as a feed reader reads them: whatever a pledger types
comes out as the text they typed, never as markup a reader would render."""

from __future__ import annotations

import urllib.request
from typing import Any

import feedparser
import pytest

from conftest import create_pledge
from moderation.services import pledge_moderate
from pledges.models import Status

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "change-day-2027"
# Each part tries a different way into a reader's HTML: raw tags, an event
# handler, a link, markup already entity-escaped once (which a reader would
# unescape into tags if we sent it as HTML), and a CDATA section closed and
# reopened around a script.
TEXT = (
    "listen <script>alert('feed')</script> to <img src=x onerror=alert(1)> every "
    '<a href="https://evil.example">carer</a> &lt;b&gt;first&lt;/b&gt; '
    "]]><script>alert(2)</script><![CDATA[ <b>daily</b>"
)
DISPLAY_NAME = '<img src=x onerror=alert(3)>Sam <a href="https://evil.example">Patel</a>'
ROLE = "<script>alert(4)</script>Staff nurse &lt;i&gt;"
ORGANISATION = ']]><a href="https://evil.example">Leeds</a><![CDATA[ &lt;script&gt;'
EMAIL = "sam.feed@example.org"


def read_feed(url: str) -> tuple[bytes, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/atom+xml")
        body = response.read()
    return body, feedparser.parse(body)


def test_feeds_carry_a_hostile_pledge_as_the_literal_text_typed_never_as_markup(
    campaign: Any, organiser: Any, live_server: Any
) -> None:
    pledge = create_pledge(
        campaign, 1, text=TEXT, display_name=DISPLAY_NAME, role=ROLE, organisation=ORGANISATION, email=EMAIL
    )
    # Screening holds a pledge with a link in it; an organiser lets it through.
    if pledge.status != Status.PUBLISHED:
        pledge_moderate(pledge_ids=[pledge.pk], action="publish", actor=organiser)

    for path in (f"/campaigns/{SLUG}/feed/", f"/campaigns/{SLUG}/feed/nhs/"):
        body, feed = read_feed(f"{live_server.url}{path}")
        assert not feed.bozo, feed.get("bozo_exception")
        [entry] = feed.entries

        assert entry.title_detail.type == "text/plain"
        assert entry.title == f"I pledge to {TEXT[:120]}"
        assert entry.summary_detail.type == "text/plain", "a reader would render the summary as HTML"
        assert entry.summary.startswith(f"I pledge to {TEXT}\n\n{DISPLAY_NAME}, {ROLE}, {ORGANISATION}.")
        assert "content" not in entry
        assert entry.author_detail.name == DISPLAY_NAME
        # Who pledged is public; their address never is.
        assert "email" not in entry.author_detail
        assert EMAIL.encode() not in body
        assert b"sam.feed" not in body


def test_a_pledge_with_characters_xml_cannot_carry_leaves_the_feed_readable(
    campaign: Any, live_server: Any
) -> None:
    create_pledge(campaign, 1, text="listen to\x0bevery carer\x1b on my ward", display_name="Sam\x01")
    create_pledge(campaign, 2)

    body, feed = read_feed(f"{live_server.url}/campaigns/{SLUG}/feed/")
    assert not feed.bozo, feed.get("bozo_exception")
    assert len(feed.entries) == 2
    odd = next(entry for entry in feed.entries if entry.author == "Sam\ufffd")
    assert odd.title == "I pledge to listen to\ufffdevery carer\ufffd on my ward"
