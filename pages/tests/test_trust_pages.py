"""Pages people trust: each campaign names its organiser and a contact, and has a privacy
notice, an accessibility statement and a note on cookies, its own or the site's defaults;
the footer of every page links them (the campaign's own on a campaign's pages)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from campaigns.models import Campaign
from conftest import create_pledge

pytestmark = pytest.mark.django_db

PAGES = ["privacy", "accessibility", "cookies"]


def _footer(body: str) -> str:
    return body.split("<footer", 1)[1]


@pytest.mark.parametrize("page", PAGES)
def test_each_site_wide_page_answers_with_default_words(client: Client, page: str) -> None:
    response = client.get(f"/{page}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert {"privacy": "Your rights", "accessibility": "(WCAG) 2.2", "cookies": "sessionid"}[page] in body
    assert f'href="/{page}/"' in _footer(body)


def test_the_site_wide_privacy_notice_says_who_holds_what_why_for_how_long_and_the_rights(
    client: Client,
) -> None:
    body = client.get("/privacy/").content.decode()

    for heading in ("Who holds your data", "What we hold and why", "How long we keep it", "Your rights"):
        assert heading in body
    assert 'href="/your-data/"' in body


@pytest.mark.parametrize("page", PAGES)
def test_a_campaign_without_its_own_words_names_its_organiser_over_the_defaults(
    client: Client, campaign: Campaign, page: str
) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(
        organiser_name="NHS Change Day team", contact_email="team@changeday.example"
    )

    body = client.get(f"/campaigns/{campaign.slug}/{page}/").content.decode()

    assert "is run by <strong>NHS Change Day team</strong>" in body
    assert 'href="mailto:team@changeday.example"' in body
    footer = _footer(body)
    assert f'href="/campaigns/{campaign.slug}/{page}/"' in footer
    assert "Run by NHS Change Day team" in footer


def test_a_campaigns_own_words_replace_the_default_escaped_with_their_line_breaks(
    client: Client, campaign: Campaign
) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(
        privacy_notice='We are the <b>team</b>.\n\nWrite to us: <script>alert("x")</script>',
        accessibility_statement="Tested with NVDA.",
        cookies_note="Only the session cookie.",
    )

    privacy = client.get(f"/campaigns/{campaign.slug}/privacy/").content.decode()
    assert "<p>We are the &lt;b&gt;team&lt;/b&gt;.</p>" in privacy
    assert "<script>alert" not in privacy
    assert "Who holds your data" not in privacy
    # The date the data goes is stated whatever the campaign wrote.
    assert "How long we keep your data" in privacy
    assert "Tested with NVDA." in client.get(f"/campaigns/{campaign.slug}/accessibility/").content.decode()
    assert "Only the session cookie." in client.get(f"/campaigns/{campaign.slug}/cookies/").content.decode()


def test_the_campaign_page_and_a_pledge_link_the_campaigns_own_pages_in_the_footer(
    client: Client, campaign: Campaign
) -> None:
    pledge = create_pledge(campaign, 1)
    for path in (
        f"/campaigns/{campaign.slug}/",
        f"/pledges/{pledge.public_id}/",
        f"/campaigns/{campaign.slug}/wall/",
    ):
        footer = _footer(client.get(path).content.decode())
        for page in PAGES:
            assert f'href="/campaigns/{campaign.slug}/{page}/"' in footer, path


def test_pages_outside_a_campaign_link_the_site_wide_pages(client: Client, campaign: Campaign) -> None:
    for path in ("/your-data/", "/accounts/login/", "/privacy/"):
        footer = _footer(client.get(path).content.decode())
        for page in PAGES:
            assert f'href="/{page}/"' in footer, path


def test_a_campaign_made_with_its_organiser_names_them_on_its_page(
    client: Client, make_campaign: Any
) -> None:
    campaign = make_campaign(organiser_name="Care Homes Together", contact_email="hello@carehomes.example")

    body = client.get(f"/campaigns/{campaign.slug}/").content.decode()

    assert "is run by <strong>Care Homes Together</strong>" in body
    assert campaign.retention_days == 180


def test_a_contact_page_instead_of_an_address_is_linked(client: Client, campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(contact_url="https://changeday.example/contact")

    body = client.get(f"/campaigns/{campaign.slug}/").content.decode()

    assert 'href="https://changeday.example/contact"' in body


def test_an_unknown_campaign_or_page_is_a_404(client: Client, campaign: Campaign) -> None:
    assert client.get("/campaigns/no-such-campaign/privacy/").status_code == 404
    assert client.get(f"/campaigns/{campaign.slug}/passwords/").status_code == 404


def test_the_admin_edits_the_organiser_and_the_notices(
    client: Client, organiser: Any, campaign: Campaign
) -> None:
    client.force_login(organiser)
    response = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    if response.status_code == 403:
        pytest.skip("organisers do not edit campaigns in the admin")
    body = response.content.decode()
    for name in (
        "organiser_name",
        "contact_email",
        "contact_url",
        "privacy_notice",
        "accessibility_statement",
        "cookies_note",
        "retention_days",
    ):
        assert f'name="{name}"' in body


def test_the_privacy_notice_claims_only_what_a_pledger_can_do_and_says_how_paper_pledgers_withdraw(
    client: Client, campaign: Campaign
) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(contact_email="team@changeday.example")

    for path in ("/privacy/", f"/campaigns/{campaign.slug}/privacy/"):
        body = client.get(path).content.decode()
        # "Your data" shows, downloads and deletes: correcting is asked of the organisers.
        assert "see, download or delete" in body
        assert "correct or delete" not in body
        assert "To correct your name, role, organisation or region, ask" in body
        assert "withdraw it and pledge again" in body
        # A card without an address has no emailed link.
        assert "paper card without an email address has neither link" in body
        assert "records that they saw it ticked" in body
        # What the suppression list keeps, and why it is not erased.
        assert "Addresses we must not email" in body
        assert "would let the next campaign email someone who asked us to stop" in body
    assert 'href="mailto:team@changeday.example">team@changeday.example</a> to withdraw it for you' in body
    assert "Only the list of addresses we must not email keeps them" in body


def test_the_pledge_form_links_the_campaigns_privacy_notice_beside_the_email_field(
    client: Client, campaign: Campaign
) -> None:
    body = client.get(f"/campaigns/{campaign.slug}/pledge/").content.decode()

    email_help = body.split('id="id_email_helptext"', 1)[1].split("</div>", 1)[0]
    assert f'<a href="/campaigns/{campaign.slug}/privacy/">How we use and keep your data</a>' in email_help


def test_the_error_page_links_privacy_accessibility_and_cookies_without_touching_the_database(
    client: Client, django_db_blocker: Any
) -> None:
    with django_db_blocker.block():
        response = server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    footer = _footer(response.content.decode())
    for page in PAGES:
        assert f'href="/{page}/"' in footer
        assert client.get(f"/{page}/").status_code == 200
