"""Paper pledges: an organiser types in the cards people filled in at an event, one by one or
from a spreadsheet; each is checked, published or held as an online pledge is, counted once
published, audited as collected on paper; the address is optional, and without one nothing is
ever sent and the pledger withdraws by asking an organiser."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from conftest import create_pledge
from moderation.models import Action, ModerationEvent
from moderation.services import pledge_moderate
from outbox.models import OutboxEmail
from outbox.services import outbox_send
from pledges.models import Channel, Pledge, Status
from pledges.paper import (
    PaperCardTaken,
    PaperEntryError,
    PaperLimitReached,
    paper_reference_normalise,
    pledge_enter_paper,
)
from pledges.paper_import import PAPER_CSV_COLUMNS
from pledges.privacy import pledger_data_erase, pledger_data_request, pledger_pledges
from pledges.screening import FlagReason
from pledges.selectors import campaign_totals
from testsupport.mail import email_html, email_text

pytestmark = pytest.mark.django_db

# An NHS number that passes the modulus 11 check (the NHS's own example).
NHS_NUMBER = "943 476 5919"


def _page(slug: str) -> str:
    return f"/campaigns/{slug}/paper/"


def _client(user: Any, **extra: Any) -> Client:
    client = Client(**extra)
    client.force_login(user)
    return client


def _card(n: int = 12, **overrides: Any) -> dict[str, Any]:
    """A card as an organiser types it into the form."""
    values: dict[str, Any] = {
        "paper_reference": f"ABC-{n:04d}",
        "text": f"learn the name of everyone on the night shift, card {n}",
        "display_name": f"Ade {n}",
        "role": "Porter",
        "organisation": "",
        "region": "london",
        "kind": "personal",
        "sectors": ["nhs"],
        "consent_on_card": "on",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def _enter(campaign: Campaign, organiser: Any, n: int = 12, **overrides: Any) -> Pledge:
    """A card entered through the service, as the page does."""
    values: dict[str, Any] = {
        "paper_reference": f"ABC-{n:04d}",
        "text": f"learn the name of everyone on the night shift, card {n}",
        "display_name": f"Ade {n}",
        "is_anonymous": False,
        "role": "Porter",
        "organisation": "",
        "region": "london",
        "kind": "personal",
        "sectors": ["nhs"],
        "consent_on_card": True,
    }
    values.update(overrides)
    return pledge_enter_paper(campaign=campaign, organiser=organiser, **values)


def _total(campaign: Campaign) -> int:
    return campaign_totals(campaign=campaign).total


def _text(response: Any) -> str:
    return response.content.decode()


# --- One card at a time ----------------------------------------------------------------------


def test_an_organiser_enters_a_card_and_it_is_published_counted_and_audited_as_collected_on_paper(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    page = client.get(_page(campaign.slug))
    assert page.status_code == 200
    assert "Your account can enter 500 more this hour" in _text(page)

    response = client.post(_page(campaign.slug), _card(12, paper_reference=" abc-0012 "))

    pledge = Pledge.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{_page(campaign.slug)}?entered={pledge.public_id}"
    assert (pledge.channel, pledge.paper_reference, pledge.entered_by) == (
        Channel.PAPER,
        "ABC-0012",
        organiser,
    )
    assert pledge.status == Status.PUBLISHED and pledge.confirmed_at and pledge.published_at
    assert pledge.consent_to_publish and pledge.email == pledge.email_canonical == ""
    assert not pledge.wants_reminders and not pledge.wants_follow_through
    assert _total(campaign) == 1
    [event] = ModerationEvent.objects.filter(pledge=pledge)
    assert (event.actor, event.action, event.to_status, event.reason_text) == (
        organiser,
        Action.PAPER_ENTRY,
        Status.PUBLISHED,
        "Card ABC-0012, consent to publish seen by organiser@example.org",
    )
    assert event.get_action_display() == "Collected on paper"
    # No email confirmation, and nobody to write to.
    assert not OutboxEmail.objects.exists()

    after = client.get(response["Location"])
    body = _text(after)
    assert "Card ABC-0012 entered:" in body and "<strong>published</strong>" in body
    assert f'href="/pledges/{pledge.public_id}/"' in body
    # An empty form for the next card, the last card's region offered again.
    assert 'name="paper_reference"' in body and "ABC-0012" not in re.findall(r'value="([^"]*)"', body)
    assert re.search(r'<option value="london" selected>', body)
    assert "Your account can enter 499 more this hour" in body

    wall = _text(Client().get(f"/campaigns/{campaign.slug}/wall/"))
    assert "learn the name of everyone on the night shift, card 12" in wall
    permalink = _text(Client().get(f"/pledges/{pledge.public_id}/"))
    assert "Collected on a paper card and typed in by the campaign's organisers." in permalink


def test_words_and_references_are_stored_as_the_rules_say(campaign: Campaign, organiser: Any) -> None:
    pledge = _enter(campaign, organiser, text="I pledge to… smile at every visitor to the ward")
    assert pledge.text == "smile at every visitor to the ward"
    assert paper_reference_normalise("  xyz-9 ") == "XYZ-9"
    for bad in ("", "ABC 0012", "-ABC", "ABC/12", "A" * 41, "ABC-001\u0131", "ＡＢＣ"):
        with pytest.raises(ValueError):
            paper_reference_normalise(bad)


def test_a_card_without_the_consent_box_ticked_is_refused_and_nothing_is_stored(
    campaign: Campaign, organiser: Any
) -> None:
    response = _client(organiser).post(_page(campaign.slug), _card(consent_on_card=None))

    assert response.status_code == 400
    assert "Only cards on which the pledger ticked the consent box can be entered" in _text(response)
    # What was typed is kept for the organiser to look at again.
    assert "learn the name of everyone on the night shift, card 12" in _text(response)
    with pytest.raises(PaperEntryError, match="consent box"):
        _enter(campaign, organiser, consent_on_card=False)
    assert not Pledge.objects.exists() and not ModerationEvent.objects.exists()


def test_the_audit_says_which_organiser_saw_the_pledgers_consent_on_the_card(
    campaign: Campaign, organiser: Any
) -> None:
    organiser.first_name, organiser.last_name = "Jo", "Bloggs"
    organiser.save()
    pledge = _enter(campaign, organiser, 31)
    client = _client(organiser)

    page = client.get(f"/admin/pledges/pledge/{pledge.pk}/change/").content.decode()

    assert "Collected on paper" in page
    assert "Card ABC-0031, consent to publish seen by Jo Bloggs" in page


def test_the_same_card_entered_twice_is_refused_saying_when_and_by_whom(
    campaign: Campaign, organiser: Any, make_campaign: Any, django_user_model: Any
) -> None:
    organiser.first_name, organiser.last_name = "Jo", "Bloggs"
    organiser.save()
    first = _enter(campaign, organiser, 12)
    colleague = django_user_model.objects.create_superuser("lee@example.org", "lee@example.org", "pw-lee-1")

    response = _client(colleague).post(
        _page(campaign.slug), _card(12, paper_reference="abc-0012", text="something else entirely")
    )

    when = timezone.localtime(first.created_at)
    assert response.status_code == 400
    assert f"Card ABC-0012 was already entered on {when:%-d %B %Y at %H:%M} by Jo Bloggs." in _text(response)
    assert Pledge.objects.count() == 1 and _total(campaign) == 1
    with pytest.raises(PaperCardTaken):
        _enter(campaign, colleague, 12, text="yet another promise from the same card")
    # The same reference in another campaign is another card.
    other = make_campaign(name="Care Day", slug="care-day")
    assert _enter(other, organiser, 12).paper_reference == "ABC-0012"


def test_cards_without_an_address_with_the_same_words_are_different_pledges(
    campaign: Campaign, organiser: Any
) -> None:
    words = "say good morning to every patient I pass"
    one = _enter(campaign, organiser, 1, text=words)
    two = _enter(campaign, organiser, 2, text=words)
    assert one.dedupe_key != two.dedupe_key
    assert _total(campaign) == 2


def test_a_card_with_an_address_tells_its_pledger_once_published_and_verifies_nothing(
    campaign: Campaign, organiser: Any, smtp_inbox: Any
) -> None:
    # nhs.net is a staff domain of this campaign: a pledger confirming from it online shows
    # "verified"; an organiser typing it in proves nothing about who owns it.
    Campaign.objects.filter(pk=campaign.pk).update(staff_domains="nhs.net")
    campaign.refresh_from_db()
    data = _card(
        20, email=" Ade.Okafor@NHS.Net ", wants_reminders="on", wants_follow_through="on", display_name="Ade"
    )
    response = _client(organiser).post(_page(campaign.slug), data)
    assert response.status_code == 302

    pledge = Pledge.objects.get()
    assert (pledge.email, pledge.email_canonical) == ("Ade.Okafor@NHS.Net", "ade.okafor@nhs.net")
    assert pledge.wants_reminders and pledge.wants_follow_through
    assert pledge.verified == ""
    [owed] = OutboxEmail.objects.all()
    assert (owed.kind, owed.subject_id) == ("published", pledge.pk)
    outbox_send(outbox_id=owed.pk)
    [message] = smtp_inbox.wait_for(1)
    assert message["To"] == "Ade.Okafor@NHS.Net"
    assert "is live" in message["Subject"]
    for body in (email_text(message), email_html(message)):
        assert "paper card" in body
        assert f"/pledges/{pledge.public_id}/" in body
        assert "/pledges/withdraw/" in body
    # The address is never on a public page.
    assert "nhs.net" not in _text(Client().get(f"/pledges/{pledge.public_id}/")).lower()
    assert "verified" not in _text(Client().get(f"/pledges/{pledge.public_id}/"))


def test_the_cards_email_boxes_need_an_address_and_a_bad_address_is_refused(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    no_address = client.post(_page(campaign.slug), _card(wants_reminders="on"))
    assert no_address.status_code == 400
    assert "This box needs the email address from the card" in _text(no_address)
    bad = client.post(_page(campaign.slug), _card(email="ade at nhs dot net"))
    assert bad.status_code == 400 and "Enter an email address like name@example.org." in _text(bad)
    with pytest.raises(PaperEntryError, match="need an email address"):
        _enter(campaign, organiser, wants_follow_through=True)
    assert not Pledge.objects.exists()


def test_the_same_promise_from_an_address_already_pledged_online_is_not_entered_again(
    campaign: Campaign, organiser: Any
) -> None:
    create_pledge(campaign, 1, email="sam@example.org", text="bring the team fruit on Fridays")
    with pytest.raises(PaperEntryError, match="already a pledge of the campaign"):
        _enter(
            campaign, organiser, email="SAM@example.org", text="I pledge to bring the team fruit on Fridays"
        )
    assert _total(campaign) == 1


def test_a_card_counts_for_the_organisation_chosen_from_the_directory_or_named_exactly(
    campaign: Campaign, organiser: Any
) -> None:
    from organisations.selectors import organisation_counts_in_campaign
    from pledges.tests.orgdata import make_organisation

    homes = make_organisation("Riverside Care Homes")
    # The type-ahead puts the chosen organisation's slug in the hidden field, as on the pledge form.
    chosen = _client(organiser).post(
        _page(campaign.slug), _card(40, organisation="Riverside", org=homes.slug, sectors=["social-care"])
    )
    assert chosen.status_code == 302
    typed = _upload(_client(organiser), campaign, _csv([_row(41, organisation="riverside care homes")]))
    assert typed.status_code == 302

    assert {p.org_id for p in Pledge.objects.all()} == {homes.pk}
    counts = organisation_counts_in_campaign(campaign_id=campaign.pk, organisation_id=homes.pk)
    assert (counts.pledges, counts.social_care) == (2, 2)


def test_screening_holds_a_paper_pledge_that_may_identify_a_patient(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    text = f"chase the scan results for NHS number {NHS_NUMBER} before the weekend"
    response = client.post(_page(campaign.slug), _card(30, text=text, email="ade@example.org"))

    pledge = Pledge.objects.get()
    assert pledge.status == Status.PENDING and FlagReason.PATIENT_DATA in pledge.flags
    assert _total(campaign) == 0
    # Nothing is sent while it waits, and it is not on the wall or its permalink.
    assert not OutboxEmail.objects.exists()
    assert NHS_NUMBER not in _text(Client().get(f"/campaigns/{campaign.slug}/wall/"))
    assert Client().get(f"/pledges/{pledge.public_id}/").status_code == 404
    body = _text(client.get(response["Location"]))
    assert "<strong>held for review</strong> (screening: may identify a patient)" in body
    queue = _text(client.get(f"/moderation/?campaign={campaign.slug}"))
    assert "Collected on paper, card ABC-0030" in queue and NHS_NUMBER in queue


def test_markup_and_links_typed_from_a_card_are_shown_as_text_and_held_for_review(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    text = '<script>alert("x")</script> visit www.example.org/free-stuff for my offer'
    response = client.post(_page(campaign.slug), _card(31, text=text, display_name="<b>Ade</b>"))

    pledge = Pledge.objects.get()
    assert pledge.status == Status.PENDING and FlagReason.LINK in pledge.flags
    queue = _text(client.get(f"/moderation/?campaign={campaign.slug}"))
    assert "<script>alert" not in queue and "&lt;script&gt;alert" in queue
    assert "<b>Ade</b>" not in queue
    assert "<script>alert" not in _text(client.get(response["Location"]))


def test_a_pre_moderated_campaign_holds_every_card_and_only_pledgers_with_an_address_hear(
    pre_campaign: Campaign, organiser: Any
) -> None:
    with_address = _enter(pre_campaign, organiser, 1, email="ade@example.org")
    without = _enter(pre_campaign, organiser, 2)
    assert with_address.status == without.status == Status.PENDING

    pledge_moderate(pledge_ids=[with_address.pk, without.pk], action=Action.PUBLISH, actor=organiser)

    assert _total(pre_campaign) == 2
    assert list(OutboxEmail.objects.values_list("kind", "subject_id")) == [("published", with_address.pk)]
    pledge_moderate(
        pledge_ids=[without.pk], action=Action.REJECT, actor=organiser, reason_code="other", reason_text="x"
    )
    assert OutboxEmail.objects.count() == 1


def test_cards_are_typed_in_for_two_weeks_after_the_deadline_and_not_after(
    make_campaign: Any, organiser: Any
) -> None:
    now = timezone.now()
    # Cards filled in on the last day reach the organisers days later.
    lately = make_campaign(
        slug="lately-closed", opens_at=now - timedelta(days=20), deadline=now - timedelta(days=3)
    )
    response = _client(organiser).post(_page(lately.slug), _card(1))
    assert response.status_code == 302
    assert Pledge.objects.get().status == Status.PUBLISHED

    long_ago = make_campaign(
        slug="long-closed", opens_at=now - timedelta(days=40), deadline=now - timedelta(days=15)
    )
    response = _client(organiser).post(_page(long_ago.slug), _card(2))
    assert response.status_code == 403
    assert "has closed, and cards collected by its deadline could be typed in until" in _text(response)
    assert Pledge.objects.count() == 1


def test_the_paper_pages_are_for_organisers_only(campaign: Campaign, stranger: Any) -> None:
    pages = [
        ("get", _page(campaign.slug), {}),
        ("post", _page(campaign.slug), _card()),
        ("get", f"{_page(campaign.slug)}template.csv", {}),
        ("post", f"{_page(campaign.slug)}file/", {"file": SimpleUploadedFile("c.csv", b"reference\n")}),
        ("post", f"{_page(campaign.slug)}withdraw/", {"pledge": "ABC-0012", "note": "asked"}),
    ]
    for method, url, data in pages:
        anonymous = getattr(Client(), method)(url, data)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/?next=")
        assert getattr(_client(stranger), method)(url, data).status_code == 403
    assert not Pledge.objects.exists()
    assert _client(stranger).get("/campaigns/no-such-campaign/paper/").status_code == 403


def test_the_organisers_places_link_the_paper_page(campaign: Campaign, organiser: Any) -> None:
    client = _client(organiser)
    link = f'href="{_page(campaign.slug)}"'
    assert link in _text(client.get(f"/moderation/?campaign={campaign.slug}"))
    assert link in _text(client.get(f"/moderation/dashboard/?campaign={campaign.slug}"))
    assert client.get("/campaigns/no-such-campaign/paper/").status_code == 404


# --- A spreadsheet of cards ------------------------------------------------------------------


def _csv(rows: list[dict[str, str]], columns: tuple[str, ...] = PAPER_CSV_COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _row(n: int, **overrides: str) -> dict[str, str]:
    values = {
        "reference": f"EVT-{n:03d}",
        "text": f"ask one patient a day what would make their stay better, card {n}",
        "name": f"Pat {n}",
        "anonymous": "",
        "role": "Care worker",
        "organisation": "",
        "region": "North West",
        "kind": "",
        "sectors": "social care; NHS",
        "email": "",
        "reminders": "",
        "follow_through": "",
        "consent": "yes",
    }
    values.update(overrides)
    return values


def _upload(client: Client, campaign: Campaign, content: bytes) -> Any:
    return client.post(
        f"{_page(campaign.slug)}file/", {"file": SimpleUploadedFile("cards.csv", content, "text/csv")}
    )


def test_a_file_of_cards_is_entered_whole_or_not_at_all_with_bad_rows_reported_by_line(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    _enter(campaign, organiser, 7, paper_reference="EVT-007")
    bad = _csv(
        [
            _row(1),
            _row(2, consent="no"),
            _row(3, region="Atlantis"),
            _row(4, reference="evt-001"),
            _row(5, name="", anonymous="yes", sectors="housing"),
            _row(7),
            _row(8, reminders="yes"),
            _row(9, text="hi"),
        ]
    )

    response = _upload(client, campaign, bad)

    body = _text(response)
    assert response.status_code == 400
    assert "Nothing was entered from the file" in body
    problems = re.findall(r"<li>(Line \d+: [^<]*)</li>", body)
    assert [p.split(":")[0] for p in problems] == ["Line 3", "Line 4", "Line 5", "Line 7", "Line 8", "Line 9"]
    assert "consent box is not ticked" in problems[0]
    assert "Region “Atlantis” is not one we know" in problems[1]
    assert "Card EVT-001 is already on line 2." in problems[2]
    assert "Card EVT-007 was already entered on" in problems[3]
    assert "need an email address" in problems[4]
    assert "at least 10 characters" in problems[5]
    assert Pledge.objects.count() == 1 and _total(campaign) == 1

    good = _csv(
        [
            _row(1),
            _row(5, name="", anonymous="yes", sectors="housing"),
            _row(6, email="pat6@example.org", reminders="yes", kind="organisational"),
            _row(9, text=f"keep NHS number {NHS_NUMBER} on the board"),
        ]
    )
    response = _upload(client, campaign, good)
    assert response.status_code == 302
    page = _text(client.get(response["Location"]))
    assert "4 paper pledges entered from the file: 3 published, 1 held for review." in page
    entered = {p.paper_reference: p for p in Pledge.objects.filter(paper_reference__startswith="EVT-")}
    assert set(entered) == {"EVT-001", "EVT-005", "EVT-006", "EVT-007", "EVT-009"}
    assert entered["EVT-001"].sector_slugs == ["nhs", "social-care"]
    assert entered["EVT-001"].region == "north-west"
    assert entered["EVT-005"].is_anonymous and entered["EVT-005"].public_name == "anonymous"
    assert entered["EVT-006"].wants_reminders and entered["EVT-006"].kind == "organisational"
    assert entered["EVT-009"].status == Status.PENDING
    assert _total(campaign) == 4
    assert ModerationEvent.objects.filter(action=Action.PAPER_ENTRY, actor=organiser).count() == 5
    assert list(OutboxEmail.objects.values_list("subject_id", flat=True)) == [entered["EVT-006"].pk]


def test_a_file_with_a_wrong_header_or_not_text_is_refused_with_a_sentence(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    wrong = _upload(client, campaign, b"reference,words,consent\nA-1,hello there friends,yes\n")
    assert wrong.status_code == 400
    assert (
        "Line 1: The header line is wrong: it lacks the column(s) text, name, role, region, sectors"
        in _text(wrong)
    )
    assert "it has column(s) we do not know: &#x27;words&#x27;" in _text(wrong)
    binary = _upload(client, campaign, "reference\n\u00e9".encode("latin-1") + b"\xff\xfe")
    assert binary.status_code == 400 and "save it as &#x27;CSV UTF-8&#x27;" in _text(binary)
    empty_rows = _upload(client, campaign, _csv([]))
    assert empty_rows.status_code == 400 and "The file has no cards in it" in _text(empty_rows)
    assert not Pledge.objects.exists()


def test_formula_cells_in_a_file_are_refused_and_protected_ones_read_as_written(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    formula = _csv([_row(1, text='=HYPERLINK("http://evil.example","click me for a prize")'), _row(2)])
    response = _upload(client, campaign, formula)
    assert response.status_code == 400
    assert "Line 2: The text cell starts with “=”, which a spreadsheet runs as a formula" in _text(response)
    assert not Pledge.objects.exists()

    # A quote a spreadsheet (or our own export) put in front of "@" or "-" is taken off.
    protected = _csv([_row(1, name="'@Pat the porter", role="'-ward runner-")])
    assert _upload(client, campaign, protected).status_code == 302
    pledge = Pledge.objects.get()
    assert (pledge.display_name, pledge.role) == ("@Pat the porter", "-ward runner-")

    export = client.get("/moderation/export.csv", {"campaign": campaign.slug})
    [row] = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert (row["display_name"], row["role"]) == ("'@Pat the porter", "'-ward runner-")
    assert (row["channel"], row["paper_reference"], row["email"]) == ("paper", "EVT-001", "")


def test_the_template_file_names_the_columns_and_a_filled_copy_goes_in(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    response = client.get(f"{_page(campaign.slug)}template.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="paper-pledges-{campaign.slug}.csv"'
    template = response.content.decode()
    assert template.splitlines() == [",".join(PAPER_CSV_COLUMNS)]

    filled = template + "A-1,listen before I answer,Sam,,Nurse,,London,,nhs,,,,y\n"
    assert _upload(client, campaign, filled.encode()).status_code == 302
    assert Pledge.objects.get().paper_reference == "A-1"


# --- At most 500 an hour per organiser account --------------------------------------------------


def test_an_organiser_account_enters_at_most_500_cards_an_hour(
    campaign: Campaign, organiser: Any, django_user_model: Any
) -> None:
    client = _client(organiser)
    too_many = _upload(client, campaign, _csv([_row(n) for n in range(600)]))
    assert too_many.status_code == 429
    assert (
        "This file has 600 pledges. An organiser account may enter at most 500 paper pledges an hour, and "
        "yours can enter 500 more this hour, so nothing was entered" in _text(too_many)
    )
    assert not Pledge.objects.exists()

    assert _upload(client, campaign, _csv([_row(n) for n in range(450)])).status_code == 302
    assert _total(campaign) == 450
    sixty = _upload(client, campaign, _csv([_row(n) for n in range(450, 510)]))
    assert sixty.status_code == 429 and "yours can enter 50 more this hour" in _text(sixty)
    assert _upload(client, campaign, _csv([_row(n) for n in range(450, 500)])).status_code == 302

    # From any address the account uses: the cap is the account's, not a network's.
    elsewhere = _client(organiser, REMOTE_ADDR="127.0.0.7")
    one_more = elsewhere.post(_page(campaign.slug), _card(999))
    assert one_more.status_code == 429
    assert int(one_more["Retry-After"]) > 3000
    assert "may enter at most 500 paper pledges an hour, and yours has entered 500" in _text(one_more)
    # What was typed stays on the page.
    assert "learn the name of everyone on the night shift, card 999" in _text(one_more)
    with pytest.raises(PaperLimitReached):
        _enter(campaign, organiser, 1000)
    assert Pledge.objects.count() == 500 and _total(campaign) == 500
    # Another organiser's account is not held back.
    colleague = django_user_model.objects.create_superuser("lee@example.org", "lee@example.org", "pw-lee-1")
    assert _client(colleague).post(_page(campaign.slug), _card(999)).status_code == 302


def test_an_hour_later_the_account_may_enter_cards_again(
    campaign: Campaign, organiser: Any, settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "paper-entries": (2, 3600)}
    _enter(campaign, organiser, 1)
    _enter(campaign, organiser, 2)
    with pytest.raises(PaperLimitReached):
        _enter(campaign, organiser, 3)
    # As if the first two were entered an hour ago.
    Pledge.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert _enter(campaign, organiser, 3).status == Status.PUBLISHED


@pytest.mark.postgres_only("two transactions at once need PostgreSQL's row and advisory locks")
@pytest.mark.django_db(transaction=True)
def test_two_files_sent_at_once_from_one_account_never_pass_the_cap_together(
    campaign: Campaign, organiser: Any, settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "paper-entries": (6, 3600)}
    results: list[int] = []
    start = threading.Barrier(2)

    def send(first: int) -> None:
        try:
            start.wait()
            response = _upload(_client(organiser), campaign, _csv([_row(first + n) for n in range(4)]))
            results.append(response.status_code)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=send, args=(first,)) for first in (0, 100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [302, 429]
    assert Pledge.objects.count() == 4 and _total(campaign) == 4


# --- Withdrawing at the pledger's request ----------------------------------------------------


def test_an_organiser_withdraws_a_paper_pledge_at_the_pledgers_request_and_it_is_audited(
    campaign: Campaign, organiser: Any
) -> None:
    pledge = _enter(campaign, organiser, 12)
    client = _client(organiser)
    assert _total(campaign) == 1

    no_note = client.post(f"{_page(campaign.slug)}withdraw/", {"pledge": "abc-0012", "note": "  "})
    assert no_note.status_code == 400 and "Say when and how the pledger asked" in _text(no_note)
    unknown = client.post(f"{_page(campaign.slug)}withdraw/", {"pledge": "XYZ-1", "note": "asked"})
    assert unknown.status_code == 400 and "has that card reference or link" in _text(unknown)
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED

    response = client.post(
        f"{_page(campaign.slug)}withdraw/", {"pledge": "abc-0012", "note": "asked in person on 12 March"}
    )

    assert response.status_code == 302
    assert "Card ABC-0012 withdrawn: it is off the wall and out of the totals." in _text(
        client.get(response["Location"])
    )
    pledge.refresh_from_db()
    assert pledge.status == Status.WITHDRAWN and _total(campaign) == 0
    event = ModerationEvent.objects.get(pledge=pledge, action=Action.WITHDRAW)
    assert (event.actor, event.from_status, event.reason_text) == (
        organiser,
        Status.PUBLISHED,
        "asked in person on 12 March",
    )
    assert Client().get(f"/pledges/{pledge.public_id}/").status_code == 404
    again = client.post(f"{_page(campaign.slug)}withdraw/", {"pledge": "ABC-0012", "note": "asked twice"})
    assert again.status_code == 400 and "was already withdrawn on" in _text(again)
    # The audit on the pledge says who did it and why.
    review = _text(client.get(f"/moderation/?campaign={campaign.slug}&status=published"))
    assert "asked in person on 12 March" not in review  # withdrawn pledges leave the review list
    assert ModerationEvent.objects.filter(pledge=pledge).count() == 2


def test_a_pledge_is_found_for_withdrawal_by_its_link_and_an_online_one_is_refused(
    campaign: Campaign, organiser: Any
) -> None:
    client = _client(organiser)
    paper = _enter(campaign, organiser, 3)
    online = create_pledge(campaign, 1)
    by_link = client.post(
        f"{_page(campaign.slug)}withdraw/",
        {"pledge": f"https://pledge.example.org/pledges/{paper.public_id}/", "note": "phoned on 3 March"},
    )
    assert by_link.status_code == 302
    refused = client.post(
        f"{_page(campaign.slug)}withdraw/", {"pledge": online.public_id, "note": "phoned on 3 March"}
    )
    assert refused.status_code == 400 and "This pledge was made online" in _text(refused)
    online.refresh_from_db()
    assert online.status == Status.PUBLISHED and _total(campaign) == 1


# --- What an empty address must never match ----------------------------------------------------


def test_a_data_request_or_erasure_for_an_empty_address_finds_and_erases_nothing(
    campaign: Campaign, organiser: Any
) -> None:
    paper = [_enter(campaign, organiser, n) for n in (1, 2)]
    for empty in ("", "   "):
        assert pledger_pledges(email=empty) == []
        pledger_data_request(email=empty)
        assert pledger_data_erase(email=empty) == 0
    assert not OutboxEmail.objects.exists()
    assert Pledge.objects.filter(pk__in=[p.pk for p in paper], status=Status.PUBLISHED).count() == 2
    assert _total(campaign) == 2
    # The page takes only a real address, and answers the same.
    response = Client().post("/your-data/", {"email": ""})
    assert response.status_code == 400 and not OutboxEmail.objects.exists()


def test_a_paper_pledgers_address_finds_their_pledge_like_an_online_one(
    campaign: Campaign, organiser: Any
) -> None:
    pledge = _enter(campaign, organiser, 4, email="Pat@Example.org")
    assert pledger_pledges(email="pat@example.org") == [pledge]
    assert pledger_data_erase(email="pat@example.org") == 1
    assert _total(campaign) == 0


def test_reminders_and_follow_through_never_go_to_a_pledge_without_an_address(
    campaign: Campaign, organiser: Any, smtp_inbox: Any
) -> None:
    from reminders.models import Anchor, Audience, ReminderDelivery
    from reminders.tests.helpers import reminder, run_due

    _enter(campaign, organiser, 1)
    _enter(campaign, organiser, 2, email="pat@example.org", wants_reminders=True, wants_follow_through=True)
    # As an organiser ticking both boxes on an address-less pledge in the admin would.
    Pledge.objects.filter(email="").update(wants_reminders=True, wants_follow_through=True)
    before_deadline = reminder(campaign, audience=Audience.PLEDGERS)
    after_change_day = reminder(
        campaign,
        anchor=Anchor.AFTER_CHANGE_DAY,
        days_before=0,
        days_after=14,
        audience=Audience.FOLLOW_ALL,
    )

    run_due(now=before_deadline.due_at() + timedelta(minutes=1))
    run_due(now=after_change_day.due_at() + timedelta(minutes=1))

    messages = smtp_inbox.wait_for(2)
    assert sorted(str(m["To"]) for m in messages) == ["pat@example.org", "pat@example.org"]
    assert set(ReminderDelivery.objects.values_list("recipient", flat=True)) == {"pat@example.org"}


def test_retention_leaves_a_pledge_without_an_address_without_one(make_campaign: Any, organiser: Any) -> None:
    from pages.retention import campaign_personal_data_erase

    campaign = make_campaign()
    without = _enter(campaign, organiser, 1)
    with_address = _enter(campaign, organiser, 2, email="pat@example.org")
    campaign_personal_data_erase(campaign=campaign)
    without.refresh_from_db()
    with_address.refresh_from_db()
    assert without.email == ""
    assert with_address.email == f"erased-{with_address.public_id}@erased.invalid"
