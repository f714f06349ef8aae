"""An address is one address: rows are found by its canonical form
(changeday.lib.emailaddr.canonical_email) exactly, never by a case-insensitive
match that folds look-alike letters together, and never by a lower() that folds
letters outside ASCII."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import uuid
from types import SimpleNamespace
from typing import Any

import django.apps
import pytest
from django.db import connection
from django.test import Client

from campaigns.models import Campaign
from changeday.lib.emailaddr import canonical_email
from conftest import create_pledge
from moderation.models import ModerationEvent
from moderation.services import pledge_moderate
from outbox import services as outbox_services
from outbox.models import OutboxEmail
from pledges import privacy, services
from pledges.models import Pledge, Status
from pledges.privacy import pledger_pledges
from pledges.selectors import campaign_totals
from testsupport.mail import email_text

pytestmark = pytest.mark.django_db

VICTIM = "ann@mail.example"
# A dotless ı: UPPER('maıl') = UPPER('mail') in PostgreSQL, so email__iexact matched the two.
LOOK_ALIKE = "ann@maıl.example"


def _pledge_over_http(campaign: Campaign, data: dict[str, Any], *, email: str, text: str, ip: str) -> Any:
    form = {**data, "email": email, "text": text, "submission_token": str(uuid.uuid4())}
    return Client(REMOTE_ADDR=ip).post(f"/campaigns/{campaign.slug}/pledge/", form)


def _data_link(inbox: Any, email: str) -> str:
    """Ask for the 'your data' link as a visitor does, and read it from the email."""
    assert Client().post("/your-data/", {"email": email}).status_code == 302
    for outbox in OutboxEmail.objects.filter(kind="data-link", sent_at__isnull=True):
        outbox_services.outbox_send(outbox_id=outbox.pk)
    message = inbox.wait_for(1)[-1]
    assert canonical_email(str(message["To"])) == canonical_email(email)
    match = re.search(r"http://testserver(/your-data/\S+/)", email_text(message))
    assert match
    return match[1]


def test_a_look_alike_domain_s_your_data_link_shows_and_erases_only_its_own_pledges(
    campaign: Campaign, pledge_data: dict[str, Any], smtp_inbox: Any
) -> None:
    victim = create_pledge(campaign, 1, email=VICTIM, text="visit every patient waiting over four hours")
    attacker_text = "read every comment card left on our ward"
    response = _pledge_over_http(campaign, pledge_data, email=LOOK_ALIKE, text=attacker_text, ip="192.0.2.50")
    assert response.status_code == 302
    link = _data_link(smtp_inbox, LOOK_ALIKE)

    page = Client().get(link).content.decode()
    assert attacker_text in page
    assert victim.text not in page
    download = json.loads(Client().get(link + "pledges.json").content)
    assert [item["text"] for item in download["pledges"]] == [attacker_text]
    erased = Client().post(link + "delete/")

    assert b"We deleted 1 pledge" in erased.content
    assert Pledge.objects.get(pk=victim.pk).status == Status.PUBLISHED
    assert campaign_totals(campaign=campaign).total == 1
    assert not Pledge.objects.filter(text=attacker_text).exists()


def test_an_address_in_any_ascii_case_or_with_its_domain_in_unicode_or_punycode_is_one_person(
    campaign: Campaign, pledge_data: dict[str, Any], smtp_inbox: Any
) -> None:
    promise = "ask one patient a day what matters to them"
    for n, (email, ip) in enumerate(
        [
            ("Ann@Mail.Example", "192.0.2.61"),
            ("ann@mail.example", "192.0.2.62"),
            ("ann@münchen.example", "192.0.2.63"),
            ("Ann@XN--MNCHEN-3YA.example", "192.0.2.64"),
        ]
    ):
        assert _pledge_over_http(campaign, pledge_data, email=email, text=promise, ip=ip).status_code == 302
        assert (
            _pledge_over_http(campaign, pledge_data, email=email, text=f"{promise} {n}", ip=ip).status_code
            == 302
        )

    # The same promise twice from one address is one pledge; each keeps the address as typed.
    stored = Pledge.objects.filter(text=promise).order_by("pk")
    assert [pledge.email for pledge in stored] == ["Ann@Mail.Example", "ann@münchen.example"]
    assert [pledge.email_canonical for pledge in stored] == ["ann@mail.example", "ann@xn--mnchen-3ya.example"]
    link = _data_link(smtp_inbox, "ANN@mail.example")
    page = Client().get(link).content.decode()
    assert page.count(promise) == 3  # the promise, and its numbers 0 and 1
    assert f"{promise} 2" not in page
    assert len(pledger_pledges(email="ann@MÜNCHEN.example")) == 3


def test_a_letter_outside_ascii_is_not_case_folded_so_two_such_addresses_are_two_people(
    campaign: Campaign,
) -> None:
    promise = "learn the name of every porter on my corridor"
    upper = create_pledge(campaign, 1, email="ÄNN@x.example", text=promise)
    lower = create_pledge(campaign, 2, email="änn@x.example", text=promise)

    assert upper.pk != lower.pk
    assert [p.pk for p in pledger_pledges(email="änn@x.example")] == [lower.pk]
    assert privacy.pledger_data_erase(email="änn@x.example") == 1
    assert Pledge.objects.filter(pk=upper.pk).exists()


def _as_before_the_migration(pledges: list[Pledge]) -> None:
    """Put back what the rows held before 0010: no canonical form, keys from lower()."""
    for pledge in pledges:  # through placeholders: an old key may be another row's new one
        Pledge.objects.filter(pk=pledge.pk).update(email_canonical="", dedupe_key=f"old-{pledge.pk}")
    for pledge in pledges:
        old = f"{pledge.email.strip().lower()}\n{' '.join(pledge.text.split()).lower()}"
        Pledge.objects.filter(pk=pledge.pk).update(dedupe_key=hashlib.sha256(old.encode()).hexdigest())


def _stored_as(pledge: Pledge, text: str) -> Pledge:
    """The pledge as an earlier version stored it: the code now would find it a duplicate."""
    Pledge.objects.filter(pk=pledge.pk).update(text=text)
    pledge.text = text
    return pledge


class _AppsAtMigration0013:
    """Today's models as migration 0013 named them: the audit was pledges' then."""

    def get_model(self, app_label: str, model_name: str) -> Any:
        if (app_label, model_name) == ("pledges", "ModerationEvent"):
            return ModerationEvent
        return django.apps.apps.get_model(app_label, model_name)


def test_the_migration_fills_the_canonical_form_and_merges_pledges_that_are_now_one_keeping_totals_exact(
    campaign: Campaign, organiser: Any
) -> None:
    promise = "bring my team a cup of tea at the start of each night shift"
    # One promise from one address, typed three ways that lower() told apart: the domain in
    # punycode, in Unicode, and with a fullwidth letter.
    unconfirmed = _stored_as(
        create_pledge(campaign, 1, email="Ann@xn--mnchen-3ya.example", confirm=False), promise
    )
    first = create_pledge(campaign, 2, email="ann@münchen.example", text=promise)
    second = _stored_as(create_pledge(campaign, 3, email="ann@\uff4dünchen.example"), promise)
    elsewhere = create_pledge(campaign, 4, email="bob@example.org")
    pledge_moderate(pledge_ids=[second.pk], action="hide", actor=organiser)
    pledge_moderate(pledge_ids=[second.pk], action="restore", actor=organiser)
    _as_before_the_migration([unconfirmed, first, second, elsewhere])
    assert campaign_totals(campaign=campaign).total == 3

    migration = importlib.import_module("pledges.migrations.0013_email_canonical")
    migration.backfill(_AppsAtMigration0013(), SimpleNamespace(connection=connection))

    # The published one is kept over the earlier unconfirmed one, and the earlier of
    # the two published; the others go as an erasure deletes them.
    assert set(Pledge.objects.values_list("pk", flat=True)) == {first.pk, elsewhere.pk}
    assert Pledge.objects.get(pk=first.pk).email_canonical == "ann@xn--mnchen-3ya.example"
    assert Pledge.objects.get(pk=elsewhere.pk).email_canonical == "bob@example.org"
    assert ModerationEvent.objects.filter(pledge=None).count() == 2
    assert campaign_totals(campaign=campaign).total == 2
    assert services.campaign_recompute_totals(campaign=campaign) == {}
    # The kept pledge has the key the code now makes: the same promise again finds it.
    again = create_pledge(campaign, 5, email="ANN@münchen.example", text=promise, confirm=False)
    assert again.pk == first.pk
