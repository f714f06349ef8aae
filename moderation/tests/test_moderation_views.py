"""The organisers' moderation queue at /moderation/, without and with htmx."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaigns.services import organiser_group_ensure
from moderation.models import ModerationEvent
from moderation.services import pledge_moderate, pledge_report
from outbox.models import OutboxEmail
from pledges.models import EmailKind, Pledge, Status
from pledges.selectors import campaign_totals
from pledges.services import campaign_recompute_totals, pledge_confirm, pledge_create

QUEUE = "/moderation/"
DECIDE = "/moderation/decide/"


def make_pledge(
    campaign: Any,
    n: int,
    *,
    text: str | None = None,
    sectors: list[str] | None = None,
    email: str | None = None,
    confirm: bool = True,
    now: Any = None,
) -> Pledge:
    pledge = pledge_create(
        campaign=campaign,
        text=text or f"share one good idea a week with team number {n}",
        display_name=f"Pledger {n}",
        is_anonymous=False,
        role="Care worker",
        organisation="Kirklees Council",
        region="north-west",
        kind="personal",
        sectors=sectors or ["social-care"],
        email=email or f"pledger{n}@example.org",
        consent_to_publish=True,
        wants_reminders=False,
        submission_token=uuid.uuid4(),
        send_confirmation=False,
        now=now,
    ).pledge
    return pledge_confirm(pledge=pledge, now=now) if confirm else pledge


def make_hidden(campaign: Any, n: int) -> Pledge:
    """Published, then hidden by visitors' reports, as in real life."""
    pledge = make_pledge(campaign, n)
    assert pledge.status == Status.PUBLISHED
    for visitor in range(campaign.report_threshold):
        pledge_report(
            pledge=pledge,
            reporter_key=f"visitor-{n}-{visitor}",
            network_key=f"network-{visitor}",
            reason="offensive",
        )
    pledge.refresh_from_db()
    assert pledge.status == Status.HIDDEN
    return pledge


def make_published(campaign: Any, n: int) -> Pledge:
    pledge = make_pledge(campaign, n)
    assert pledge.status == Status.PUBLISHED
    return pledge


def decide(client: Client, pledge: Pledge, action: str, **extra: str) -> Any:
    data = {"pledge": pledge.public_id, "expected_status": pledge.status, "action": action, **extra}
    return client.post(DECIDE, data)


def queue_order(response: Any) -> list[str]:
    return [card.pledge.public_id for card in response.context["cards"]]


@pytest.fixture
def organiser_client(client: Client, organiser: Any) -> Client:
    client.force_login(organiser)
    return client


@pytest.fixture
def second_organiser(django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user(username="second@example.org", password="pw-second-1")
    user.groups.add(organiser_group_ensure())
    return user


# --- Who may see and use the queue ---------------------------------------------------------------

EVERY_URL_AND_METHOD = [(QUEUE, "get"), (QUEUE, "post"), (DECIDE, "get"), (DECIDE, "post")]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "method"), EVERY_URL_AND_METHOD)
def test_every_moderation_url_sends_an_anonymous_visitor_to_log_in(
    client: Client, url: str, method: str
) -> None:
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "method"), EVERY_URL_AND_METHOD)
def test_every_moderation_url_refuses_a_signed_in_stranger(
    client: Client, stranger: Any, url: str, method: str
) -> None:
    client.force_login(stranger)
    assert getattr(client, method)(url).status_code == 403


@pytest.mark.django_db
def test_a_stranger_cannot_decide_anything(client: Client, stranger: Any, pre_campaign: Any) -> None:
    pledge = make_pledge(pre_campaign, 1)
    client.force_login(stranger)
    assert decide(client, pledge, "publish").status_code == 403
    pledge.refresh_from_db()
    assert pledge.status == Status.PENDING
    assert not ModerationEvent.objects.exists()


@pytest.mark.django_db
def test_a_decision_posted_without_a_csrf_token_is_refused_and_changes_nothing(
    organiser: Any, pre_campaign: Any
) -> None:
    pledge = make_pledge(pre_campaign, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(organiser)
    response = decide(client, pledge, "publish")
    assert response.status_code == 403
    pledge.refresh_from_db()
    assert pledge.status == Status.PENDING
    assert not ModerationEvent.objects.exists()


@pytest.mark.django_db
def test_the_page_carries_a_csrf_token_for_forms_and_htmx(
    organiser_client: Client, pre_campaign: Any
) -> None:
    make_pledge(pre_campaign, 1)
    html = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug}).content.decode()
    assert "csrfmiddlewaretoken" in html
    assert "hx-headers" in html and "X-CSRFToken" in html


# --- What the queue shows --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_queue_shows_hidden_then_flagged_then_the_oldest_waiting_with_counts(
    organiser_client: Client, pre_campaign: Any, campaign: Any
) -> None:
    older_waiting = make_pledge(pre_campaign, 1)
    newer_waiting = make_pledge(pre_campaign, 2)
    flagged = make_pledge(pre_campaign, 3, text="read https://example.com/tips to every new starter")
    assert flagged.flags == ["link"]
    # Hidden after reports happens on a published pledge: make it in the post-moderated
    # campaign, then look at both queues.
    hidden = make_hidden(campaign, 4)
    flagged_post = make_pledge(campaign, 5, text="put www.example.org/ideas on the staff room wall")
    assert flagged_post.status == Status.PENDING and flagged_post.flags
    make_published(campaign, 6)  # decided: not in the queue

    response = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug})
    assert response.status_code == 200
    assert queue_order(response) == [flagged.public_id, older_waiting.public_id, newer_waiting.public_id]
    counts = response.context["counts"]
    assert (counts.hidden, counts.flagged, counts.waiting, counts.total) == (0, 1, 2, 3)

    response = organiser_client.get(QUEUE, {"campaign": campaign.slug})
    assert queue_order(response) == [hidden.public_id, flagged_post.public_id]
    counts = response.context["counts"]
    assert (counts.hidden, counts.flagged, counts.waiting) == (1, 1, 0)
    html = response.content.decode()
    assert "Hidden after reports" in html and "Flagged by screening" in html


@pytest.mark.django_db
def test_the_queue_defaults_to_the_current_campaign(organiser_client: Client, campaign: Any) -> None:
    pledge = make_pledge(campaign, 1, text="put www.example.org/ideas on the staff room wall")
    response = organiser_client.get(QUEUE)
    assert response.context["view"].campaign == campaign
    assert queue_order(response) == [pledge.public_id]


@pytest.mark.django_db
def test_the_queue_filters_by_sector_flag_and_status(organiser_client: Client, pre_campaign: Any) -> None:
    nhs = make_pledge(pre_campaign, 1, sectors=["nhs"])
    housing_and_nhs = make_pledge(pre_campaign, 2, sectors=["housing", "nhs"])
    housing_link = make_pledge(
        pre_campaign, 3, sectors=["housing"], text="put https://example.org on a poster"
    )
    published = make_pledge(pre_campaign, 4, sectors=["housing"])
    pledge_moderate(pledge_ids=[published.pk], action="publish", actor=None)

    def ids(**params: str) -> set[str]:
        response = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug, **params})
        assert response.status_code == 200
        return set(queue_order(response))

    assert ids(sector="housing") == {housing_and_nhs.public_id, housing_link.public_id}
    assert ids(sector="nhs") == {nhs.public_id, housing_and_nhs.public_id}
    assert ids(flag="link") == {housing_link.public_id}
    assert ids(flag="link", sector="nhs") == set()
    assert ids(status="published") == {published.public_id}
    assert ids(status="published", sector="nhs") == set()


@pytest.mark.django_db
def test_a_card_shows_what_the_decision_needs_and_never_the_pledgers_email(
    organiser_client: Client, campaign: Any, organiser: Any
) -> None:
    hidden = make_hidden(campaign, 1)
    pledge_moderate(pledge_ids=[hidden.pk], action="restore", actor=organiser)
    hidden.refresh_from_db()
    # Its count of reports already passed the threshold: one more hides it again.
    pledge_report(pledge=hidden, reporter_key="one-more", network_key="another-network", reason="spam")
    hidden.refresh_from_db()
    assert hidden.status == Status.HIDDEN

    html = organiser_client.get(QUEUE, {"campaign": campaign.slug}).content.decode()
    assert hidden.text in html
    for shown in ("Pledger 1", "Care worker", "Kirklees Council", "North West", "Social care"):
        assert shown in html
    assert "4 reports" in html
    assert "It is offensive or abusive ×3; It is spam or advertising" in html
    # History: who, and from -> to.
    assert "organiser@example.org: restore, hidden after reports → published" in html
    assert "Automatic (reports): hidden after reports, published → hidden after reports" in html
    # The actions a hidden pledge allows, and no others.
    card_actions = set(re.findall(r'name="action" value="([a-z]+)"', html))
    assert card_actions == {"restore", "reject"}
    assert "pledger1@example.org" not in html and "@example.org" not in html.replace(
        "organiser@example.org", ""
    )


@pytest.mark.django_db
def test_a_card_labels_the_screening_flags(organiser_client: Client, pre_campaign: Any) -> None:
    make_pledge(pre_campaign, 1, text="email me at nurse.sam@example.net to join the walking group")
    html = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug}).content.decode()
    assert "Email address or phone number in the text" in html
    # The screened text is shown (it is the pledge); the pledger's own address is not.
    assert "pledger1@example.org" not in html


@pytest.mark.django_db
def test_the_queue_takes_as_many_queries_for_30_pledges_as_for_5(
    organiser_client: Client, campaign: Any, organiser: Any
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = organiser_client.get(QUEUE, {"campaign": campaign.slug})
        assert response.status_code == 200
        return len(captured.captured_queries)

    def add(start: int, count: int) -> None:
        for n in range(start, start + count):
            pledge = make_hidden(campaign, n)
            if n % 2:
                pledge_moderate(pledge_ids=[pledge.pk], action="restore", actor=organiser)
                pledge_moderate(pledge_ids=[pledge.pk], action="hide", actor=organiser)

    add(0, 5)
    few = queries()
    add(5, 25)
    assert len(organiser_client.get(QUEUE, {"campaign": campaign.slug}).context["cards"]) == 30
    assert queries() == few


@pytest.mark.django_db
def test_the_queue_shows_the_first_fifty_and_says_how_many_wait(
    organiser_client: Client, pre_campaign: Any
) -> None:
    for n in range(53):
        make_pledge(pre_campaign, n)
    response = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug})
    assert len(response.context["cards"]) == 50
    assert "Showing the first 50 of 53" in response.content.decode()


@pytest.mark.django_db
def test_an_empty_queue_says_so(organiser_client: Client, campaign: Any) -> None:
    response = organiser_client.get(QUEUE)
    assert response.status_code == 200
    assert "The queue is clear." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"campaign": "no-such-campaign"}, "That campaign does not exist"),
        ({"status": "withdrawn"}, "Choose a status from the list."),
        ({"sector": "dentistry"}, "Choose a sector from the list."),
        ({"flag": "nonsense"}, "Choose a screening flag from the list."),
    ],
)
def test_a_bad_filter_answers_400_with_a_message(
    organiser_client: Client, campaign: Any, params: dict[str, str], message: str
) -> None:
    response = organiser_client.get(QUEUE, params)
    assert response.status_code == 400
    assert message in response.content.decode()


# --- Decisions without JavaScript ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "action", "to", "delta"),
    [
        ("pending", "publish", Status.PUBLISHED, +1),
        ("pending", "hide", Status.HIDDEN, 0),
        ("published", "hide", Status.HIDDEN, -1),
        ("hidden", "restore", Status.PUBLISHED, +1),
        ("published", "reject", Status.REJECTED, -1),
        ("hidden", "reject", Status.REJECTED, 0),
    ],
)
def test_each_decision_moves_the_status_records_the_organiser_and_moves_the_counters(
    organiser_client: Client, organiser: Any, campaign: Any, start: str, action: str, to: str, delta: int
) -> None:
    pledge = {
        "pending": lambda: make_pledge(campaign, 1, text="put www.example.org/ideas on the staff room wall"),
        "published": lambda: make_published(campaign, 1),
        "hidden": lambda: make_hidden(campaign, 1),
    }[start]()
    assert pledge.status == start
    before = campaign_totals(campaign=campaign)

    response = decide(
        organiser_client, pledge, action, reason_code="offensive", return_to=f"campaign={campaign.slug}"
    )

    assert response.status_code == 302
    assert response["Location"] == f"/moderation/?campaign={campaign.slug}"
    pledge.refresh_from_db()
    assert pledge.status == to
    event = ModerationEvent.objects.get(pledge=pledge, action=action)
    assert (event.actor, event.from_status, event.to_status) == (organiser, start, to)
    after = campaign_totals(campaign=campaign)
    assert after.total - before.total == delta
    assert after.by_sector["social-care"] - before.by_sector["social-care"] == delta
    assert campaign_recompute_totals(campaign=campaign) == {}
    page = organiser_client.get(response["Location"]).content.decode()
    assert f"“{pledge.text[:40]}" in page  # the message names the pledge decided


@pytest.mark.django_db
def test_a_decided_pledge_leaves_the_queue(organiser_client: Client, pre_campaign: Any) -> None:
    first, second = make_pledge(pre_campaign, 1), make_pledge(pre_campaign, 2)
    decide(organiser_client, first, "publish")
    response = organiser_client.get(QUEUE, {"campaign": pre_campaign.slug})
    assert queue_order(response) == [second.public_id]
    assert response.context["counts"].waiting == 1


@pytest.mark.django_db
def test_rejecting_records_the_reason_and_queues_a_rejection_email(
    organiser_client: Client, organiser: Any, pre_campaign: Any
) -> None:
    pledge = make_pledge(pre_campaign, 1)
    response = decide(
        organiser_client, pledge, "reject", reason_code="not-a-pledge", reason_text="Please write a promise."
    )
    assert response.status_code == 302
    pledge.refresh_from_db()
    assert pledge.status == Status.REJECTED
    assert pledge.rejection_reason == "Not a pledge: Please write a promise."
    event = ModerationEvent.objects.get(pledge=pledge)
    assert (event.reason_code, event.reason_text, event.actor) == (
        "not-a-pledge",
        "Please write a promise.",
        organiser,
    )
    assert list(OutboxEmail.objects.filter(subject_id=pledge.pk).values_list("kind", flat=True)) == [
        EmailKind.REJECTED
    ]


@pytest.mark.django_db
def test_bulk_publishing_twenty_pledges_publishes_them_all_in_one_go(
    organiser_client: Client, organiser: Any, pre_campaign: Any
) -> None:
    pledges = [make_pledge(pre_campaign, n) for n in range(20)]
    response = organiser_client.post(
        DECIDE,
        {"action": "publish", "pledge": [f"{p.public_id}:{p.status}" for p in pledges], "return_to": ""},
    )
    assert response.status_code == 302
    assert Pledge.objects.filter(campaign=pre_campaign, status=Status.PUBLISHED).count() == 20
    assert ModerationEvent.objects.filter(actor=organiser, action="publish").count() == 20
    assert campaign_totals(campaign=pre_campaign).total == 20
    assert "Published 20 pledges." in organiser_client.get(response["Location"]).content.decode()


@pytest.mark.django_db
def test_select_all_on_the_page_works_without_javascript(organiser_client: Client, pre_campaign: Any) -> None:
    pledges = [make_pledge(pre_campaign, n) for n in range(4)]
    response = organiser_client.post(
        DECIDE,
        {
            "action": "reject",
            "reason_code": "spam",
            "all_on_page": "on",
            "page_item": [f"{p.public_id}:{p.status}" for p in pledges],
        },
    )
    assert response.status_code == 302
    assert Pledge.objects.filter(status=Status.REJECTED).count() == 4


@pytest.mark.django_db
def test_a_bulk_rejection_needs_a_reason(organiser_client: Client, pre_campaign: Any) -> None:
    pledges = [make_pledge(pre_campaign, n) for n in range(3)]
    response = organiser_client.post(
        DECIDE, {"action": "reject", "pledge": [f"{p.public_id}:{p.status}" for p in pledges]}
    )
    assert response.status_code == 400
    assert "Choose a reason for rejecting from the list." in response.content.decode()
    assert not Pledge.objects.filter(status=Status.REJECTED).exists()


@pytest.mark.django_db
def test_a_stale_decision_is_reported_as_already_decided_and_not_recorded_twice(
    organiser_client: Client, organiser: Any, second_organiser: Any, pre_campaign: Any
) -> None:
    pledge = make_pledge(pre_campaign, 1)
    seen = pledge.status
    # Someone else publishes it while this organiser's page is open.
    pledge_moderate(pledge_ids=[pledge.pk], action="publish", actor=second_organiser)

    response = organiser_client.post(
        DECIDE, {"pledge": pledge.public_id, "expected_status": seen, "action": "hide"}, follow=True
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Already published by someone else" in html
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED
    assert ModerationEvent.objects.filter(pledge=pledge).count() == 1
    assert not ModerationEvent.objects.filter(actor=organiser).exists()


@pytest.mark.django_db
def test_two_organisers_deciding_the_same_pledge_send_one_email(
    client: Client, organiser: Any, second_organiser: Any, pre_campaign: Any
) -> None:
    pledge = make_pledge(pre_campaign, 1)
    other = Client()
    client.force_login(organiser)
    other.force_login(second_organiser)

    first = decide(client, pledge, "publish")
    second = other.post(
        DECIDE, {"pledge": pledge.public_id, "expected_status": "pending", "action": "publish"}, follow=True
    )

    assert first.status_code == 302
    assert "Already published by someone else" in second.content.decode()
    assert OutboxEmail.objects.filter(subject_id=pledge.pk, kind=EmailKind.PUBLISHED).count() == 1
    assert list(ModerationEvent.objects.filter(pledge=pledge).values_list("actor", flat=True)) == [
        organiser.pk
    ]
    assert campaign_totals(campaign=pre_campaign).total == 1


@pytest.mark.django_db
def test_an_action_the_status_does_not_allow_is_explained(
    organiser_client: Client, pre_campaign: Any
) -> None:
    pledge = make_pledge(pre_campaign, 1)
    response = decide(organiser_client, pledge, "restore")
    page = organiser_client.get(response["Location"]).content.decode()
    assert "Cannot restore a pledge that is awaiting moderation" in page
    pledge.refresh_from_db()
    assert pledge.status == Status.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "publish"}, "Select at least one pledge or story first."),
        ({"action": "delete", "pledge": "{id}:pending"}, "Choose publish, reject, hide or restore."),
        ({"pledge": "{id}:pending"}, "Choose publish, reject, hide or restore."),
        ({"action": "publish", "pledge": "nosuchpledge99:pending"}, "Those pledges no longer exist."),
        ({"action": "publish", "pledge": "{id}"}, "That selection is out of date."),
        ({"action": "publish", "pledge": "'; DROP TABLE--"}, "That selection is out of date."),
        ({"action": "publish", "pledge": "{id}:sleeping"}, "That selection is out of date."),
        (
            {"action": "publish", "pledge": "{id}", "expected_status": "sleeping"},
            "That selection is out of date.",
        ),
        ({"action": "reject", "pledge": "{id}:pending"}, "Choose a reason for rejecting from the list."),
        (
            {"action": "reject", "pledge": "{id}:pending", "reason_code": "bored"},
            "Choose a reason for rejecting",
        ),
        (
            {"action": "reject", "pledge": "{id}:pending", "reason_code": "spam", "reason_text": "x" * 501},
            "Keep the reason to 500 characters or fewer.",
        ),
        ({"action": "publish", "pledge": ["{id}:pending"] * 201}, "Decide on at most 200 pledges at once."),
    ],
)
def test_a_bad_decision_answers_400_with_a_message_and_changes_nothing(
    organiser_client: Client, pre_campaign: Any, data: dict[str, Any], message: str
) -> None:
    pledge = make_pledge(pre_campaign, 1)

    def fill(value: Any) -> Any:
        if isinstance(value, list):
            return [fill(item) for item in value]
        return value.replace("{id}", pledge.public_id)

    for headers in ({}, {"HX-Request": "true"}):
        response = organiser_client.post(DECIDE, {k: fill(v) for k, v in data.items()}, headers=headers)
        assert response.status_code == 400
        assert message in response.content.decode()
    pledge.refresh_from_db()
    assert pledge.status == Status.PENDING
    assert not ModerationEvent.objects.exists()


@pytest.mark.django_db
def test_a_selection_with_some_vanished_pledges_decides_the_rest(
    organiser_client: Client, pre_campaign: Any
) -> None:
    pledge = make_pledge(pre_campaign, 1)
    response = organiser_client.post(
        DECIDE,
        {"action": "publish", "pledge": [f"{pledge.public_id}:pending", "gone2345:pending"]},
        follow=True,
    )
    html = response.content.decode()
    assert "1 of the selected pledges no longer exist." in html
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED


# --- Decisions with htmx -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_htmx_decision_returns_a_partial_that_removes_the_card_and_updates_the_counts(
    organiser_client: Client, pre_campaign: Any
) -> None:
    first, second = make_pledge(pre_campaign, 1), make_pledge(pre_campaign, 2)
    response = organiser_client.post(
        DECIDE,
        {
            "pledge": first.public_id,
            "expected_status": "pending",
            "action": "publish",
            "return_to": f"campaign={pre_campaign.slug}",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "<body" not in html
    assert "Published “" in html
    assert f'id="pledge-{first.public_id}" data-hx-swap-oob="delete"' in html
    assert f"pledge-{second.public_id}" not in html
    assert 'id="mod-counts" data-hx-swap-oob="true"' in html
    assert "<dt>Waiting</dt><dd>1</dd>" in html
    first.refresh_from_db()
    assert first.status == Status.PUBLISHED


@pytest.mark.django_db
def test_an_htmx_decision_that_keeps_the_pledge_in_the_queue_redraws_its_card(
    organiser_client: Client, pre_campaign: Any
) -> None:
    pledge = make_pledge(pre_campaign, 1)
    response = organiser_client.post(
        DECIDE,
        {"pledge": pledge.public_id, "expected_status": "pending", "action": "hide"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert f'id="pledge-{pledge.public_id}"' in html and 'hx-swap-oob="outerHTML"' in html
    assert 'data-status="hidden"' in html
    assert "pledger1@example.org" not in html


@pytest.mark.django_db
def test_an_htmx_stale_decision_redraws_the_card_as_it_is_now(
    organiser_client: Client, second_organiser: Any, pre_campaign: Any
) -> None:
    pledge = make_pledge(pre_campaign, 1)
    pledge_moderate(pledge_ids=[pledge.pk], action="hide", actor=second_organiser)
    response = organiser_client.post(
        DECIDE,
        {"pledge": pledge.public_id, "expected_status": "pending", "action": "publish"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "Already hidden" in html
    assert 'data-status="hidden"' in html
    pledge.refresh_from_db()
    assert pledge.status == Status.HIDDEN
