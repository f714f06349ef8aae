"""Reminders find an address by its canonical form: one person, however they
typed their address, signs up once, hears each reminder once and unsubscribes
once; someone with a look-alike address touches nothing of theirs."""

from __future__ import annotations

import importlib
import time as clock
from collections import Counter
from types import SimpleNamespace
from typing import Any

import django.apps
import pytest
from django.db import connection
from django.test import Client

from conftest import create_pledge
from pledges.models import Pledge
from reminders import services
from reminders.models import ReminderDelivery, ReminderSignup, SignupStatus
from reminders.tests.helpers import reminder, run_due, signup

pytestmark = pytest.mark.django_db


def test_a_remind_me_sign_up_is_one_per_address_however_it_is_typed(campaign: Any) -> None:
    for email in ("Ann@münchen.example", "ann@XN--MNCHEN-3YA.example", "ANN@MÜNCHEN.example"):
        response = Client().post(f"/campaigns/{campaign.slug}/remind-me/", {"email": email})
        assert response.status_code == 302

    (stored,) = ReminderSignup.objects.all()
    assert (stored.email, stored.email_canonical) == ("Ann@münchen.example", "ann@xn--mnchen-3ya.example")


def test_a_reminder_goes_once_to_an_address_that_pledged_twice_and_signed_up_typing_it_three_ways(
    campaign: Any, smtp_inbox: Any
) -> None:
    create_pledge(campaign, 1, email="ann@münchen.example", wants_reminders=True)
    create_pledge(campaign, 2, email="Ann@XN--MNCHEN-3YA.example", wants_reminders=True)
    signup(campaign, "ANN@münchen.example")
    create_pledge(campaign, 3, email="bob@example.org", wants_reminders=True)
    due = reminder(campaign, days_before=7).due_at()

    run_due(now=due)
    smtp_inbox.wait_for(2)
    clock.sleep(0.3)

    assert Counter(str(m["To"]) for m in smtp_inbox.messages) == {
        # The oldest pledge's address as typed (the mail layer writes the domain in punycode).
        "ann@xn--mnchen-3ya.example": 1,
        "bob@example.org": 1,
    }
    assert sorted(ReminderDelivery.objects.values_list("recipient", flat=True)) == [
        "ann@xn--mnchen-3ya.example",
        "bob@example.org",
    ]


def test_the_unsubscribe_link_stops_every_form_of_its_address_and_nothing_of_a_look_alike(
    campaign: Any,
) -> None:
    victim = create_pledge(campaign, 1, email="ann@mail.example", wants_reminders=True)
    victim_signup = signup(campaign, "Ann@Mail.Example")
    # A dotless ı: UPPER() on PostgreSQL made this the victim's address.
    attacker = create_pledge(campaign, 2, email="ann@maıl.example", wants_reminders=True)
    attacker_signup = signup(campaign, "ANN@xn--mal-kua.example")

    token = services.unsubscribe_token(pledge=attacker)
    assert Client().post(f"/reminders/unsubscribe/{token}/").status_code == 200

    assert not Pledge.objects.get(pk=attacker.pk).wants_reminders
    attacker_signup.refresh_from_db()
    assert attacker_signup.status == SignupStatus.UNSUBSCRIBED
    assert Pledge.objects.get(pk=victim.pk).wants_reminders
    victim_signup.refresh_from_db()
    assert victim_signup.status == SignupStatus.CONFIRMED


@pytest.mark.postgres_only("puts rows back as migration 0001 stored them with PostgreSQL's SQL")
def test_the_migration_merges_sign_ups_and_deliveries_that_are_now_one_address(campaign: Any) -> None:
    from django.utils import timezone

    first = signup(campaign, "ann@münchen.example")
    second = signup(campaign, "someone@example.org")
    other = signup(campaign, "bob@example.org")
    # As 0001 stored them: addresses lower-cased, no canonical form, unique on (campaign, email).
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE reminders_remindersignup DROP CONSTRAINT signup_unique_email")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    ReminderSignup.objects.filter(pk=second.pk).update(email="ann@xn--mnchen-3ya.example")
    services.reminders_unsubscribe(campaign=campaign, email="ann@xn--mnchen-3ya.example")
    ReminderSignup.objects.update(email_canonical="")
    now = timezone.now()
    run = services.reminder_run_start(reminder=reminder(campaign, days_before=7), now=now)
    common = {"run": run, "campaign": campaign, "reminder": run.reminder, "next_attempt_at": now}
    pending = ReminderDelivery.objects.create(**common, recipient="ann@münchen.example", signup=first)
    sent = ReminderDelivery.objects.create(
        **common, recipient="ann@xn--mnchen-3ya.example", signup=second, status="sent"
    )

    migration = importlib.import_module("reminders.migrations.0002_email_canonical")
    migration.signups_backfill(django.apps.apps, SimpleNamespace(connection=connection))
    migration.deliveries_backfill(django.apps.apps, SimpleNamespace(connection=connection))

    # The earliest sign-up stays, unsubscribed since one of its forms asked to stop.
    assert set(ReminderSignup.objects.values_list("pk", "email_canonical", "status")) == {
        (first.pk, "ann@xn--mnchen-3ya.example", SignupStatus.UNSUBSCRIBED),
        (other.pk, "bob@example.org", SignupStatus.CONFIRMED),
    }
    # The delivery already sent is the one kept, so no reminder goes twice.
    assert list(ReminderDelivery.objects.values_list("pk", "recipient", "signup_id")) == [
        (sent.pk, "ann@xn--mnchen-3ya.example", first.pk)
    ]
    assert not ReminderDelivery.objects.filter(pk=pending.pk).exists()
