"""One suppression list (outbox.models.Suppression): an address refused for good at RCPT TO, or
that pressed "stop all reminders", gets no reminder from any campaign; emails a person asks for
still go; organisers lift an entry in the admin, saying why."""

from __future__ import annotations

import re
import smtplib
import time as clock
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from campaigns.models import Campaign
from conftest import create_pledge
from outbox import services as outbox_services
from outbox.models import OutboxEmail, Suppression, SuppressionReason
from outbox.selectors import suppressed
from outbox.services import SuppressionError, suppression_add, suppression_add_refused, suppression_lift
from reminders.models import DeliveryStatus, ReminderDelivery
from reminders.tests.helpers import reminder, run_due, signup
from testsupport.mail import email_html, email_text

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def _to(inbox: Any) -> Counter[str]:
    return Counter(str(message["To"]) for message in inbox.messages)


def _second_campaign(make_campaign: Any) -> Campaign:
    return make_campaign(name="Care Day 2027", slug="care-day-2027", hashtag="CareDay")


def _stop_all_path(message: Any) -> str:
    match = re.search(
        r"Stop all reminders from every campaign: http://testserver(/reminders/stop-all/\S+/)",
        email_text(message),
    )
    assert match, "every reminder carries the stop-all link"
    return match[1]


def test_a_reminder_refused_at_rcpt_to_suppresses_the_address_in_every_campaign(
    campaign: Campaign, make_campaign: Any, smtp_inbox: Any
) -> None:
    other = _second_campaign(make_campaign)
    signup(campaign, "gone@example.org")
    signup(campaign, "fine@example.org")
    smtp_inbox.refuse["gone@example.org"] = "550 5.1.1 No such mailbox"
    first = reminder(campaign, days_before=7)
    run_due(now=first.due_at() + MINUTE)
    smtp_inbox.wait_for(1)

    (entry,) = Suppression.objects.all()
    assert (entry.email_canonical, entry.reason) == ("gone@example.org", SuppressionReason.REFUSED)
    assert "550" in entry.detail and "No such mailbox" in entry.detail
    assert ReminderDelivery.objects.get(recipient="gone@example.org").status == DeliveryStatus.FAILED

    # Another campaign, the same person typing their address another way: left out.
    create_pledge(other, 1, email="Gone@Example.org", wants_reminders=True)
    create_pledge(other, 2, email="kept@example.org", wants_reminders=True)
    second = reminder(other, days_before=1)
    run_due(now=second.due_at() + MINUTE)
    smtp_inbox.wait_for(2)
    clock.sleep(0.3)
    assert _to(smtp_inbox) == {"fine@example.org": 1, "kept@example.org": 1}
    assert not ReminderDelivery.objects.filter(reminder=second, recipient="gone@example.org").exists()
    assert Suppression.objects.count() == 1, "one entry an address, however often it is refused"


def test_only_a_5xx_to_rcpt_to_puts_an_address_on_the_list() -> None:
    assert suppression_add_refused(error=smtplib.SMTPDataError(554, b"5.7.1 Message rejected as spam")) == []
    assert (
        suppression_add_refused(error=smtplib.SMTPSenderRefused(550, b"Sender refused", "us@example.org"))
        == []
    )
    busy = smtplib.SMTPRecipientsRefused({"busy@example.org": (451, b"4.3.0 Try again later")})
    assert suppression_add_refused(error=busy) == []
    assert not Suppression.objects.exists()


def test_the_stop_all_link_shows_a_button_and_its_post_stops_reminders_from_every_campaign(
    campaign: Campaign, make_campaign: Any, smtp_inbox: Any
) -> None:
    other = _second_campaign(make_campaign)
    signup(campaign, "done@example.org")
    signup(campaign, "keen@example.org")
    create_pledge(other, 1, email="DONE@example.org", wants_reminders=True)
    create_pledge(other, 2, email="also-keen@example.org", wants_reminders=True)
    first = reminder(campaign, days_before=7)
    run_due(now=first.due_at() + MINUTE)
    messages = smtp_inbox.wait_for(2)
    (message,) = [m for m in messages if str(m["To"]) == "done@example.org"]
    path = _stop_all_path(message)
    assert path in email_html(message)

    client = Client(enforce_csrf_checks=True)
    page = client.get(path)
    assert page.status_code == 200
    assert "Stop all reminders" in page.content.decode()
    assert not Suppression.objects.exists(), "a mail scanner following the link suppresses nobody"

    done = client.post(path, {"csrfmiddlewaretoken": page.context["csrf_token"]})
    assert done.status_code == 200
    assert "All reminders stopped" in done.content.decode()
    # Pressed again: the same answer, still one entry.
    assert client.post(path, {"csrfmiddlewaretoken": page.context["csrf_token"]}).content == done.content
    (entry,) = Suppression.objects.all()
    assert (entry.email_canonical, entry.reason) == ("done@example.org", SuppressionReason.UNSUBSCRIBED)

    second = reminder(campaign, days_before=1)
    third = reminder(other, days_before=1)
    run_due(now=max(second.due_at(), third.due_at()) + MINUTE)
    smtp_inbox.wait_for(4)
    clock.sleep(0.3)
    assert _to(smtp_inbox) == {"done@example.org": 1, "keen@example.org": 2, "also-keen@example.org": 1}


def test_a_forged_stop_all_link_suppresses_nobody(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1, wants_reminders=True)
    forged = f"/reminders/stop-all/p.{pledge.public_id}:1abc:notasignature/"
    assert Client().post(forged).status_code == 400
    assert not Suppression.objects.exists()


def test_someone_suppressed_after_the_run_is_planned_is_skipped(campaign: Campaign, smtp_inbox: Any) -> None:
    from reminders import services

    signup(campaign, "late@example.org")
    signup(campaign, "on-time@example.org")
    week = reminder(campaign)
    now = week.due_at() + MINUTE
    (result,) = services.reminders_dispatch(now=now)
    services.reminders_stop_all(email="LATE@example.org")
    for first_id, last_id in result.batches:
        services.reminder_send_batch(run_id=result.run.pk, first_id=first_id, last_id=last_id, now=now)
    smtp_inbox.wait_for(1)
    clock.sleep(0.2)
    assert _to(smtp_inbox) == {"on-time@example.org": 1}
    skipped = ReminderDelivery.objects.get(recipient="late@example.org")
    assert (skipped.status, skipped.skip_reason) == (DeliveryStatus.SKIPPED, services.SUPPRESSED)


def _send_owed(kind: str) -> None:
    for outbox in OutboxEmail.objects.filter(kind=kind, sent_at__isnull=True, failed_at__isnull=True):
        outbox_services.outbox_send(outbox_id=outbox.pk)


def test_a_suppressed_address_still_gets_the_emails_it_asks_for(
    campaign: Campaign, pledge_data: dict[str, Any], smtp_inbox: Any
) -> None:
    suppression_add(email="sam.patel@example.org", reason=SuppressionReason.UNSUBSCRIBED)
    form = {**pledge_data, "submission_token": str(uuid.uuid4())}
    assert (
        Client(REMOTE_ADDR="203.0.113.7").post(f"/campaigns/{campaign.slug}/pledge/", form).status_code == 302
    )
    _send_owed("confirmation")
    (confirmation,) = smtp_inbox.wait_for(1)
    assert str(confirmation["To"]) == "sam.patel@example.org"
    assert "/pledges/confirm/" in email_text(confirmation)

    assert Client().post("/your-data/", {"email": "Sam.Patel@example.org"}).status_code == 302
    _send_owed("data-link")
    data_link = smtp_inbox.wait_for(2)[-1]
    assert "/your-data/" in email_text(data_link)


def test_a_confirmation_refused_at_rcpt_to_suppresses_its_address(
    campaign: Campaign, pledge_data: dict[str, Any], smtp_inbox: Any
) -> None:
    smtp_inbox.refuse["sam.patel@example.org"] = "550 5.1.1 No such mailbox"
    form = {**pledge_data, "submission_token": str(uuid.uuid4())}
    assert (
        Client(REMOTE_ADDR="203.0.113.8").post(f"/campaigns/{campaign.slug}/pledge/", form).status_code == 302
    )
    _send_owed("confirmation")
    assert OutboxEmail.objects.get(kind="confirmation").failed_at is not None
    assert suppressed(["sam.patel@example.org"]) == {"sam.patel@example.org"}
    assert Suppression.objects.get().reason == SuppressionReason.REFUSED


def test_an_organiser_lifts_an_entry_with_a_reason_and_reminders_go_again(
    campaign: Campaign, organiser: Any, smtp_inbox: Any
) -> None:
    entry = suppression_add(
        email="back@example.org", reason=SuppressionReason.REFUSED, detail="550 No such mailbox"
    )
    signup(campaign, "back@example.org")
    first = reminder(campaign, days_before=7)
    run_due(now=first.due_at() + MINUTE)
    clock.sleep(0.3)
    assert smtp_inbox.messages == []

    client = Client()
    client.force_login(organiser)
    listing = client.get("/admin/outbox/suppression/").content.decode()
    assert "back@example.org" in listing and "No such mailbox" in listing
    url = f"/admin/outbox/suppression/{entry.pk}/change/"
    assert client.get(url).status_code == 200

    refused = client.post(url, {"lift_reason": "  "})
    assert refused.status_code == 200
    assert "This field is required" in refused.content.decode()
    entry.refresh_from_db()
    assert entry.lifted_at is None

    lifted = client.post(url, {"lift_reason": "She wrote in: the mailbox was full, it works now."})
    assert lifted.status_code == 302
    entry.refresh_from_db()
    assert entry.lifted_at is not None and entry.lifted_by == organiser
    assert entry.lift_reason == "She wrote in: the mailbox was full, it works now."
    # Kept as history, and shown.
    assert "back@example.org" in client.get("/admin/outbox/suppression/").content.decode()
    assert suppressed(["back@example.org"]) == set()

    second = reminder(campaign, days_before=1)
    run_due(now=second.due_at() + MINUTE)
    (message,) = smtp_inbox.wait_for(1)
    assert str(message["To"]) == "back@example.org"


def test_lifting_needs_a_reason_and_an_address_can_be_suppressed_again(organiser: Any) -> None:
    entry = suppression_add(email="Twice@Example.org", reason=SuppressionReason.UNSUBSCRIBED)
    assert suppression_add(email="twice@example.org", reason=SuppressionReason.REFUSED) == entry
    with pytest.raises(SuppressionError):
        suppression_lift(suppression=entry, by=organiser, reason=" ")
    suppression_lift(suppression=entry, by=organiser, reason="Asked to hear again")
    again = suppression_add(email="twice@example.org", reason=SuppressionReason.UNSUBSCRIBED)
    assert again.pk != entry.pk
    assert Suppression.objects.filter(email_canonical="twice@example.org").count() == 2
