from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conftest import create_pledge
from outbox.services import outbox_claim_overdue, outbox_send
from reminders.models import ReminderSignup, SignupStatus
from reminders.tests.helpers import reminder, run_due
from testsupport.mail import email_text

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_up(client: Client, campaign: Any, email: str) -> Any:
    return client.post(f"/campaigns/{campaign.slug}/remind-me/", {"email": email})


def _confirm_path(message: Any) -> str:
    return re.search(r"http://testserver(/reminders/confirm/\S+/)", email_text(message)).group(1)


def test_a_visitor_signs_up_on_the_campaign_page_and_confirms_by_email(
    campaign: Any, smtp_inbox: Any, celery_worker: Any
) -> None:
    client = Client()
    page = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    assert f'action="/campaigns/{campaign.slug}/remind-me/"' in page
    assert "Remind me" in page

    response = _sign_up(client, campaign, "  Nurse.Jo@Example.org ")
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.slug}/remind-me/sent/"
    assert "Check your email" in client.get(response["Location"]).content.decode()

    (message,) = smtp_inbox.wait_for(1)
    # Sent to the address as typed (trimmed); its canonical form is only for finding it.
    assert str(message["To"]) == "Nurse.Jo@Example.org"
    assert message["Subject"] == f"Confirm your reminders for {campaign.name}"
    path = _confirm_path(message)

    # The link only shows a button: a mail scanner opening it opts nobody in.
    assert "Yes, remind me" in client.get(path).content.decode()
    assert ReminderSignup.objects.get().status == SignupStatus.UNCONFIRMED
    done = Client(enforce_csrf_checks=False).post(path)
    assert "You will get reminders" in done.content.decode()
    signup = ReminderSignup.objects.get()
    assert signup.status == SignupStatus.CONFIRMED
    # Again, harmlessly.
    assert "You will get reminders" in client.post(path).content.decode()


def test_the_answer_is_the_same_for_a_new_address_and_one_already_signed_up(
    campaign: Any, smtp_inbox: Any, celery_worker: Any
) -> None:
    first = _sign_up(Client(), campaign, "same@example.org")
    smtp_inbox.wait_for(1)
    Client().post(_confirm_path(smtp_inbox.messages[0]))
    again = _sign_up(Client(), campaign, "SAME@example.org")
    create_pledge(campaign, 1, email="pledged@example.org")
    pledged = _sign_up(Client(), campaign, "pledged@example.org")

    assert first.status_code == again.status_code == pledged.status_code == 302
    assert first["Location"] == again["Location"] == pledged["Location"]
    assert ReminderSignup.objects.filter(email="same@example.org").count() == 1
    smtp_inbox.wait_for(2)
    # A confirmed address is not mailed again just because someone typed it in.
    assert [str(m["To"]) for m in smtp_inbox.messages] == ["same@example.org", "pledged@example.org"]


def test_confirmation_emails_to_one_address_are_bounded(
    campaign: Any, smtp_inbox: Any, celery_worker: Any
) -> None:
    for _ in range(8):
        _sign_up(Client(), campaign, "target@example.org")
    smtp_inbox.wait_for(5)
    assert len(smtp_inbox.messages) == 5


def test_a_bad_address_gets_a_clear_message_and_a_closed_campaign_takes_no_sign_ups(
    make_campaign: Any,
) -> None:
    campaign = make_campaign()
    response = _sign_up(Client(), campaign, "not an address")
    assert response.status_code == 400
    assert "Enter an email address like name@example.org." in response.content.decode()

    now = timezone.now()
    closed = make_campaign(
        slug="closed-day", opens_at=now - timedelta(days=9), deadline=now - timedelta(days=1)
    )
    response = _sign_up(Client(), closed, "late@example.org")
    assert response.status_code == 403
    assert "nothing left to remind you of" in response.content.decode()
    assert "remind-me" not in Client().get(f"/campaigns/{closed.slug}/").content.decode()
    assert not ReminderSignup.objects.exists()


def test_before_opening_sign_ups_hear_when_pledging_opens(
    make_campaign: Any, smtp_inbox: Any, celery_worker: Any
) -> None:
    now = timezone.now()
    upcoming = make_campaign(slug="soon", opens_at=now + timedelta(days=3))
    page = Client().get(f"/campaigns/{upcoming.slug}/").content.decode()
    assert "Remind me when pledging opens" in page

    _sign_up(Client(), upcoming, "early@example.org")
    Client().post(_confirm_path(smtp_inbox.wait_for(1)[0]))
    opening = reminder(upcoming, anchor="opening", days_before=0, audience="signups")

    run_due(now=opening.due_at() - timedelta(minutes=1))
    run_due(now=opening.due_at() + timedelta(minutes=1))
    messages = smtp_inbox.wait_for(2)
    assert messages[1]["Subject"] == f"Pledging for {upcoming.name} is open"
    assert f"/campaigns/{upcoming.slug}/pledge/" in email_text(messages[1])


def test_a_confirmation_owed_while_the_broker_was_down_is_sent_by_the_drain(
    campaign: Any, smtp_inbox: Any
) -> None:
    from reminders.services import reminder_signup_create

    # Made without a request: nothing queued the task, as with a broker outage.
    signup = reminder_signup_create(campaign=campaign, email="patient@example.org")
    ids = outbox_claim_overdue(now=timezone.now() + timedelta(minutes=2))
    assert len(ids) == 1
    assert outbox_send(outbox_id=ids[0])
    (message,) = smtp_inbox.wait_for(1)
    assert signup.public_id not in message["Subject"]
    assert "/reminders/confirm/" in email_text(message)


def test_unconfirmed_sign_ups_are_purged_after_seven_days_and_confirmed_ones_kept(campaign: Any) -> None:
    from pledges.privacy import unconfirmed_purge
    from reminders.services import reminder_signup_confirm, reminder_signup_create

    now = timezone.now()
    never = reminder_signup_create(campaign=campaign, email="never@example.org")
    kept = reminder_signup_confirm(signup=reminder_signup_create(campaign=campaign, email="kept@example.org"))

    assert unconfirmed_purge(now=now + timedelta(days=6, hours=23))["reminder sign-ups"] == 0
    # created_at is set on insert, and the owed email was made with it: both 8 days old now.
    assert unconfirmed_purge(now=now + timedelta(days=7, minutes=1))["reminder sign-ups"] == 1
    assert not ReminderSignup.objects.filter(pk=never.pk).exists()
    assert ReminderSignup.objects.filter(pk=kept.pk).exists()


def test_erasing_a_pledgers_data_removes_their_sign_up_and_reminder_records(campaign: Any) -> None:
    from pledges.privacy import pledger_data_erase
    from reminders.models import ReminderDelivery
    from reminders.tests.helpers import signup

    create_pledge(campaign, 1, email="Erase.Me@example.org", wants_reminders=True)
    signup(campaign, "erase.me@example.org")
    week = reminder(campaign)
    from reminders.services import reminders_dispatch

    reminders_dispatch(now=week.due_at())
    assert ReminderDelivery.objects.filter(recipient="erase.me@example.org").exists()

    assert pledger_data_erase(email="erase.me@example.org") == 1
    assert not ReminderSignup.objects.filter(email="erase.me@example.org").exists()
    assert not ReminderDelivery.objects.filter(recipient="erase.me@example.org").exists()


def test_a_robot_filling_the_honeypot_is_answered_as_usual_and_nothing_is_stored(campaign: Any) -> None:
    page = Client().get(f"/campaigns/{campaign.slug}/").content.decode()
    assert 'name="website"' in page and 'class="cd-hp" aria-hidden="true"' in page
    response = Client().post(
        f"/campaigns/{campaign.slug}/remind-me/",
        {"email": "bot@example.org", "website": "http://spam.example"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.slug}/remind-me/sent/"
    assert not ReminderSignup.objects.exists()


def test_sign_ups_over_the_rate_limit_get_a_friendly_429_and_nothing_is_stored(
    campaign: Any, settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "remind": (2, 600)}
    client = Client()
    assert _sign_up(client, campaign, "one@example.org").status_code == 302
    assert _sign_up(client, campaign, "two@example.org").status_code == 302
    refused = _sign_up(client, campaign, "three@example.org")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "sign-ups" in refused.content.decode()
    assert sorted(ReminderSignup.objects.values_list("email", flat=True)) == [
        "one@example.org",
        "two@example.org",
    ]
