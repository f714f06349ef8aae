"""The "changes made" Atom feeds: every published pledge whose pledger answered done or started,
however old, the latest answer (or published story) first, with the outcome and the published
story and nothing a pledger kept private, read as a feed reader reads them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import feedparser
import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from conftest import create_pledge
from moderation.services import pledge_moderate, story_moderate
from pledges.feeds import FEED_SIZE
from pledges.models import Pledge, StoryStatus
from pledges.outcomes import pledge_outcome_record
from pledges.tests.atom import atom_entries, atom_title

pytestmark = pytest.mark.django_db


def _feed(path: str) -> tuple[bytes, Any]:
    response = Client().get(path)
    assert response.status_code == 200, path
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    return response.content, feed


def _answer(pledge: Pledge, outcome: str, *, at: Any, story: str = "", public: bool = True) -> Any:
    return pledge_outcome_record(
        pledge=pledge, outcome=outcome, story_text=story, story_public=public, now=at
    ).story


def test_an_answer_given_to_an_old_pledge_reaches_the_changes_feed_the_latest_change_first(
    campaign: Campaign, organiser: Any
) -> None:
    oldest = create_pledge(campaign, 0, sectors=["nhs", "housing"])
    second, third, fourth = (create_pledge(campaign, n) for n in range(1, 4))
    for n in range(4, FEED_SIZE + 3):
        create_pledge(campaign, n)
    now = timezone.now()
    hour = timedelta(hours=1)
    _answer(oldest, "done", at=now + hour, story="The ward now keeps a carers' hour every week.")
    _answer(second, "started", at=now + 2 * hour)
    # A story with a link waits for an organiser; published later, it is the latest change.
    waiting = _answer(third, "done", at=now + hour / 2, story="Our rota is at rota.example.org now.")
    assert waiting.status == StoryStatus.PENDING
    story_moderate(story_ids=[waiting.pk], action="publish", actor=organiser, now=now + timedelta(hours=3))
    _answer(fourth, "not-yet", at=now + timedelta(hours=4))

    # The newest-pledges feed carries the 50 newest: the oldest pledges' answers never reach it.
    newest = atom_entries(Client().get(f"/campaigns/{campaign.slug}/feed/").content)
    assert len(newest) == FEED_SIZE
    assert f"changeday:pledge:{oldest.public_id}" not in {entry.id for entry in newest}

    body, feed = _feed(f"/campaigns/{campaign.slug}/feed/changes/")
    assert feed.feed.title == "Change Day 2027: changes made"
    entries = atom_entries(body)
    assert [entry.id for entry in entries] == [
        f"changeday:change:{third.public_id}",
        f"changeday:change:{second.public_id}",
        f"changeday:change:{oldest.public_id}",
    ]
    # <updated> as written in the XML: the story's publication, else the answer's time.
    assert [entry.updated_at for entry in entries] == [
        now + timedelta(hours=3),
        now + timedelta(hours=2),
        now + timedelta(hours=1),
    ]
    third_entry, second_entry, oldest_entry = entries
    assert third_entry.title == f"Done: I pledge to {third.text}"
    assert "Outcome: Done." in third_entry.summary
    assert "What changed: Our rota is at rota.example.org now." in third_entry.summary
    assert second_entry.title == f"Started: I pledge to {second.text}"
    assert "What changed" not in second_entry.summary
    assert "What changed: The ward now keeps a carers' hour every week." in oldest_entry.summary
    # The sectors are categories, as in the pledges feed, and so is the outcome.
    assert sorted(oldest_entry.categories) == ["housing", "nhs", "outcome:done"]
    assert sorted(second_entry.categories) == ["nhs", "outcome:started"]
    assert [entry.link for entry in feed.entries][-1].endswith(f"/pledges/{oldest.public_id}/")


def test_a_private_waiting_or_rejected_story_and_any_email_stay_out_of_the_changes_feed(
    campaign: Campaign, organiser: Any
) -> None:
    now = timezone.now()
    private, waiting, rejected, hidden, emailed = (
        create_pledge(campaign, n, email=f"pledger{n}@example.org") for n in range(5)
    )
    _answer(private, "done", at=now, story="PRIVATE-STORY only the organisers may read this.", public=False)
    _answer(waiting, "done", at=now, story="WAITING-STORY see https://example.net for the details.")
    for pledge, word in ((rejected, "REJECTED"), (hidden, "HIDDEN")):
        story = _answer(pledge, "started", at=now, story=f"{word}-STORY an organiser looked at this one.")
        action = "reject" if word == "REJECTED" else "hide"
        story_moderate(story_ids=[story.pk], action=action, actor=organiser, reason_code="other")
    # Screening holds a story with an address in it; even once an organiser lets it through,
    # the address is not in the feed.
    held = _answer(emailed, "done", at=now, story="Ask me how: write to sam.story@example.org any time.")
    assert held.status == StoryStatus.PENDING
    body, feed = _feed(f"/campaigns/{campaign.slug}/feed/changes/")
    assert b"sam.story" not in body
    story_moderate(story_ids=[held.pk], action="publish", actor=organiser)

    body, feed = _feed(f"/campaigns/{campaign.slug}/feed/changes/")

    assert len(feed.entries) == 5, "every answer is an entry; only the stories are kept out"
    for secret in (b"PRIVATE-STORY", b"WAITING-STORY", b"REJECTED-STORY", b"HIDDEN-STORY"):
        assert secret not in body
    assert b"sam.story" not in body and b"example.org" not in body
    [told] = [entry for entry in feed.entries if entry.id == f"changeday:change:{emailed.public_id}"]
    assert "What changed: Ask me how: write to [email address removed] any time." in told.summary
    assert all("email" not in entry.get("author_detail", {}) for entry in feed.entries)


def test_not_yet_didnt_work_and_unpublished_pledges_are_not_changes(
    campaign: Campaign, organiser: Any
) -> None:
    now = timezone.now()
    kept, not_yet, didnt, hidden = (create_pledge(campaign, n) for n in range(4))
    _answer(kept, "done", at=now)
    _answer(not_yet, "not-yet", at=now)
    _answer(didnt, "didnt-work", at=now)
    _answer(hidden, "done", at=now)
    pledge_moderate(pledge_ids=[hidden.pk], action="hide", actor=organiser)

    body, _ = _feed(f"/campaigns/{campaign.slug}/feed/changes/")

    assert [entry.id for entry in atom_entries(body)] == [f"changeday:change:{kept.public_id}"]


def test_a_sectors_changes_feed_holds_that_sectors_changes_under_its_label(campaign: Campaign) -> None:
    now = timezone.now()
    care = create_pledge(campaign, 1, sectors=["social-care", "nhs"])
    nhs = create_pledge(campaign, 2, sectors=["nhs"])
    for pledge in (care, nhs):
        _answer(pledge, "done", at=now)

    body, feed = _feed(f"/campaigns/{campaign.slug}/feed/social-care/changes/")

    assert atom_title(body) == "Change Day 2027: Social care changes made"
    assert [entry.id for entry in atom_entries(body)] == [f"changeday:change:{care.public_id}"]
    assert feed.feed.link.endswith(f"/campaigns/{campaign.slug}/wall/?sector=social-care&outcome=changes")
    assert Client().get(f"/campaigns/{campaign.slug}/feed/moon/changes/").status_code == 404
    assert Client().get("/campaigns/no-such-campaign/feed/changes/").status_code == 404
