"""Stories of what changed are moderated like pledges, in the same queue: publish, reject
with a reason, hide, restore, one at a time or in bulk, each decision in the audit. A story
the pledger kept private is never publishable; one that may identify a patient waits."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import create_pledge
from moderation.models import Action, ModerationEvent, Subject
from moderation.services import ModerationError, pledge_moderate, story_moderate
from moderation.subjects import story_version
from pledges.models import Pledge, Status, Story, StoryStatus
from pledges.outcomes import pledge_outcome_record
from testsupport.browser import browser_log_in, screenshot, script_errors

pytestmark = pytest.mark.django_db

QUEUE = "/moderation/"
DECIDE = "/moderation/decide/"
PATIENT_STORY = "We now ask Mr Jones in bed 4 how he slept before the ward round"


def tell(pledge: Pledge, text: str, *, public: bool = True, outcome: str = "done") -> Story:
    """The pledger answers the follow-through with a story, as the outcome page does."""
    story = pledge_outcome_record(pledge=pledge, outcome=outcome, story_text=text, story_public=public).story
    assert story is not None
    return story


def a_story(campaign: Any, n: int, *, text: str = "", public: bool = True, outcome: str = "done") -> Story:
    pledge = create_pledge(campaign, n)
    return tell(pledge, text or f"our team of {n} now hands over at the bedside every shift", public=public)


def item(story: Story) -> str:
    """How a story's card names it in a decision: pledge public id, status, words seen."""
    story.refresh_from_db()
    return f"{story.pledge.public_id}:{story.status}:{story_version(story.text)}"


def decide(client: Client, stories: list[Story], action: str, **extra: Any) -> Any:
    return client.post(DECIDE, {"story": [item(s) for s in stories], "action": action, **extra})


@pytest.fixture
def organiser_client(client: Client, organiser: Any) -> Client:
    client.force_login(organiser)
    return client


# --- The services -----------------------------------------------------------------------------


def test_an_organiser_publishes_a_waiting_story_and_the_audit_says_it_was_a_story(
    pre_campaign: Any, organiser: Any
) -> None:
    story = a_story(pre_campaign, 1)
    assert story.status == StoryStatus.PENDING

    result = story_moderate(story_ids=[story.pk], action=Action.PUBLISH, actor=organiser)

    story.refresh_from_db()
    assert [s.pk for s in result.done] == [story.pk] and result.skipped == []
    assert story.status == StoryStatus.PUBLISHED and story.published_at is not None
    event = ModerationEvent.objects.get()
    assert (event.subject, event.pledge_id, event.actor, event.action) == (
        Subject.STORY,
        story.pledge_id,
        organiser,
        Action.PUBLISH,
    )
    assert (event.from_status, event.to_status) == (StoryStatus.PENDING, StoryStatus.PUBLISHED)
    # The pledge itself was not decided on.
    assert Pledge.objects.get(pk=story.pledge_id).status == Status.PENDING


def test_a_story_is_rejected_with_a_reason_then_restored_then_hidden(
    pre_campaign: Any, organiser: Any
) -> None:
    story = a_story(pre_campaign, 1)

    story_moderate(
        story_ids=[story.pk],
        action=Action.REJECT,
        actor=organiser,
        reason_code="spam",
        reason_text="an advert",
    )
    story.refresh_from_db()
    assert story.status == StoryStatus.REJECTED
    assert story.rejection_reason == "Spam or advertising: an advert"

    story_moderate(story_ids=[story.pk], action=Action.RESTORE, actor=organiser)
    story.refresh_from_db()
    assert story.status == StoryStatus.PUBLISHED

    story_moderate(story_ids=[story.pk], action=Action.HIDE, actor=organiser)
    story.refresh_from_db()
    assert story.status == StoryStatus.HIDDEN
    audit = ModerationEvent.objects.filter(subject=Subject.STORY).order_by("created_at", "id")
    assert [(e.action, e.reason_code) for e in audit] == [
        (Action.REJECT, "spam"),
        (Action.RESTORE, ""),
        (Action.HIDE, ""),
    ]


def test_a_rejection_without_a_reason_code_is_refused(pre_campaign: Any, organiser: Any) -> None:
    story = a_story(pre_campaign, 1)
    with pytest.raises(ModerationError, match="Choose a reason"):
        story_moderate(story_ids=[story.pk], action=Action.REJECT, actor=organiser, reason_code="bored")
    story.refresh_from_db()
    assert story.status == StoryStatus.PENDING and not ModerationEvent.objects.exists()


def test_a_private_story_is_never_published_even_by_an_organiser(campaign: Any, organiser: Any) -> None:
    story = a_story(campaign, 1, public=False)
    assert story.status == StoryStatus.PRIVATE

    for action in (Action.PUBLISH, Action.RESTORE):
        result = story_moderate(story_ids=[story.pk], action=action, actor=organiser)
        assert result.done == []
        assert result.skipped == [
            (story.pledge.public_id, "It is already not for publishing (the pledger said so).")
        ]
    story.refresh_from_db()
    assert story.status == StoryStatus.PRIVATE
    assert not ModerationEvent.objects.exists()


def test_a_story_that_may_identify_a_patient_waits_for_an_organiser_with_its_reason(
    campaign: Any, organiser_client: Client
) -> None:
    # A post-moderated campaign: a clean story would go live at once.
    clean = a_story(campaign, 1)
    held = a_story(campaign, 2, text=PATIENT_STORY)
    assert clean.status == StoryStatus.PUBLISHED
    assert held.status == StoryStatus.PENDING and held.flags == ["patient-data"]

    page = organiser_client.get(QUEUE, {"campaign": campaign.slug}).content.decode()
    assert f'id="story-{held.pledge.public_id}"' in page
    assert "May identify a patient" in page
    assert f'id="story-{clean.pledge.public_id}"' not in page
    flagged = organiser_client.get(QUEUE, {"campaign": campaign.slug, "flag": "patient-data"})
    assert [card.public_id for card in flagged.context["story_cards"]] == [held.pledge.public_id]


def test_the_words_an_organiser_read_are_the_words_published(pre_campaign: Any, organiser: Any) -> None:
    story = a_story(pre_campaign, 1, text="we sit with every new carer on their first day")
    read = story_version(story.text)
    # The pledger rewrites it from their link while the organiser reads the old words.
    tell(story.pledge, "visit www.example.com for cheap pills")

    result = story_moderate(
        story_ids=[story.pk], action=Action.PUBLISH, actor=organiser, seen={story.pk: read}
    )

    assert result.done == [] and result.skipped == [
        (story.pledge.public_id, "It was changed since you saw it.")
    ]
    story.refresh_from_db()
    assert story.status == StoryStatus.PENDING and not ModerationEvent.objects.exists()


# --- The queue ----------------------------------------------------------------------------------


def test_the_queue_shows_waiting_stories_with_their_pledge_outcome_and_keys(
    pre_campaign: Any, organiser_client: Client
) -> None:
    pledge = create_pledge(pre_campaign, 1, text="learn the name of every porter on our corridor")
    tell(pledge, "I know all eleven now, and they know mine", outcome="started")

    response = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug})

    page = response.content.decode()
    card = page[page.index(f'id="story-{pledge.public_id}"') :]
    card = card[: card.index("</article>")]
    assert "I know all eleven now, and they know mine" in card
    assert "learn the name of every porter on our corridor" in card
    assert "Started" in card and "Awaiting moderation" in card
    for key in ("p", "r", "h"):
        assert f'data-shortcut="{key}"' in card and f'aria-keyshortcuts="{key}"' in card
    assert f'name="story" value="{pledge.public_id}:pending:' in card
    assert 'name="page_story"' in card
    assert "<dt>Stories waiting</dt><dd>1</dd>" in page
    # The pledge waits too, on its own card.
    assert "<dt>Total to decide</dt><dd>2</dd>" in page
    assert "person1@example.org" not in page


def test_stories_alone_can_be_shown(pre_campaign: Any, organiser_client: Client) -> None:
    story = a_story(pre_campaign, 1)
    response = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug, "subject": "story"})
    assert response.context["cards"] == []
    assert [card.public_id for card in response.context["story_cards"]] == [story.pledge.public_id]
    pledges_only = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug, "subject": "pledge"})
    assert pledges_only.context["story_cards"] == []
    assert organiser_client.get(QUEUE, {"subject": "poem"}).status_code == 400


def test_a_private_story_can_be_read_in_the_queue_but_has_no_button_to_publish(
    campaign: Any, organiser_client: Client
) -> None:
    story = a_story(campaign, 1, text="the private words of a tired nurse", public=False)

    waiting = organiser_client.get(QUEUE, {"campaign": campaign.slug}).content.decode()
    assert "the private words of a tired nurse" not in waiting

    page = organiser_client.get(QUEUE, {"campaign": campaign.slug, "status": "private"}).content.decode()
    card = page[page.index(f'id="story-{story.pledge.public_id}"') :]
    card = card[: card.index("</article>")]
    assert "the private words of a tired nurse" in card
    assert "kept this story private" in card
    assert "data-shortcut" not in card and 'name="story"' not in card and "page_story" not in card

    # A forged decision naming it is refused, whatever status it claims to have seen.
    version = story_version(story.text)
    for seen in ("private", "pending"):
        response = organiser_client.post(
            DECIDE, {"story": f"{story.pledge.public_id}:{seen}:{version}", "action": "publish"}, follow=True
        )
        assert response.status_code == 200
    story.refresh_from_db()
    assert story.status == StoryStatus.PRIVATE
    assert not ModerationEvent.objects.exists()


def test_markup_in_a_story_shows_as_text_in_the_queue(pre_campaign: Any, organiser_client: Client) -> None:
    a_story(pre_campaign, 1, text='<script>alert("x")</script><img src=x onerror=alert(1)> we did it')
    page = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug}).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert '<script>alert("x")' not in page and "<img src=x" not in page


def test_the_queue_reads_stories_in_a_fixed_number_of_queries(
    pre_campaign: Any, organiser_client: Client
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert organiser_client.get(QUEUE, {"campaign": pre_campaign.slug}).status_code == 200
        return len(captured)

    for n in range(1, 3):
        story_moderate(story_ids=[a_story(pre_campaign, n).pk], action="hide", actor=None)
    few = queries()
    for n in range(3, 9):
        story_moderate(story_ids=[a_story(pre_campaign, n).pk], action="hide", actor=None)
    assert queries() == few


# --- Decisions through the page ----------------------------------------------------------------


def test_a_story_is_published_from_its_card_and_leaves_the_queue(
    pre_campaign: Any, organiser_client: Client
) -> None:
    story = a_story(pre_campaign, 1, text="we made the discharge letter readable")

    response = decide(organiser_client, [story], "publish", return_to=f"campaign={pre_campaign.slug}")

    assert response.status_code == 302
    page = organiser_client.get(response["Location"]).content.decode()
    assert "Published “we made the discharge letter readable”." in page
    assert f'id="story-{story.pledge.public_id}"' not in page
    story.refresh_from_db()
    assert story.status == StoryStatus.PUBLISHED


def test_an_htmx_story_decision_removes_its_card_and_updates_the_counts(
    pre_campaign: Any, organiser_client: Client
) -> None:
    first, second = a_story(pre_campaign, 1), a_story(pre_campaign, 2)
    response = organiser_client.post(
        DECIDE,
        {"story": item(first), "action": "publish", "return_to": f"campaign={pre_campaign.slug}"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f'id="story-{first.pledge.public_id}" data-hx-swap-oob="delete"' in html
    assert f"story-{second.pledge.public_id}" not in html
    assert "<dt>Stories waiting</dt><dd>1</dd>" in html


def test_hiding_a_story_redraws_its_card_with_the_decision_in_its_history(
    pre_campaign: Any, organiser_client: Client
) -> None:
    story = a_story(pre_campaign, 1)
    response = organiser_client.post(
        DECIDE, {"story": item(story), "action": "hide"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert f'id="story-{story.pledge.public_id}"' in html and 'hx-swap-oob="outerHTML"' in html
    assert 'data-status="hidden"' in html
    assert "organiser@example.org: hide, awaiting moderation → hidden" in html
    assert 'data-shortcut="u"' in html  # restore, now


def test_a_rejection_from_the_card_keeps_the_reason_in_the_audit(
    pre_campaign: Any, organiser_client: Client
) -> None:
    story = a_story(pre_campaign, 1)
    decide(organiser_client, [story], "reject", reason_code="personal-data", reason_text="names a patient")
    story.refresh_from_db()
    assert story.status == StoryStatus.REJECTED
    event = ModerationEvent.objects.get(subject=Subject.STORY)
    assert (event.reason_code, event.reason_text) == ("personal-data", "names a patient")
    review = organiser_client.get(
        QUEUE, {"campaign": pre_campaign.slug, "status": "rejected"}
    ).content.decode()
    assert "(Contains personal or clinical details: names a patient)" in review


def test_bulk_decides_stories_and_pledges_together(pre_campaign: Any, organiser_client: Client) -> None:
    stories = [a_story(pre_campaign, n) for n in (1, 2, 3)]
    pledge = create_pledge(pre_campaign, 4)
    response = organiser_client.post(
        DECIDE,
        {
            "story": [item(s) for s in stories[:2]],
            "pledge": f"{pledge.public_id}:pending",
            "action": "publish",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Published 2 stories." in page
    assert "Published “" in page  # the one pledge
    assert sorted(Story.objects.values_list("status", flat=True)) == ["pending", "published", "published"]
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED
    assert ModerationEvent.objects.filter(subject=Subject.STORY).count() == 2
    assert ModerationEvent.objects.filter(subject=Subject.PLEDGE).count() == 1


def test_all_on_the_page_hides_every_story_on_it(pre_campaign: Any, organiser_client: Client) -> None:
    stories = [a_story(pre_campaign, n) for n in (1, 2)]
    page = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug, "subject": "story"}).content.decode()
    page_items = [f'name="page_story" value="{item(s)}"' for s in stories]
    assert all(value in page for value in page_items)
    organiser_client.post(
        DECIDE, {"page_story": [item(s) for s in stories], "all_on_page": "on", "action": "hide"}
    )
    assert set(Story.objects.values_list("status", flat=True)) == {StoryStatus.HIDDEN}


def test_a_story_rewritten_after_the_organiser_read_it_is_not_published(
    pre_campaign: Any, organiser_client: Client
) -> None:
    story = a_story(pre_campaign, 1, text="we sit with every new carer on their first day")
    seen = item(story)
    tell(story.pledge, "something else entirely, not read by anyone yet")

    page = organiser_client.post(DECIDE, {"story": seen, "action": "publish"}, follow=True).content.decode()

    assert "The pledger rewrote this story after you read it" in page
    story.refresh_from_db()
    assert story.status == StoryStatus.PENDING


def test_a_decision_on_a_story_another_organiser_took_is_skipped(
    pre_campaign: Any, organiser_client: Client, organiser: Any
) -> None:
    story = a_story(pre_campaign, 1)
    seen = item(story)
    story_moderate(story_ids=[story.pk], action="hide", actor=organiser)
    page = organiser_client.post(DECIDE, {"story": seen, "action": "publish"}, follow=True).content.decode()
    assert "Already hidden" in page
    story.refresh_from_db()
    assert story.status == StoryStatus.HIDDEN


@pytest.mark.parametrize(
    ("story", "message"),
    [
        ("nosuchpledge9:pending:0123456789ab", "Those stories no longer exist."),
        ("{id}:pending", "That selection is out of date."),
        ("{id}:pending:NOTHEX", "That selection is out of date."),
        ("{id}:sleeping:0123456789ab", "That selection is out of date."),
        ("'; DROP TABLE--", "That selection is out of date."),
    ],
)
def test_a_forged_story_decision_answers_400_and_changes_nothing(
    pre_campaign: Any, organiser_client: Client, story: str, message: str
) -> None:
    real = a_story(pre_campaign, 1)
    for headers in ({}, {"HX-Request": "true"}):
        response = organiser_client.post(
            DECIDE,
            {"story": story.replace("{id}", real.pledge.public_id), "action": "publish"},
            headers=headers,
        )
        assert response.status_code == 400
        assert message in response.content.decode()
    real.refresh_from_db()
    assert real.status == StoryStatus.PENDING and not ModerationEvent.objects.exists()


def test_a_story_id_cannot_be_used_as_a_pledge_or_the_other_way_round(
    pre_campaign: Any, organiser_client: Client
) -> None:
    """The database id of a story never names anything on the page: a pledge's public
    id names its story, and only under the story's own field."""
    story = a_story(pre_campaign, 1)
    response = organiser_client.post(
        DECIDE, {"story": f"{story.pk}:pending:{story_version(story.text)}", "action": "publish"}
    )
    assert response.status_code == 400
    story.refresh_from_db()
    assert story.status == StoryStatus.PENDING


def test_a_stranger_or_a_visitor_cannot_decide_on_a_story(
    pre_campaign: Any, client: Client, stranger: Any
) -> None:
    story = a_story(pre_campaign, 1)
    anonymous = decide(client, [story], "publish")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    client.force_login(stranger)
    assert decide(client, [story], "publish").status_code == 403
    assert client.get(QUEUE, {"subject": "story"}).status_code == 403
    story.refresh_from_db()
    assert story.status == StoryStatus.PENDING and not ModerationEvent.objects.exists()


def test_a_story_decision_without_a_csrf_token_is_refused(pre_campaign: Any, organiser: Any) -> None:
    story = a_story(pre_campaign, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(organiser)
    assert decide(client, [story], "publish").status_code == 403
    story.refresh_from_db()
    assert story.status == StoryStatus.PENDING


# --- The audit ---------------------------------------------------------------------------------


def test_the_audit_list_in_the_admin_says_which_kind_of_subject(
    pre_campaign: Any, organiser: Any, admin_client: Client
) -> None:
    story = a_story(pre_campaign, 1)
    story_moderate(story_ids=[story.pk], action="publish", actor=organiser)
    page = admin_client.get(
        "/admin/moderation/moderationevent/", {"subject__exact": "story"}
    ).content.decode()
    assert "column-subject" in page and ">Story<" in page
    assert (
        admin_client.get("/admin/moderation/moderationevent/", {"subject__exact": "pledge"})
        .context["cl"]
        .result_count
        == 0
    )


def test_a_pledge_card_does_not_mix_in_its_story_decisions(
    pre_campaign: Any, organiser_client: Client
) -> None:
    story = a_story(pre_campaign, 1)
    story_moderate(story_ids=[story.pk], action="hide", actor=None)
    response = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug})
    [pledge_card] = response.context["cards"]
    [story_card] = response.context["story_cards"]
    assert pledge_card.history == []
    assert [line.event.action for line in story_card.history] == [Action.HIDE]


# --- In a real browser -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_organiser_decides_stories_with_the_keyboard_and_in_bulk(
    live_site: str, pre_campaign: Any, organiser: Any, chromium: Any
) -> None:
    pledge = create_pledge(pre_campaign, 1)
    stories = [a_story(pre_campaign, n) for n in (2, 3, 4, 5)]
    private = a_story(pre_campaign, 6, public=False)
    # Their pledges were decided already: one pledge waits, then the stories.
    told = [story.pledge_id for story in [*stories, private]]
    pledge_moderate(pledge_ids=told, action="publish", actor=organiser)
    context = chromium.new_context(viewport={"width": 1366, "height": 860})
    browser_log_in(context, organiser, live_site)
    page = context.new_page()
    errors = script_errors(page)
    page.goto(f"{live_site}/moderation/?campaign={pre_campaign.slug}")
    page.wait_for_function("() => window.htmx && document.activeElement.classList.contains('mod-card')")
    assert page.locator("#mod-counts .mod-count-stories dd").inner_text() == "4"
    assert page.locator(f"#story-{private.pledge.public_id}").count() == 0
    screenshot(page, "moderation-stories")

    def settle(card_id: str) -> None:
        page.wait_for_function(
            "(id) => !document.getElementById(id)"
            " && !document.querySelector('.mod-card.is-busy, .htmx-request')"
            " && document.activeElement.classList.contains('mod-card')",
            arg=card_id,
            timeout=10_000,
        )

    # j from the pledge's card walks on to the first story; p publishes it.
    assert page.evaluate("document.activeElement.id") == f"pledge-{pledge.public_id}"
    page.keyboard.press("j")
    first = f"story-{stories[0].pledge.public_id}"
    assert page.evaluate("document.activeElement.id") == first
    page.keyboard.press("p")
    settle(first)
    # The next story has the focus: reject it with a reason, by keys alone.
    second = f"story-{stories[1].pledge.public_id}"
    assert page.evaluate("document.activeElement.id") == second
    for key in ("r", "ArrowDown", "Enter"):
        page.keyboard.press(key)
    settle(second)
    # x selects the last two; the bulk bar hides them both.
    for story in stories[2:]:
        page.locator(f"#story-{story.pledge.public_id}").focus()
        page.keyboard.press("x")
    page.locator("#bulk-action").select_option("hide")
    page.get_by_role("button", name="Apply to selected").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.mod-story[data-status=hidden]').length === 2"
        " && !document.querySelector('.htmx-request')"
    )
    assert page.locator("#mod-counts .mod-count-stories dd").inner_text() == "2"
    assert errors == []

    statuses = {s.pk: s.status for s in Story.objects.all()}
    assert [statuses[s.pk] for s in stories] == ["published", "rejected", "hidden", "hidden"]
    assert statuses[private.pk] == StoryStatus.PRIVATE
    assert ModerationEvent.objects.filter(subject=Subject.STORY, actor=organiser).count() == 4
    # The pledges' own decisions stand apart: the setup's five, none from the keys.
    assert ModerationEvent.objects.filter(subject=Subject.PLEDGE).count() == 5
    pledge.refresh_from_db()
    assert pledge.status == Status.PENDING


def test_a_withdrawn_pledges_story_no_longer_waits_in_the_queue(
    pre_campaign: Any, organiser_client: Client
) -> None:
    from pledges.models import Transition
    from pledges.services import pledge_transition

    story = a_story(pre_campaign, 1)
    kept = a_story(pre_campaign, 2)
    pledge_transition(pledge=story.pledge, transition=Transition.WITHDRAW)

    response = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug})

    assert [card.public_id for card in response.context["story_cards"]] == [kept.pledge.public_id]
    assert response.context["counts"].stories == 1


def test_a_story_of_a_withdrawn_pledge_cannot_go_up_but_can_come_down(
    campaign: Any, organiser_client: Client, organiser: Any
) -> None:
    from pledges.models import Transition
    from pledges.services import pledge_transition

    story = a_story(campaign, 1, text="we did the thing we said")
    assert story.status == StoryStatus.PUBLISHED
    story_moderate(story_ids=[story.pk], action="hide", actor=organiser)
    pledge_transition(pledge=story.pledge, transition=Transition.WITHDRAW)

    page = organiser_client.post(
        DECIDE, {"story": item(story), "action": "restore"}, follow=True
    ).content.decode()
    assert "Cannot restore “we did the thing we said”: Its pledge is withdrawn by the pledger." in page
    story.refresh_from_db()
    assert story.status == StoryStatus.HIDDEN

    decide(organiser_client, [story], "reject", reason_code="other")
    story.refresh_from_db()
    assert story.status == StoryStatus.REJECTED
