"""At most three pledge confirmations reach one address in any hour, however many
pledges (in however many campaigns, from however many networks) name it: the
pledge form cannot be used to flood someone's inbox. A further pledge is stored
and answered as any other; its confirmation waits in the outbox until the hour
allows."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from outbox import services as outbox_services
from outbox.models import OutboxEmail
from pledges import privacy, services
from pledges.models import EmailKind, Pledge
from reminders.models import SIGNUP_CONFIRMATION_EMAIL
from reminders.services import reminder_signup_create

TARGET = "someone.else@example.org"
HOUR = timedelta(hours=1)

needs_broker = pytest.mark.redis("the Celery broker")


def _pledge_over_http(campaign: Campaign, data: dict[str, Any], *, email: str, ip: str, n: int) -> Any:
    form = {
        **data,
        "email": email,
        "text": f"{data['text']}, week {n}",
        "submission_token": str(uuid.uuid4()),
    }
    return Client(REMOTE_ADDR=ip).post(f"/campaigns/{campaign.slug}/pledge/", form)


def _pledge(campaign: Campaign, n: int, *, email: str = TARGET, token: uuid.UUID | None = None) -> Any:
    return services.pledge_create(
        campaign=campaign,
        text=f"thank the cleaners on my ward by name, week {n}",
        display_name="",
        is_anonymous=True,
        role="Nurse",
        organisation="",
        region="london",
        kind="personal",
        sectors=["nhs"],
        email=email,
        consent_to_publish=True,
        wants_reminders=False,
        submission_token=token or uuid.uuid4(),
    )


def _confirmations(email: str = TARGET) -> list[OutboxEmail]:
    return list(
        OutboxEmail.objects.filter(
            kind=EmailKind.CONFIRMATION,
            subject_id__in=Pledge.objects.filter(email_canonical=email).values("pk"),
        ).order_by("pk")
    )


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_five_pledges_naming_one_address_are_stored_and_answered_alike_and_three_emails_go_now_two_an_hour_on(
    make_campaign: Any, pledge_data: dict[str, Any], smtp_inbox: Any, celery_worker: Any
) -> None:
    campaigns = [make_campaign(name=f"Change Day {n}", slug=f"change-day-{n}") for n in range(5)]
    answers = []
    for n, campaign in enumerate(campaigns):
        # Each from its own network, so no per-network limit is what holds them back.
        response = _pledge_over_http(
            campaign, pledge_data, email="Someone.Else@example.org", ip=f"192.0.2.{80 + n}", n=n
        )
        answers.append(
            (response.status_code, response["Location"], Client().get(response["Location"]).content)
        )
    normal = _pledge_over_http(
        campaigns[4], pledge_data, email="another@example.org", ip="198.51.100.80", n=9
    )

    assert Pledge.objects.filter(email_canonical=TARGET).count() == 5
    # The fifth pledge's answer is exactly a normal pledge's in the same campaign.
    assert answers[4] == (normal.status_code, normal["Location"], Client().get(normal["Location"]).content)
    assert [answer[:2] for answer in answers] == [
        (302, f"/campaigns/{c.slug}/pledge/sent/") for c in campaigns
    ]
    smtp_inbox.wait_for(4)
    time.sleep(2)  # long enough for a fourth email to the address to arrive, were one sent
    assert Counter(str(m["To"]).lower() for m in smtp_inbox.messages) == {TARGET: 3, "another@example.org": 1}

    owed = _confirmations()
    waiting = [outbox for outbox in owed if outbox.sent_at is None]
    assert len(waiting) == 2
    for outbox, counted_from in zip(waiting, owed[:2], strict=True):
        assert outbox.not_before == counted_from.created_at + HOUR
    # Not before then, whatever runs: the beat's drain, or a worker handed the ids.
    soon = timezone.now() + 30 * timedelta(minutes=1)
    assert outbox_services.outbox_claim_overdue(now=soon) == []
    assert outbox_services.outbox_send_many(outbox_ids=[o.pk for o in waiting], now=soon) == 0

    later = max(outbox.not_before for outbox in waiting) + timedelta(minutes=1)
    due = outbox_services.outbox_claim_overdue(now=later)
    assert sorted(due) == [outbox.pk for outbox in waiting]
    assert outbox_services.outbox_send_many(outbox_ids=due, now=later) == 2
    smtp_inbox.wait_for(6)
    assert Counter(str(m["To"]).lower() for m in smtp_inbox.messages)[TARGET] == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only("concurrent writers: SQLite serialises them")
def test_two_pledges_at_the_same_moment_cannot_both_take_an_address_s_third_confirmation_of_the_hour(
    campaign: Campaign,
) -> None:
    _pledge(campaign, 1)
    _pledge(campaign, 2)
    first_stored, let_first_commit, second_done = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                _pledge(campaign, 3)
                first_stored.set()
                let_first_commit.wait(10)
        finally:
            connection.close()

    def second() -> None:
        try:
            first_stored.wait(10)
            _pledge(campaign, 4)
            second_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_stored.wait(10)
    # The second waits for the address while the first, which took the third slot, is uncommitted.
    assert not second_done.wait(1.0)
    let_first_commit.set()
    for thread in threads:
        thread.join(10)

    assert second_done.is_set()
    assert [outbox.not_before is None for outbox in _confirmations()] == [True, True, True, False]


@pytest.mark.django_db
def test_a_lost_link_asked_for_again_waits_its_turn_too(campaign: Campaign) -> None:
    token = uuid.uuid4()
    _pledge(campaign, 1, token=token)
    _pledge(campaign, 2)
    _pledge(campaign, 3)

    again = _pledge(campaign, 1)  # the same promise from a new form: its link is sent again

    assert not again.created
    resent = _confirmations()[-1]
    assert resent.subject_id == again.pledge.pk
    assert resent.not_before == _confirmations()[0].created_at + HOUR


@pytest.mark.django_db
def test_another_address_and_remind_me_confirmations_are_not_held_back(
    campaign: Campaign, make_campaign: Any
) -> None:
    for n in range(4):
        _pledge(campaign, n)
    _pledge(campaign, 9, email="another@example.org")
    for n in range(4):
        reminder_signup_create(campaign=make_campaign(name=f"Day {n}", slug=f"day-{n}"), email=TARGET)

    assert [outbox.not_before for outbox in _confirmations("another@example.org")] == [None]
    signups = OutboxEmail.objects.filter(kind=SIGNUP_CONFIRMATION_EMAIL)
    assert signups.count() == 4 and not signups.filter(not_before__isnull=False).exists()


@pytest.mark.django_db
def test_a_confirmation_that_could_not_go_within_a_link_s_lifetime_is_not_owed_and_waiting_ones_are_kept(
    campaign: Campaign, settings: Any
) -> None:
    settings.PLEDGE_CONFIRMATION_MAX_AGE = HOUR
    for n in range(7):
        _pledge(campaign, n)

    owed = _confirmations()
    assert [outbox.not_before is None for outbox in owed] == [True] * 3 + [False] * 3
    assert not OutboxEmail.objects.filter(
        subject_id__in=Pledge.objects.filter(text__endswith="week 6").values("pk")
    ).exists()
    # Over an hour on, the pledges whose confirmations still wait are not purged.
    purged = privacy.pledge_purge_unconfirmed(now=owed[0].created_at + HOUR + timedelta(minutes=30))
    assert purged == 4  # the three sent at once and the one never owed
    assert sorted(Pledge.objects.values_list("pk", flat=True)) == sorted(o.subject_id for o in owed[3:])
