"""The "sent" record that goes on the wire with SMTP's final dot (outbox.mailsession) is
written out per message: it must match that message's row alone, and only while the claim holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from conftest import create_pledge
from outbox import mailsession
from outbox.models import OutboxEmail
from pledges.models import EmailKind
from pledges.services import pledge_email_queue
from reminders.models import DeliveryStatus, ReminderDelivery


@pytest.mark.django_db
def test_the_sent_statement_matches_the_claim_and_sets_the_values_with_a_parameter_each() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL writes the record through this statement (outbox.pgsend)")
    now = timezone.now()
    sql, params = mailsession.sent_statement(
        ReminderDelivery,
        {"pk": 7, "status": DeliveryStatus.SENDING, "claimed_until": now},
        {"status": DeliveryStatus.SENT, "sent_at": now, "claimed_until": None},
    )
    assert sql == (
        'UPDATE "reminders_reminderdelivery" SET "status" = $1, "sent_at" = $2, "claimed_until" = NULL'
        ' WHERE "id" = $3 AND "status" = $4 AND "claimed_until" = $5'
    )
    assert params == [DeliveryStatus.SENT, now.isoformat(), "7", DeliveryStatus.SENDING, now.isoformat()]
    sql, params = mailsession.sent_statement(
        OutboxEmail, {"pk": 5, "sent_at__isnull": True, "locked_until": None}, {"sent_at": now}
    )
    assert sql.endswith('WHERE "id" = $2 AND "sent_at" IS NULL AND "locked_until" IS NULL')
    assert params == [now.isoformat(), "5"]


@pytest.mark.django_db(transaction=True)
def test_recording_one_email_sent_changes_its_row_only_and_only_while_the_claim_is_ours(
    campaign: Any,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL writes the record through the compiled statement")
    locked_until = timezone.now() + timedelta(minutes=5)
    first, second = (
        pledge_email_queue(pledge=create_pledge(campaign, n, confirm=False), kind=EmailKind.CONFIRMATION)
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
