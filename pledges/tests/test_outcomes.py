"""How promises went, as people meet it: the follow-through page a pledger opens from
their email, and the outcome and published story on every public page, feed and API,
the live counters and the pledger's own data."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.tokens import make_token
from conftest import create_pledge
from moderation.services import pledge_moderate, story_moderate
from pledges import privacy, services
from pledges.models import Pledge, Status, Story, StoryStatus, Transition
from pledges.outcomes import OUTCOME_PURPOSE, outcome_url, pledge_outcome_record, stories_move
from pledges.selectors import campaign_totals

pytestmark = pytest.mark.django_db

STORY = "We now learn every carer's name on the first visit, and the families noticed within a week."


def _link(pledge: Pledge) -> str:
    return urlsplit(outcome_url(pledge=pledge)).path


def _answer(client: Client, pledge: Pledge, /, **data: Any) -> Any:
    return client.post(_link(pledge), {"outcome": "done", **data})


def _done_started(campaign: Campaign) -> tuple[int, int]:
    totals = campaign_totals(campaign=campaign)
    return totals.by_outcome["done"], totals.by_outcome["started"]


def _text(response: Any) -> str:
    return response.content.decode()


def _reload(pledge: Pledge) -> Pledge:
    return Pledge.objects.get(pk=pledge.pk)


# --- The follow-through page ---------------------------------------------------------------


def test_opening_the_link_shows_the_pledge_and_the_question_and_changes_nothing(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1)

    # A mail scanner opening the link twice is a GET like any other.
    Client().get(_link(pledge))
    response = Client().get(_link(pledge))

    assert response.status_code == 200
    page = _text(response)
    assert f"I pledge to {pledge.text}" in page
    assert "<legend" in page and "How did your pledge go?" in page
    for label in ("Done", "Started", "Not yet", "It didn&#x27;t work out"):
        assert label in page
    assert page.count('type="radio"') == 4
    assert 'name="csrfmiddlewaretoken"' in page
    assert "Up to 600 characters." in page
    assert _reload(pledge).outcome == ""
    assert not Story.objects.exists()
    assert _done_started(campaign) == (0, 0)
    assert response["Cache-Control"].startswith("max-age=0")


def test_done_with_a_public_story_thanks_the_pledger_publishes_the_story_and_moves_the_counter(
    campaign: Campaign,
) -> None:
    pledge = create_pledge(campaign, 1)
    client = Client(enforce_csrf_checks=True)
    client.get(_link(pledge))

    response = client.post(
        _link(pledge),
        {
            "outcome": "done",
            "story": STORY,
            "story_public": "on",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )

    assert response.status_code == 200
    assert "Thank you for telling us" in _text(response)
    assert "Your story is published beside" in _text(response)
    assert _reload(pledge).outcome == "done"
    assert _done_started(campaign) == (1, 0)
    permalink = _text(Client().get(f"/pledges/{pledge.public_id}/"))
    assert "Outcome: Done" in permalink
    assert "What changed" in permalink and STORY.replace("'", "&#x27;") in permalink


def test_the_page_shows_the_answer_given_and_the_pledger_changes_it_from_the_same_link(
    campaign: Campaign,
) -> None:
    pledge = create_pledge(campaign, 1)
    client = Client()
    _answer(client, pledge, outcome="done", story=STORY, story_public="on")

    page = _text(client.get(_link(pledge)))
    assert "You told us: <strong>Done</strong>" in page
    assert re.search(r'value="done"[^>]*checked', page)
    assert "first visit, and the families noticed" in page
    assert re.search(r'name="story_public"[^>]*checked', page)

    response = _answer(client, pledge, outcome="started", story="Half the team does it so far.")

    assert response.status_code == 200
    assert _reload(pledge).outcome == "started"
    assert _done_started(campaign) == (0, 1)
    story = Story.objects.get(pledge=pledge)
    # The box left unticked this time: the new words stay private.
    assert story.text == "Half the team does it so far." and story.status == StoryStatus.PRIVATE
    assert "kept private" in _text(response)
    assert "Half the team" not in _text(Client().get(f"/pledges/{pledge.public_id}/"))


def test_sending_the_answer_again_with_the_story_emptied_takes_the_story_down(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1)
    _answer(Client(), pledge, story=STORY, story_public="on")

    response = _answer(Client(), pledge, story="   ", story_public="on")

    assert "You did not add a story" in _text(response)
    assert not Story.objects.exists()
    permalink = _text(Client().get(f"/pledges/{pledge.public_id}/"))
    assert "What changed" not in permalink and "Outcome: Done" in permalink


def test_a_private_story_is_kept_private_everywhere_the_public_looks(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1)

    response = _answer(Client(), pledge, story="Only for the organisers: the ward manager helped.")

    assert "kept private" in _text(response)
    assert Story.objects.get(pledge=pledge).status == StoryStatus.PRIVATE
    anyone = Client()
    for url in (
        f"/pledges/{pledge.public_id}/",
        f"/campaigns/{campaign.slug}/wall/",
        f"/campaigns/{campaign.slug}/feed/",
        f"/api/v1/campaigns/{campaign.slug}/pledges",
    ):
        body = _text(anyone.get(url))
        assert "ward manager helped" not in body, url
    # The outcome itself is public: only the story was kept back.
    assert "Outcome: Done" in _text(anyone.get(f"/pledges/{pledge.public_id}/"))


def test_a_story_in_a_pre_moderated_campaign_waits_for_an_organiser_before_anyone_sees_it(
    pre_campaign: Campaign, organiser: Any
) -> None:
    pledge = create_pledge(pre_campaign, 1)
    pledge_moderate(pledge_ids=[pledge.pk], action="publish", actor=organiser)

    response = _answer(Client(), pledge, story=STORY, story_public="on")

    assert "waits for an organiser" in _text(response)
    story = Story.objects.get(pledge=pledge)
    assert story.status == StoryStatus.PENDING
    assert "What changed" not in _text(Client().get(f"/pledges/{pledge.public_id}/"))

    stories_move(stories=[story], transition=Transition.PUBLISH, now=timezone.now())

    assert "What changed" in _text(Client().get(f"/pledges/{pledge.public_id}/"))


def test_a_story_over_600_characters_is_refused_with_a_clear_message_and_kept_in_the_box(
    campaign: Campaign,
) -> None:
    pledge = create_pledge(campaign, 1)
    long_story = "We changed the handover. " * 25  # 625 characters, 624 once trimmed

    response = _answer(Client(), pledge, story=long_story, story_public="on")

    assert response.status_code == 400
    page = _text(response)
    assert "Keep your story to 600 characters: it has 624 now, so please shorten it by 24." in page
    assert "We changed the handover. We changed" in page
    assert _reload(pledge).outcome == ""
    assert not Story.objects.exists()


def test_a_story_of_600_characters_typed_over_several_lines_is_taken(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1)
    # A browser sends each new line as two characters; the counter and people count one.
    lines = "\r\n".join(["x" * 99] * 6)  # 594 + 5 new lines = 599 characters
    story = lines + "y"

    response = _answer(Client(), pledge, story=story)

    assert response.status_code == 200
    assert len(Story.objects.get(pledge=pledge).text) == 600


def test_an_answer_without_the_pages_csrf_token_is_refused_and_changes_nothing(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1)

    response = Client(enforce_csrf_checks=True).post(_link(pledge), {"outcome": "done"})

    assert response.status_code == 403
    assert _reload(pledge).outcome == ""


def test_no_answer_or_an_invented_one_gets_a_clear_message(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1)

    for data in ({}, {"outcome": "delighted"}, {"outcome": "done\x00"}):
        response = Client().post(_link(pledge), data)
        assert response.status_code == 400
        assert "Choose one of the answers" in _text(response)
    # A null character PostgreSQL would refuse is a message, not an error page.
    response = Client().post(_link(pledge), {"outcome": "done", "story": "we did\x00it"})
    assert response.status_code == 400 and "Null characters are not allowed" in _text(response)
    assert _reload(pledge).outcome == ""
    assert not Story.objects.exists()


def test_links_and_markup_in_a_story_are_held_for_an_organiser_and_shown_as_typed(
    campaign: Campaign, organiser: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    hostile = '<script>alert(1)</script><a href="https://evil.example">prizes</a> see www.evil.example'

    response = _answer(Client(), pledge, story=hostile, story_public="on")

    assert "waits for an organiser" in _text(response)
    story = Story.objects.get(pledge=pledge)
    assert story.status == StoryStatus.PENDING and "link" in story.flags
    page = _text(Client().get(_link(pledge)))
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    # Markup with no link is no reason to hold a story: it goes up, as plain text.
    other = create_pledge(campaign, 2)
    _answer(Client(), other, story="<b>We</b> did it <img src=x onerror=alert(2)>", story_public="on")
    assert Story.objects.get(pledge=other).status == StoryStatus.PUBLISHED
    for url in (f"/pledges/{other.public_id}/", f"/campaigns/{campaign.slug}/wall/"):
        body = _text(Client().get(url))
        assert "<b>We</b>" not in body and "<img src=x" not in body, url
        assert "&lt;b&gt;We&lt;/b&gt; did it &lt;img src=x onerror=alert(2)&gt;" in body, url


def test_a_token_made_for_another_link_or_tampered_with_is_refused_and_changes_nothing(
    campaign: Campaign,
) -> None:
    pledge = create_pledge(campaign, 1)
    other = create_pledge(campaign, 2)
    genuine = _link(pledge).split("/")[-2]
    value, _, signature = genuine.partition(":")
    forged = [
        make_token(purpose=services.WITHDRAW_PURPOSE, value=pledge.public_id),
        make_token(purpose=services.CONFIRM_PURPOSE, value=pledge.public_id),
        make_token(purpose=services.DATA_PURPOSE, value=pledge.public_id),
        # One pledger's signature on another pledge's id.
        f"{other.public_id}:{signature}",
        genuine[:-3],
        "not-a-token",
        "x" * 3000,
    ]

    for token in forged:
        for method in ("get", "post"):
            response = getattr(Client(), method)(f"/pledges/outcome/{token}/", {"outcome": "done"})
            assert response.status_code == 400, (token, method)
            assert "This link does not work" in _text(response)
    assert {_reload(pledge).outcome, _reload(other).outcome} == {""}


def test_a_signed_value_that_is_no_public_id_is_a_404_not_an_error(campaign: Campaign) -> None:
    for value in ("nosuchpledge", "bad\x00id", "'; DROP TABLE x; --"):
        token = make_token(purpose=OUTCOME_PURPOSE, value=value)
        response = Client().get(f"/pledges/outcome/{token}/")
        assert response.status_code == 404
        assert "no longer here" in _text(response)


def test_one_pledgers_link_answers_for_their_own_pledge_only(campaign: Campaign) -> None:
    mine = create_pledge(campaign, 1)
    theirs = create_pledge(campaign, 2)

    # Whatever else the post names, the link decides which pledge it is.
    _answer(Client(), mine, public_id=theirs.public_id, pledge=theirs.pk, id=theirs.pk)

    assert _reload(mine).outcome == "done"
    assert _reload(theirs).outcome == ""


@pytest.mark.parametrize("status", [Status.WITHDRAWN, Status.REJECTED])
def test_a_withdrawn_or_rejected_pledge_gets_a_friendly_page_and_no_answer(
    campaign: Campaign, organiser: Any, status: str
) -> None:
    pledge = create_pledge(campaign, 1)
    if status == Status.WITHDRAWN:
        services.pledge_withdraw(pledge=pledge)
    else:
        pledge_moderate(pledge_ids=[pledge.pk], action="reject", actor=organiser, reason_code="not-a-pledge")

    shown = Client().get(_link(pledge))
    answered = _answer(Client(), pledge, story=STORY, story_public="on")

    assert shown.status_code == answered.status_code == 410
    assert ("was withdrawn" if status == Status.WITHDRAWN else "was not published") in _text(shown)
    assert _reload(pledge).outcome == ""
    assert not Story.objects.exists()


def test_after_outcomes_close_the_link_says_so_and_keeps_the_answer_given(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1)
    _answer(Client(), pledge, outcome="started")
    now = timezone.now()
    # The campaign's calendar moved into the past (an organiser's edit in the admin).
    Campaign.objects.filter(pk=campaign.pk).update(
        opens_at=now - timedelta(days=200),
        deadline=now - timedelta(days=100),
        outcomes_close=now - timedelta(days=1),
    )

    shown = Client().get(_link(pledge))
    answered = _answer(Client(), pledge, outcome="done")

    assert shown.status_code == answered.status_code == 410
    assert "has stopped collecting answers" in _text(shown)
    assert "Your answer stays as you gave it: <strong>Started</strong>" in _text(shown)
    assert _reload(pledge).outcome == "started"


def test_revisiting_the_link_after_an_organiser_rejected_the_story_shows_their_reason(
    campaign: Campaign, organiser: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    _answer(Client(), pledge, story=STORY, story_public="on")
    story = Story.objects.get(pledge=pledge)
    reason = {"reason_code": "spam", "reason_text": "an <b>advert</b>"}
    story_moderate(story_ids=[story.pk], action="reject", actor=organiser, **reason)

    page = _text(Client().get(_link(pledge)))

    assert (
        "Your story is not published: an organiser decided against it "
        "(Spam or advertising: an &lt;b&gt;advert&lt;/b&gt;). New words you send go back to an organiser."
    ) in page
    assert STORY.replace("'", "&#x27;") in page, "the words stay in the box to change"


def test_outcomes_close_90_days_after_the_deadline_unless_the_campaign_says_otherwise(
    campaign: Campaign,
) -> None:
    pledge = create_pledge(campaign, 1)
    now = timezone.now()
    # The campaign's calendar moved into the past (an organiser's edit in the admin), with no
    # "outcomes close" of its own: day 89 after the deadline.
    Campaign.objects.filter(pk=campaign.pk).update(
        opens_at=now - timedelta(days=200),
        change_day=(now - timedelta(days=120)).date(),
        deadline=now - timedelta(days=89),
        outcomes_close=None,
    )

    taken = _answer(Client(), pledge, outcome="started")

    assert taken.status_code == 200 and "Thank you for telling us" in _text(taken)
    assert _reload(pledge).outcome == "started"

    # A minute past 90 days after the deadline.
    Campaign.objects.filter(pk=campaign.pk).update(deadline=now - timedelta(days=90, minutes=1))
    shown = Client().get(_link(pledge))
    refused = _answer(Client(), pledge, outcome="done")

    assert shown.status_code == refused.status_code == 410
    closed_on = (now - timedelta(minutes=1)).astimezone(timezone.get_current_timezone())
    for response in (shown, refused):
        assert "has stopped collecting answers" in _text(response)
        assert f"We asked how pledges went until {closed_on:%-d %B %Y}" in _text(response)
    assert _reload(pledge).outcome == "started"


def test_an_erased_pledges_link_says_it_is_no_longer_here(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1, email="erase.me@example.org")
    link = _link(pledge)
    privacy.pledger_data_erase(email="erase.me@example.org")

    response = Client().get(link)

    assert response.status_code == 404
    assert "no longer here" in _text(response)


@pytest.mark.redis("rate limits count in Redis; without it they let people through")
def test_a_flood_of_answers_through_one_link_is_slowed_while_colleagues_carry_on(
    campaign: Campaign, settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "outcome-link": (3, 600), "outcome": (6, 600)}
    mine = create_pledge(campaign, 1)
    troll = Client(REMOTE_ADDR="203.0.113.7")

    codes = [_answer(troll, mine, outcome=outcome).status_code for outcome in ("done", "started", "done")]
    held = _answer(troll, mine, outcome="not-yet")

    assert codes == [200, 200, 200]
    assert held.status_code == 429 and int(held["Retry-After"]) > 0
    assert "Please slow down" in _text(held)
    assert _reload(mine).outcome == "done"
    # Reading the page is free; a colleague on the same network answers through their own link.
    assert troll.get(_link(mine)).status_code == 200
    colleague = create_pledge(campaign, 2)
    assert _answer(Client(REMOTE_ADDR="203.0.113.7"), colleague).status_code == 200


@pytest.mark.redis("rate limits count in Redis; without it they let people through")
def test_a_flood_of_answers_from_one_network_over_many_links_meets_the_networks_ceiling(
    campaign: Campaign, settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "outcome": (3, 600)}
    pledges = [create_pledge(campaign, n) for n in range(5)]
    # One IPv6 subscriber choosing a fresh address in their /64 for every request.
    codes = [
        _answer(Client(REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}"), pledge).status_code
        for n, pledge in enumerate(pledges)
    ]

    assert codes == [200, 200, 200, 429, 429]
    assert [_reload(pledge).outcome for pledge in pledges] == ["done", "done", "done", "", ""]


# --- Outcomes everywhere --------------------------------------------------------------------


def _story_of(pledge: Pledge, text: str, *, public: bool = True, outcome: str = "done") -> Story | None:
    return pledge_outcome_record(pledge=pledge, outcome=outcome, story_text=text, story_public=public).story


@pytest.fixture
def stories(campaign: Campaign, organiser: Any) -> dict[str, Pledge]:
    """One pledge per kind of story: only the published one may ever be shown."""
    made = {
        name: create_pledge(campaign, n)
        for n, name in enumerate(["published", "private", "pending", "rejected", "hidden", "none"])
    }
    _story_of(made["published"], "PUBLISHED-STORY the team rota now has a carers' hour.")
    _story_of(made["private"], "PRIVATE-STORY only for organisers.", public=False)
    _story_of(made["pending"], "PENDING-STORY see https://example.org for more.")
    rejected = _story_of(made["rejected"], "REJECTED-STORY an organiser said no.")
    hidden = _story_of(made["hidden"], "HIDDEN-STORY reported by a visitor.")
    now = timezone.now()
    stories_move(stories=[rejected], transition=Transition.REJECT, now=now, rejection_reason="Off topic")
    stories_move(stories=[hidden], transition=Transition.HIDE, now=now)
    pledge_outcome_record(pledge=made["none"], outcome="not-yet")
    return made


HIDDEN_STORIES = ("PRIVATE-STORY", "PENDING-STORY", "REJECTED-STORY", "HIDDEN-STORY")


def test_only_a_published_story_shows_on_permalinks_the_wall_the_feed_and_the_api(
    campaign: Campaign, stories: dict[str, Pledge]
) -> None:
    anyone = Client()
    pages = {name: _text(anyone.get(f"/pledges/{p.public_id}/")) for name, p in stories.items()}
    assert "PUBLISHED-STORY" in pages["published"]
    for name, page in pages.items():
        for secret in HIDDEN_STORIES:
            assert secret not in page, name
    assert "Outcome: Not yet" in pages["none"]

    wall = _text(anyone.get(f"/campaigns/{campaign.slug}/wall/"))
    feed = _text(anyone.get(f"/campaigns/{campaign.slug}/feed/"))
    api = anyone.get(f"/api/v1/campaigns/{campaign.slug}/pledges").json()
    for body in (wall, feed, json.dumps(api), *pages.values()):
        assert "@example.org" not in body
    for body in (wall, feed, json.dumps(api)):
        assert "PUBLISHED-STORY" in body
        for secret in HIDDEN_STORIES:
            assert secret not in body
    by_id = {item["public_id"]: item for item in api["results"]}
    assert by_id[stories["published"].public_id]["story"].startswith("PUBLISHED-STORY")
    assert by_id[stories["private"].public_id]["story"] is None
    assert by_id[stories["private"].public_id]["outcome"] == "done"
    assert by_id[stories["none"].public_id]["outcome"] == "not-yet"


def test_a_withdrawn_pledges_published_story_leaves_with_it(
    campaign: Campaign, stories: dict[str, Pledge]
) -> None:
    pledge = stories["published"]
    services.pledge_withdraw(pledge=pledge)

    assert Client().get(f"/pledges/{pledge.public_id}/").status_code == 404
    assert "PUBLISHED-STORY" not in _text(Client().get(f"/api/v1/campaigns/{campaign.slug}/pledges"))


def test_the_wall_shows_outcome_badges_and_filters_by_outcome(campaign: Campaign) -> None:
    answers = ["done", "started", "not-yet", "didnt-work", ""]
    pledges = {}
    for n, outcome in enumerate(answers):
        pledge = create_pledge(campaign, n, text=f"try something new on the ward, answer {n} here")
        if outcome:
            pledge_outcome_record(pledge=pledge, outcome=outcome)
        pledges[outcome] = pledge

    def shown(**query: str) -> set[str]:
        body = _text(Client().get(f"/campaigns/{campaign.slug}/wall/", query))
        return {key for key, p in pledges.items() if f"/pledges/{p.public_id}/" in body}

    assert shown() == set(answers)
    assert shown(outcome="done") == {"done"}
    assert shown(outcome="changes") == {"done", "started"}
    assert shown(outcome="not-yet") == {"not-yet"}
    assert shown(outcome="didnt-work") == {"didnt-work"}
    wall = _text(Client().get(f"/campaigns/{campaign.slug}/wall/"))
    for label in (
        "Outcome: Done",
        "Outcome: Started",
        "Outcome: Not yet",
        "Outcome: It didn&#x27;t work out",
    ):
        assert label in wall
    assert '<select class="form-select" id="wall-outcome" name="outcome">' in wall
    assert 'name="order" value="changes"' in wall

    bad = Client().get(f"/campaigns/{campaign.slug}/wall/", {"outcome": "<script>"})
    assert bad.status_code == 400 and "Choose an outcome from the list" in _text(bad)
    assert Client().get(f"/campaigns/{campaign.slug}/wall/", {"order": "random"}).status_code == 400


def test_a_new_answer_shows_on_the_shared_wall_at_once_even_when_no_counter_moves(
    campaign: Campaign, django_capture_on_commit_callbacks: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    wall = f"/campaigns/{campaign.slug}/wall/"
    assert "Outcome:" not in _text(Client().get(wall))  # now in the shared caches

    with django_capture_on_commit_callbacks(execute=True):
        pledge_outcome_record(pledge=pledge, outcome="not-yet")

    assert "Outcome: Not yet" in _text(Client().get(wall))


def _all_pages(campaign: Campaign, **query: Any) -> list[str]:
    """Every public id the API lists, page after page, following next_cursor."""
    ids: list[str] = []
    cursor = ""
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        body = Client().get(f"/api/v1/campaigns/{campaign.slug}/pledges", params).json()
        ids += [item["public_id"] for item in body["results"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 100])
def test_changes_first_pages_through_every_pledge_once_in_order(campaign: Campaign, limit: int) -> None:
    outcomes = ["", "done", "not-yet", "started", "", "done", "didnt-work", ""]
    made = []
    for n, outcome in enumerate(outcomes):
        pledge = create_pledge(campaign, n)
        if outcome:
            pledge_outcome_record(pledge=pledge, outcome=outcome)
        made.append((pledge, outcome))
    newest_first = list(reversed(made))
    expected = [p.public_id for p, o in newest_first if o in ("done", "started")] + [
        p.public_id for p, o in newest_first if o not in ("done", "started")
    ]

    assert _all_pages(campaign, order="changes", limit=limit) == expected
    # With a filter too, and the plain order is untouched.
    assert _all_pages(campaign, order="changes", outcome="changes", limit=limit) == expected[:3]
    assert _all_pages(campaign, limit=limit) == [p.public_id for p, _ in newest_first]


def test_a_cursor_from_one_order_is_refused_by_the_other(campaign: Campaign) -> None:
    for n in range(3):
        create_pledge(campaign, n)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    plain = Client().get(url, {"limit": 1}).json()["next_cursor"]
    changes = Client().get(url, {"limit": 1, "order": "changes"}).json()["next_cursor"]

    assert Client().get(url, {"limit": 1, "order": "changes", "cursor": plain}).status_code == 400
    assert Client().get(url, {"limit": 1, "cursor": changes}).status_code == 400


def test_the_walls_next_page_link_keeps_the_changes_first_order(campaign: Campaign) -> None:
    for n in range(30):
        pledge = create_pledge(campaign, n)
        if n % 3 == 0:
            pledge_outcome_record(pledge=pledge, outcome="done")

    body = _text(Client().get(f"/campaigns/{campaign.slug}/wall/", {"order": "changes"}))

    next_url = re.search(r'href="(\?[^"]+)" rel="next"', body).group(1).replace("&amp;", "&")
    assert "order=changes" in next_url
    second = _text(Client().get(f"/campaigns/{campaign.slug}/wall/{next_url}"))
    assert second.count("Outcome: Done") == 0 and "cd-pledge-card" in second
    assert body.count("Outcome: Done") == 10


def test_publishing_hiding_and_withdrawing_a_pledge_with_an_outcome_moves_the_outcome_counters(
    pre_campaign: Campaign, organiser: Any
) -> None:
    done = create_pledge(pre_campaign, 1)
    started = create_pledge(pre_campaign, 2)
    # Answered while waiting for moderation: nothing public, nothing counted.
    pledge_outcome_record(pledge=done, outcome="done")
    pledge_outcome_record(pledge=started, outcome="started")
    assert _done_started(pre_campaign) == (0, 0)

    pledge_moderate(pledge_ids=[done.pk, started.pk], action="publish", actor=organiser)
    assert _done_started(pre_campaign) == (1, 1)

    pledge_moderate(pledge_ids=[done.pk], action="hide", actor=organiser)
    assert _done_started(pre_campaign) == (0, 1)

    # Answered while hidden: counted only once the pledge is back.
    pledge_outcome_record(pledge=_reload(done), outcome="started")
    assert _done_started(pre_campaign) == (0, 1)
    pledge_moderate(pledge_ids=[done.pk], action="restore", actor=organiser)
    assert _done_started(pre_campaign) == (0, 2)

    services.pledge_withdraw(pledge=_reload(started))
    assert _done_started(pre_campaign) == (0, 1)
    assert services.campaign_recompute_totals(campaign=pre_campaign) == {}


def test_the_recount_repairs_drift_in_the_outcome_counters(campaign: Campaign) -> None:
    from pledges.models import TotalShard

    for n, outcome in enumerate(["done", "done", "started", "not-yet"]):
        pledge_outcome_record(pledge=create_pledge(campaign, n), outcome=outcome)
    # A bug or a crash left the counters wrong.
    TotalShard.objects.filter(campaign=campaign, key="outcome:done").update(value=0)
    TotalShard.objects.update_or_create(
        campaign=campaign, key="outcome:started", shard=7, defaults={"value": 5}
    )

    repaired = services.campaign_recompute_totals(campaign=campaign)

    assert repaired["outcome:done"] == (0, 2)
    assert repaired["outcome:started"][1] == 1 and repaired["outcome:started"][0] >= 5
    assert _done_started(campaign) == (2, 1)
    assert services.campaign_recompute_totals(campaign=campaign) == {}


def test_the_live_counters_and_the_totals_on_the_page_carry_done_and_started(campaign: Campaign) -> None:
    for n, outcome in enumerate(["done", "done", "started"]):
        pledge_outcome_record(pledge=create_pledge(campaign, n), outcome=outcome)

    counters = Client().get(f"/api/v1/campaigns/{campaign.slug}/counters").json()
    wall = _text(Client().get(f"/campaigns/{campaign.slug}/wall/"))

    assert counters["by_outcome"] == {"done": 2, "started": 1}
    assert '<strong data-counter="outcome:done">2</strong> done' in wall
    assert '<strong data-counter="outcome:started">1</strong> started' in wall


@pytest.mark.parametrize(
    ("kept", "said"),
    [
        (0, "No promises reported kept yet"),
        (1, "promise</span> kept so far"),
        (2, "promises</span> kept so far"),
    ],
)
def test_the_campaign_page_says_how_many_promises_were_kept(campaign: Campaign, kept: int, said: str) -> None:
    for n in range(kept):
        pledge_outcome_record(pledge=create_pledge(campaign, n), outcome="done")
    pledge_outcome_record(pledge=create_pledge(campaign, 9), outcome="started")

    page = _text(Client().get(f"/campaigns/{campaign.slug}/"))

    assert said in page
    some = re.search(r'<span data-counter-some="outcome:done"( hidden)?>', page)
    zero = re.search(r'<span data-counter-zero="outcome:done"( hidden)?>', page)
    assert bool(some.group(1)) == (kept == 0) and bool(zero.group(1)) == (kept > 0)
    if kept:
        assert f'<strong data-counter="outcome:done">{kept}</strong>' in page


def test_feed_entries_carry_the_outcome_and_the_published_story_as_plain_text(
    campaign: Campaign, stories: dict[str, Pledge]
) -> None:
    other = create_pledge(campaign, 20)
    _story_of(other, "<b>Bold</b> claims & <i>markup</i>")
    body = Client().get(f"/campaigns/{campaign.slug}/feed/").content
    feed = feedparser.parse(body)

    entries = {entry.id.removeprefix("changeday:pledge:"): entry for entry in feed.entries}
    published = entries[stories["published"].public_id]
    assert "Outcome: Done." in published.summary
    assert "What changed: PUBLISHED-STORY the team rota" in published.summary
    assert published.summary_detail.type == "text/plain"
    # Its sectors are categories too; the outcome is one of its own.
    terms = [tag.term for tag in published.tags]
    assert [term for term in terms if term.startswith("outcome:")] == ["outcome:done"]
    assert "Outcome: Not yet." in entries[stories["none"].public_id].summary
    assert "What changed" not in entries[stories["private"].public_id].summary
    assert "What changed: <b>Bold</b> claims & <i>markup</i>" in entries[other.public_id].summary
    assert b"<b>Bold" not in body


def test_the_api_filters_by_outcome_and_its_openapi_document_describes_outcomes(campaign: Campaign) -> None:
    for n, outcome in enumerate(["done", "started", "not-yet"]):
        pledge_outcome_record(pledge=create_pledge(campaign, n), outcome=outcome)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"

    assert [item["outcome"] for item in Client().get(url, {"outcome": "started"}).json()["results"]] == [
        "started"
    ]
    assert len(Client().get(url, {"outcome": "changes"}).json()["results"]) == 2
    bad = Client().get(url, {"outcome": "maybe"})
    assert bad.status_code == 400 and "Choose an outcome" in bad.json()["detail"]

    schema = Client().get("/api/v1/openapi.json").json()
    components = schema["components"]["schemas"]
    pledge = components["PledgeOut"]["properties"]
    assert {"outcome", "story"} <= set(pledge)
    outcome_values = {v for option in pledge["outcome"]["anyOf"] for v in option.get("enum", [])}
    assert outcome_values == {"done", "started", "not-yet", "didnt-work"}
    assert "passed moderation" in pledge["story"]["description"]
    assert set(components["OutcomeCountsOut"]["properties"]) == {"done", "started"}
    params = {p["name"]: p for p in schema["paths"]["/api/v1/campaigns/{slug}/pledges"]["get"]["parameters"]}
    assert set(params["outcome"]["schema"]["enum"]) == {
        "",
        "done",
        "started",
        "not-yet",
        "didnt-work",
        "changes",
    }
    assert set(params["order"]["schema"]["enum"]) == {"", "changes"}


# --- The pledger's own data ------------------------------------------------------------------


def _data_path(pledge: Pledge) -> str:
    return f"/your-data/{make_token(purpose=services.DATA_PURPOSE, value=pledge.public_id)}/"


def test_a_pledgers_data_holds_every_outcome_and_story_with_its_status(
    campaign: Campaign, pre_campaign: Campaign
) -> None:
    email = "sam.story@example.org"
    shared = create_pledge(campaign, 1, email=email)
    private = create_pledge(pre_campaign, 2, email=email)
    silent = create_pledge(campaign, 3, email=email, text="bring the rota forward by a week for carers")
    _story_of(shared, "We did it together.")
    _story_of(private, "Only for you: the manager resisted.", public=False, outcome="started")

    download = Client().get(_data_path(shared) + "pledges.json").json()
    page = _text(Client().get(_data_path(shared)))

    by_id = {item["public_id"]: item for item in download["pledges"]}
    assert by_id[shared.public_id]["outcome"] == "done"
    assert by_id[shared.public_id]["story"]["text"] == "We did it together."
    assert by_id[shared.public_id]["story"]["status"] == "published"
    assert by_id[private.public_id]["story"] == {
        **by_id[private.public_id]["story"],
        "text": "Only for you: the manager resisted.",
        "public": False,
        "status": "private",
    }
    assert by_id[silent.public_id]["outcome"] is None and by_id[silent.public_id]["story"] is None
    assert "We did it together." in page and "Only for you: the manager resisted." in page
    assert "How it went, as you told us: Started" in page
    assert "not for publishing" in page


def test_erasing_a_pledgers_data_removes_their_stories_and_the_counters_stay_exact(
    campaign: Campaign,
) -> None:
    email = "erase.story@example.org"
    mine = create_pledge(campaign, 1, email=email)
    mine_too = create_pledge(campaign, 2, email=email)
    someone_else = create_pledge(campaign, 3)
    _story_of(mine, "Ours went well.")
    _story_of(mine_too, "Private words.", public=False, outcome="started")
    _story_of(someone_else, "Theirs went well too.")
    assert _done_started(campaign) == (2, 1)

    response = Client().post(_data_path(mine) + "delete/")

    assert response.status_code == 200
    assert list(Story.objects.values_list("text", flat=True)) == ["Theirs went well too."]
    assert _done_started(campaign) == (1, 0)
    assert services.campaign_recompute_totals(campaign=campaign) == {}


# --- Costs at scale -------------------------------------------------------------------------


def _wall_queries(campaign: Campaign, query: dict[str, str]) -> int:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.selectors import campaign_memo_forget

    cache.clear()
    campaign_memo_forget()
    with CaptureQueriesContext(connection) as captured:
        response = Client().get(f"/campaigns/{campaign.slug}/wall/", query)
    assert response.status_code == 200
    return len(captured.captured_queries)


def _with_stories(campaign: Campaign, start: int, count: int) -> None:
    for n in range(start, start + count):
        pledge = create_pledge(campaign, n, email=f"story{n}@example.org")
        outcome = ["done", "started", "not-yet", "didnt-work", ""][n % 5]
        if outcome:
            _story_of(pledge, f"What changed for pledge {n}.", public=n % 2 == 0, outcome=outcome)


@pytest.mark.parametrize(
    "query", [{}, {"order": "changes"}, {"outcome": "changes"}, {"outcome": "not-yet", "order": "changes"}]
)
def test_the_wall_with_outcomes_and_stories_costs_the_same_queries_for_5_or_40_pledges(
    campaign: Campaign, query: dict[str, str]
) -> None:
    _with_stories(campaign, 0, 5)
    few = _wall_queries(campaign, query)
    _with_stories(campaign, 5, 35)

    assert _wall_queries(campaign, query) == few


@pytest.fixture
def answered_campaign(campaign: Campaign) -> Campaign:
    """A wall as the planner sees it weeks after Change Day: thousands of pledges, two in
    five of them changes, a few "not yet", the rest never answered; stories told by some."""
    from django.core.management import call_command
    from django.db import connection

    from bench.tools.management.commands import load_pledges

    call_command(load_pledges.Command(), campaign=campaign.slug, count=3000, seed=3)
    with connection.cursor() as cursor:
        # Test data for the planner only (the counters are not read here): through the
        # service, 3,000 answers would take most of a minute.
        cursor.execute(
            "UPDATE pledges_pledge SET outcome = CASE WHEN id %% 3 = 0 THEN 'done' WHEN id %% 7 = 0 "
            "THEN 'started' WHEN id %% 10 = 1 THEN 'not-yet' ELSE '' END WHERE campaign_id = %s",
            [campaign.pk],
        )
        # Half of those who answered told a story; half of those stories are published.
        cursor.execute(
            "INSERT INTO pledges_story (pledge_id, campaign_id, text, public, status, flags, "
            "rejection_reason, created_at, updated_at, status_changed_at) "
            "SELECT id, campaign_id, 'What changed for ' || public_id, true, "
            "CASE WHEN id %% 4 = 0 THEN 'published' ELSE 'pending' END, '[]', '', now(), now(), now() "
            "FROM pledges_pledge WHERE campaign_id = %s AND outcome <> '' AND id %% 2 = 0",
            [campaign.pk],
        )
        cursor.execute("ANALYZE pledges_pledge")
        cursor.execute("ANALYZE pledges_story")
    return campaign


def _page_plan(campaign: Campaign, **query: str) -> str:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = Client().get(f"/api/v1/campaigns/{campaign.slug}/pledges", query)
    assert response.status_code == 200
    sql = [q["sql"] for q in captured.captured_queries if 'FROM "pledges_pledge"' in q["sql"]][-1]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres_only("partial indexes and plans are PostgreSQL's")
def test_changes_first_reads_the_changes_index_then_the_wall_index_in_order_never_sorting(
    answered_campaign: Campaign,
) -> None:
    first = _page_plan(answered_campaign, order="changes")
    assert "Index Scan using pledge_wall_changes_idx" in first, first
    assert "Seq Scan on pledges_story" not in first, first
    assert "Sort" not in first, first

    # Far down, among the pledges never answered: a cursor in the second walk.
    cursor = ""
    for _ in range(20):
        body = (
            Client()
            .get(
                f"/api/v1/campaigns/{answered_campaign.slug}/pledges",
                {"order": "changes", "limit": 100, **({"cursor": cursor} if cursor else {})},
            )
            .json()
        )
        cursor = body["next_cursor"]
    assert body["results"][-1]["outcome"] in (None, "not-yet", "didnt-work")
    deep = _page_plan(answered_campaign, order="changes", cursor=cursor)
    assert "Index Scan using pledge_wall_" in deep, deep
    assert "Sort" not in deep, deep


@pytest.mark.postgres_only("partial indexes and plans are PostgreSQL's")
@pytest.mark.parametrize("outcome", ["not-yet", "done", "changes"])
def test_the_outcome_filter_reads_an_outcome_index_in_order(
    answered_campaign: Campaign, outcome: str
) -> None:
    plan = _page_plan(answered_campaign, outcome=outcome)

    assert "Index Scan using pledge_wall_" in plan, plan
    assert "Sort" not in plan, plan
    # Each card's story is looked up by the pledge's unique key, never by reading them all.
    assert "Index Scan using pledges_story_pledge_id_key" in plan, plan
    if outcome == "not-yet":
        assert "pledge_wall_outcome_idx" in plan, plan
