"""The "sent" record that goes on the wire with SMTP's final dot (changeday.lib.mailsession) is
compiled once per shape and filled in per message: it must say exactly what the ORM says for
that message, and change that message's row alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from changeday.lib import mailsession
from conftest import create_pledge
from pledges.models import EmailKind, OutboxEmail
from pledges.services import outbox_queue
from reminders.models import DeliveryStatus, ReminderDelivery

pytestmark = pytest.mark.postgres_only("only PostgreSQL writes the record through the compiled statement")


@pytest.mark.django_db
def test_each_message_s_statement_is_the_one_the_orm_writes_for_it_though_compiled_once() -> None:
    mailsession._compiled_update.cache_clear()
    now = timezone.now()
    messages = [
        (
            OutboxEmail,
            {"pk": 41, "sent_at__isnull": True, "locked_until": now},
            {"sent_at": now, "locked_until": None},
        ),
        (
            OutboxEmail,
            {"pk": 9_000_000_001, "sent_at__isnull": True, "locked_until": now + timedelta(minutes=3)},
            {"sent_at": now + timedelta(seconds=1), "locked_until": None},
        ),
        (
            ReminderDelivery,
            {"pk": 7, "status": DeliveryStatus.SENDING, "claimed_until": now},
            {"status": DeliveryStatus.SENT, "sent_at": now, "claimed_until": None},
        ),
        (
            ReminderDelivery,
            {"pk": 8, "status": DeliveryStatus.SENDING, "claimed_until": now + timedelta(hours=1)},
            {"status": DeliveryStatus.SENT, "sent_at": now - timedelta(days=400), "claimed_until": None},
        ),
        # A None where the others have a value is another shape: IS NULL instead of a parameter.
        (
            OutboxEmail,
            {"pk": 5, "sent_at__isnull": True, "locked_until": None},
            {"sent_at": now, "locked_until": None},
        ),
    ]
    for model, match, values in messages:
        # The reference: the ORM's own compilation of this one message, uncached.
        sql, params = mailsession.orm_update_statement(model, match, values)
        assert mailsession._update_statement(model, match, values) == (sql, list(params))
    cached = mailsession._compiled_update.cache_info()
    assert (cached.misses, cached.hits) == (3, 2)


@pytest.mark.django_db(transaction=True)
def test_recording_one_email_sent_changes_its_row_only_and_only_while_the_claim_is_ours(
    campaign: Any,
) -> None:
    locked_until = timezone.now() + timedelta(minutes=5)
    first, second = (
        outbox_queue(pledge=create_pledge(campaign, n, confirm=False), kind=EmailKind.CONFIRMATION)
        for n in (1, 2)
    )
    OutboxEmail.objects.filter(pk__in=[first.pk, second.pk]).update(locked_until=locked_until)
    dots: list[int] = []

    def record(outbox: OutboxEmail, claim_until: Any, sent_at: Any) -> bool:
        return mailsession.record_sent(
            model=OutboxEmail,
            pk=outbox.pk,
            claim={"sent_at__isnull": True, "locked_until": claim_until},
            values={"sent_at": sent_at, "locked_until": None},
            send_dot=lambda: dots.append(outbox.pk),
            what=f"Outbox email {outbox.pk}",
        )

    sent_at = timezone.now().replace(microsecond=123456)
    assert record(second, locked_until, sent_at) is True
    # Another worker's claim (a different lock) matches nothing: not recorded, logged instead.
    assert record(first, locked_until + timedelta(seconds=1), sent_at) is False
    assert dots == [second.pk, first.pk]  # the dot goes with the statement either way

    first.refresh_from_db()
    second.refresh_from_db()
    assert (second.sent_at, second.locked_until) == (sent_at, None)
    assert (first.sent_at, first.locked_until) == (None, locked_until)
