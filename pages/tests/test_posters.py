"""Organisers' posters and pledge cards: A4 PDF and SVG whose QR codes read (with a real QR
reader) as the pledge form's address with a source tag, and the statistics page counting the
published pledges each poster brought."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from conftest import create_pledge
from pages.posters import MARGIN
from pages.printing import PAGE_HEIGHT, PAGE_WIDTH, text_width
from pages.stats import campaign_stats, stats_cache_key
from pages.tests.orgs import make_org
from pages.tests.posterscan import (
    SVG_NS,
    pdf_char_boxes,
    pdf_page_sizes,
    pdf_page_texts,
    pdf_qr_codes,
    pdf_text,
    svg_qr_code,
    svg_root,
    svg_text,
)
from pledges.models import Pledge
from testsupport.artifacts import keep_artifact

pytestmark = pytest.mark.django_db

SITE = "http://testserver"


@pytest.fixture
def organiser_client(organiser: Any) -> Client:
    client = Client()
    client.force_login(organiser)
    return client


@pytest.fixture(autouse=True)
def _no_cached_stats(campaign: Any) -> Any:
    cache.delete(stats_cache_key(campaign.pk))
    yield
    cache.delete(stats_cache_key(campaign.pk))


@pytest.fixture
def dated(campaign: Campaign) -> Campaign:
    """The campaign with dates a poster prints: pledging until the end of 31 March (UK time)."""
    Campaign.objects.filter(pk=campaign.pk).update(
        change_day=date(2027, 3, 3),
        deadline=datetime(2027, 3, 31, 23, 0, tzinfo=UTC),  # midnight in London, summer time
        organiser_name="NHS Change Day team",
    )
    campaign.refresh_from_db()
    return campaign


def _download(client: Client, path: str, **query: str) -> Any:
    response = client.get(path, query)
    assert response.status_code == 200, response.content[:300]
    return response


def _form(slug: str) -> str:
    return f"/campaigns/{slug}/pledge/"


# --- The posters ---------------------------------------------------------------------


def test_the_campaign_poster_is_an_a4_pdf_with_its_words_dates_and_a_qr_code_to_the_form(
    organiser_client: Client, dated: Campaign
) -> None:
    response = _download(organiser_client, f"/campaigns/{dated.slug}/posters/poster.pdf")
    # For a person to look at after the run: what will be printed and pinned up.
    assert keep_artifact("posters", "poster.pdf", response.content).read_bytes() == response.content

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{dated.slug}-poster.pdf"'
    body = response.content
    assert pdf_page_sizes(body) == [(595, 842)]  # A4 in points
    # A long address may break after a slash.
    text = pdf_text(body).replace("/ ", "/")
    for words in (
        dated.name,
        f"#{dated.hashtag}",
        dated.description,
        "Pledge by Wednesday 31 March 2027",
        "Change Day is Wednesday 3 March 2027",
        "Make your pledge",
        "Our team pledges to…",
        "Organised by NHS Change Day team",
        f"{SITE}/campaigns/{dated.slug}/pledge/",
    ):
        assert words in text, words
    assert pdf_qr_codes(body) == [[f"{SITE}/campaigns/{dated.slug}/pledge/?source=poster"]]


def test_the_svg_poster_is_an_a4_svg_document_with_the_same_words_and_qr_code(
    organiser_client: Client, dated: Campaign
) -> None:
    response = _download(organiser_client, f"/campaigns/{dated.slug}/posters/poster.svg", sector="housing")

    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Disposition"] == f'attachment; filename="{dated.slug}-poster-housing.svg"'
    assert keep_artifact("posters", "poster-housing.svg", response.content).read_bytes() == response.content
    svg = response.content.decode()
    root = svg_root(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG_NS}svg"
    assert (root.get("width"), root.get("height")) == ("210mm", "297mm")
    assert root.get("viewBox") == "0 0 595.28 841.89"
    assert root.find(f"{SVG_NS}title").text == f"{dated.name}: Everyone in housing: make your pledge"
    text = svg_text(svg)
    assert dated.name in text and "Pledge by Wednesday 31 March 2027" in text
    assert "Everyone in housing: make your" in text
    # Read from the SVG's own drawing of the code, not from the library that made it.
    assert svg_qr_code(svg) == f"{SITE}/campaigns/{dated.slug}/pledge/?sector=housing&source=poster-housing"
    assert "<script" not in svg and "href" not in svg


def test_a_sector_poster_opens_the_form_with_its_sector_ticked_and_its_source_carried(
    organiser_client: Client, campaign: Campaign
) -> None:
    body = _download(organiser_client, f"/campaigns/{campaign.slug}/posters/poster.pdf", sector="social-care")

    assert "Everyone in social care: make your pledge" in pdf_text(body.content)
    [[url]] = pdf_qr_codes(body.content)
    assert url == f"{SITE}/campaigns/{campaign.slug}/pledge/?sector=social-care&source=poster-social-care"
    parts = urlsplit(url)
    form = Client().get(f"{parts.path}?{parts.query}").content.decode()
    assert re.search(r'<input[^>]*value="social-care"[^>]*checked', form)
    assert not re.search(r'<input[^>]*value="nhs"[^>]*checked', form)
    assert 'name="source" value="poster-social-care"' in form


def test_an_organisation_poster_fills_in_the_organisation_and_prints_welsh_and_polish_letters(
    organiser_client: Client, make_campaign: Any
) -> None:
    campaign = make_campaign(name="Cwm Taf Morgannwg: Diwrnod Newid", slug="cwm-taf")
    org = make_org(1, name="Cartref Gofal Tŷ Dŵr (Łukasz Wójcik Care)", code="1-189445631")

    response = _download(organiser_client, f"/campaigns/{campaign.slug}/posters/poster.pdf", org=org.slug)

    assert response["Content-Disposition"] == f'attachment; filename="cwm-taf-poster-{org.slug}.pdf"'
    text = pdf_text(response.content)
    assert "Cwm Taf Morgannwg: Diwrnod Newid" in text
    assert "Everyone at Cartref Gofal Tŷ Dŵr (Łukasz Wójcik Care): make your pledge" in text
    [[url]] = pdf_qr_codes(response.content)
    assert url == f"{SITE}/campaigns/cwm-taf/pledge/?org={org.slug}&source=org-1-189445631"
    parts = urlsplit(url)
    form = Client().get(f"{parts.path}?{parts.query}").content.decode()
    assert 'value="Cartref Gofal Tŷ Dŵr (Łukasz Wójcik Care)"' in form
    assert f'name="org" value="{org.slug}"' in form
    assert 'name="source" value="org-1-189445631"' in form

    svg = _download(organiser_client, f"/campaigns/{campaign.slug}/posters/poster.svg", org=org.slug)
    assert "Tŷ Dŵr (Łukasz Wójcik" in svg_text(svg.content.decode())
    assert svg_qr_code(svg.content.decode()) == url


def test_huge_names_shrink_and_wrap_to_stay_on_the_poster(
    organiser_client: Client, make_campaign: Any
) -> None:
    campaign = make_campaign(
        name=("Gofal Cymdeithasol Cymru ŵ ł " * 10)[:200],
        slug="c" * 80,
        hashtag="H" * 100,
        description="A promise for everyone who works in care and health. " * 40,
    )
    Campaign.objects.filter(pk=campaign.pk).update(organiser_name="O" * 200)
    org = make_org(
        1, name=("Bwrdd Iechyd Prifysgol Cwm Taf Morgannwg " * 6)[:200], slug="x" * 120, code="Z" * 32
    )

    pdf = _download(organiser_client, f"/campaigns/{campaign.slug}/posters/poster.pdf", org=org.slug).content
    svg = _download(organiser_client, f"/campaigns/{campaign.slug}/posters/poster.svg", org=org.slug).content

    for char, left, bottom, right, top in pdf_char_boxes(pdf):
        assert MARGIN - 1 <= left and right <= PAGE_WIDTH - MARGIN + 1, (char, left, right)
        assert 0 <= bottom and top <= PAGE_HEIGHT, (char, bottom, top)
    text = pdf_text(pdf)
    # Shrunk and wrapped, not lost: the organisation's name in full, the box to write in, the footer.
    assert org.name.strip() in text
    assert "Our team pledges to…" in text and "Team:" in text and "Organised by" in text
    assert "…" in text  # the endless description was cut short
    [[url]] = pdf_qr_codes(pdf)
    assert url == f"{SITE}/campaigns/{campaign.slug}/pledge/?org={org.slug}&source=org-{'z' * 32}"
    for element in svg_root(svg.decode()).iter(f"{SVG_NS}text"):
        x, size = float(element.get("x")), float(element.get("font-size"))
        bold = element.get("font-weight") == "700"
        assert (
            x >= MARGIN - 1 and x + text_width(element.text, size=size, bold=bold) <= PAGE_WIDTH - MARGIN + 1
        )
        assert 0 < float(element.get("y")) < PAGE_HEIGHT


def test_pledge_cards_are_numbered_two_to_an_a4_sheet_with_everything_a_paper_pledge_needs(
    organiser_client: Client, campaign: Campaign
) -> None:
    response = _download(
        organiser_client, f"/campaigns/{campaign.slug}/posters/cards.pdf", first="41", sheets="3"
    )

    assert response["Content-Disposition"] == (
        f'attachment; filename="{campaign.slug}-cards-cd2027-0041-to-0046.pdf"'
    )
    assert keep_artifact("posters", "pledge-cards.pdf", response.content).read_bytes() == response.content
    assert pdf_page_sizes(response.content) == [(595, 842)] * 3
    for number, text in enumerate(pdf_page_texts(response.content)):
        first, second = 41 + 2 * number, 42 + 2 * number
        assert re.findall(r"Card (CD2027-\d+)", text) == [f"CD2027-{first:04d}", f"CD2027-{second:04d}"]
        assert text.count("cut here") == 1
        for words in (
            "I pledge to…",
            "Name (as it should appear)",
            "Show my pledge as anonymous",
            "Role or job title",
            "Organisation",
            "Region",
            "Email (optional)",
            "NHS",
            "Social care",
            "Housing",
            "Patient or carer",
            "This is a pledge for my team or organisation",
            "I agree my pledge may be shown publicly",
        ):
            assert text.count(words) >= 2, words
    # Those who would rather pledge on their phone: the card's own source tag.
    card_url = f"{SITE}/campaigns/{campaign.slug}/pledge/?source=card"
    assert pdf_qr_codes(response.content) == [[card_url, card_url]] * 3


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"first": "0", "sheets": "1"}, "Card numbers start at 1."),
        ({"first": "1", "sheets": "51"}, "Print at most 50 sheets at a time."),
        (
            {"first": "<script>alert(1)</script>", "sheets": "1"},
            "Give the first card&#x27;s number in digits",
        ),
        ({"first": "99999", "sheets": "2"}, "Card numbers go up to 99,999: print fewer sheets."),
        ({"sheets": "2"}, "Give the number of the first card"),
        ({"first": "1", "sheets": "1e9"}, "Give the number of sheets in digits"),
    ],
)
def test_bad_card_numbers_are_a_400_saying_what_to_fix(
    organiser_client: Client, campaign: Campaign, query: dict[str, str], message: str
) -> None:
    response = organiser_client.get(f"/campaigns/{campaign.slug}/posters/cards.pdf", query)

    assert response.status_code == 400
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert message in body and "Check the numbers for the pledge cards." in body
    assert "<script>alert" not in body


def test_the_posters_page_lists_every_poster_in_both_formats_and_the_cards(
    organiser_client: Client, campaign: Campaign
) -> None:
    leeds = make_org(1, name="Leeds Teaching Hospitals")
    make_org(2, name="Leeds Community Care")
    make_org(3, name="Riverside Homes")
    create_pledge(campaign, 1, org=leeds)

    page = organiser_client.get(f"/campaigns/{campaign.slug}/posters/").content.decode()
    base = f"/campaigns/{campaign.slug}/posters/"
    assert f'href="{base}poster.pdf"' in page and f'href="{base}poster.svg"' in page
    for sector in ("nhs", "social-care", "housing", "patient-carer"):
        assert f'href="{base}poster.pdf?sector={sector}"' in page
        assert f'href="{base}poster.svg?sector={sector}"' in page
    # Taking part: offered in the list; the rest of the directory through the search.
    assert f'<option value="{leeds.slug}">Leeds Teaching Hospitals</option>' in page
    assert "Riverside Homes" not in page
    assert f'action="{base}cards.pdf"' in page and "CD2027-0001" in page
    assert f"{SITE}/campaigns/{campaign.slug}/pledge/?source=poster" in page

    found = organiser_client.get(base, {"q": "leeds"}).content.decode()
    assert f'href="{base}poster.pdf?org=organisation-00002"' in found
    assert f'href="{base}poster.svg?org=organisation-00001"' in found


def test_the_moderation_queue_and_dashboard_link_to_the_posters(
    organiser_client: Client, campaign: Campaign
) -> None:
    link = f'href="/campaigns/{campaign.slug}/posters/">Posters</a>'
    assert link in organiser_client.get("/moderation/", {"campaign": campaign.slug}).content.decode()
    assert (
        link in organiser_client.get("/moderation/dashboard/", {"campaign": campaign.slug}).content.decode()
    )


POSTER_PATHS = ["", "poster.pdf", "poster.svg", "poster.pdf?sector=nhs", "cards.pdf?first=1&sheets=1"]


@pytest.mark.parametrize("path", POSTER_PATHS)
def test_posters_are_for_organisers_only(path: str, campaign: Campaign, stranger: Any) -> None:
    url = f"/campaigns/{campaign.slug}/posters/{path}"
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/?next=")
    client = Client()
    client.force_login(stranger)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"sector": "dentistry"}, 404, "There is no poster for that sector."),
        ({"sector": "<script>alert(1)</script>"}, 404, "There is no poster for that sector."),
        ({"org": "no-such-organisation"}, 404, "That organisation is not in our directory."),
        ({"org": "<img src=x onerror=alert(1)>"}, 404, "That organisation is not in our directory."),
        ({"org": "x" * 5000}, 404, "That organisation is not in our directory."),
        ({"org": "bad\x00slug"}, 404, "That organisation is not in our directory."),
        ({"sector": "nhs", "org": "organisation-00001"}, 400, "not both"),
    ],
)
@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_an_unknown_sector_or_organisation_is_a_clear_error_that_echoes_nothing(
    organiser_client: Client, campaign: Campaign, query: dict[str, str], status: int, message: str, fmt: str
) -> None:
    make_org(1)
    response = organiser_client.get(f"/campaigns/{campaign.slug}/posters/poster.{fmt}", query)

    assert response.status_code == status
    body = response.content.decode()
    assert message in body
    assert "<script>alert" not in body and "<img src=x" not in body and "x" * 200 not in body


def test_an_unknown_campaign_has_no_posters(organiser_client: Client, campaign: Campaign) -> None:
    for path in ("", "poster.pdf", "poster.svg", "cards.pdf"):
        assert organiser_client.get(f"/campaigns/no-such-campaign/posters/{path}").status_code == 404


def test_a_bad_directory_search_on_the_posters_page_is_a_400_not_a_500(
    organiser_client: Client, campaign: Campaign
) -> None:
    for query in ("x" * 201, "bad\x00query"):
        response = organiser_client.get(f"/campaigns/{campaign.slug}/posters/", {"q": query})
        assert response.status_code == 400
        assert 'aria-invalid="true"' in response.content.decode()
    markup = organiser_client.get(f"/campaigns/{campaign.slug}/posters/", {"q": "<b>leeds</b>"})
    assert markup.status_code == 200
    assert "<b>leeds</b>" not in markup.content.decode()
    assert "No organisation in the directory starts like that" in markup.content.decode()


# --- Where pledges came from ---------------------------------------------------------


def _pledge_through(client: Client, url: str, data: dict[str, Any], **extra: Any) -> Any:
    """Open the form at `url` as a QR code would, and send it with what the page carried."""
    parts = urlsplit(url)
    form = client.get(f"{parts.path}?{parts.query}").content.decode()
    source = re.search(r'name="source"(?: value="([^"]*)")?', form)
    assert source is not None, "the form has no source field"
    return client.post(parts.path, {**data, "source": source.group(1) or ""}, **extra)


def test_a_pledge_from_a_sector_poster_counts_on_the_stats_page_once_published(
    organiser_client: Client, campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    [[url]] = pdf_qr_codes(
        _download(organiser_client, f"/campaigns/{campaign.slug}/posters/poster.pdf", sector="nhs").content
    )
    assert url.endswith("?sector=nhs&source=poster-nhs")

    assert _pledge_through(Client(), url, pledge_data).status_code == 302
    pledge = Pledge.objects.get()
    assert pledge.source == "poster-nhs"
    # Not counted until it is published.
    assert "Sector poster: NHS" not in Client().get(f"/campaigns/{campaign.slug}/stats/").content.decode()

    from pledges.services import pledge_confirm

    pledge_confirm(pledge=pledge)
    cache.delete(stats_cache_key(campaign.pk))
    body = Client().get(f"/campaigns/{campaign.slug}/stats/").content.decode()
    assert 'id="sources-heading"' in body and "Where pledges came from" in body
    assert '<th scope="row" class="fw-normal">Sector poster: NHS</th><td class="text-end">1</td>' in body
    assert '<th scope="row" class="fw-normal">Direct or other</th><td class="text-end">0</td>' in body
    assert pledge_data["email"] not in body


def test_only_published_pledges_count_by_source_with_a_label_for_each_poster(
    campaign: Campaign, organiser: Any
) -> None:
    from moderation.services import pledge_moderate

    riverside = make_org(1, name="Riverside <Homes>", code="RH1")
    create_pledge(campaign, 1, source="poster")
    create_pledge(campaign, 2, source="poster")
    create_pledge(campaign, 3, source="poster-social-care")
    create_pledge(campaign, 4, source="org-rh1")
    create_pledge(campaign, 5, source="card")
    create_pledge(campaign, 6)  # came another way
    create_pledge(campaign, 7, source="poster", confirm=False)  # never confirmed
    hidden = create_pledge(campaign, 8, source="card")
    pledge_moderate(pledge_ids=[hidden.pk], action="hide", actor=organiser)
    gone = make_org(2, name="Merged Away Trust", code="GONE1")
    create_pledge(campaign, 9, source="org-gone1")
    gone.delete()

    sources = [(row.label, row.count) for row in campaign_stats(campaign=campaign).sources]

    assert sources == [
        ("Campaign poster", 2),
        ("Organisation poster: GONE1 (no longer in the directory)", 1),
        ("Organisation poster: Riverside <Homes>", 1),
        ("Pledge card", 1),
        ("Sector poster: Social care", 1),
        ("Direct or other", 1),
    ]
    assert riverside.name in sources[2][0]
    body = Client().get(f"/campaigns/{campaign.slug}/stats/").content.decode()
    assert "Organisation poster: Riverside &lt;Homes&gt;" in body and "<Homes>" not in body


def test_the_sources_cost_the_same_queries_for_one_poster_or_many(campaign: Campaign) -> None:
    def queries() -> int:
        cache.delete(stats_cache_key(campaign.pk))
        with CaptureQueriesContext(connection) as captured:
            campaign_stats(campaign=campaign)
        return len(captured)

    org = make_org(1, code="A1")
    create_pledge(campaign, 1, source="poster-nhs")
    create_pledge(campaign, 2, source=f"org-{org.code.lower()}")
    few = queries()
    for n in range(2, 12):
        other = make_org(n, code=f"A{n}")
        create_pledge(campaign, 10 + n, source=f"org-{other.code.lower()}")
    create_pledge(campaign, 30, source="card")
    create_pledge(campaign, 31, source="poster-housing")

    assert queries() == few
    assert len(campaign_stats(campaign=campaign).sources) == 15


@pytest.mark.postgres_only("partial indexes and the planner's choice are PostgreSQL's")
def test_the_sources_are_counted_through_the_source_index(campaign: Campaign) -> None:
    from django.core.management import call_command

    from bench.tools.management.commands import load_pledges

    call_command(load_pledges.Command(), campaign=campaign.slug, count=3000, seed=3)
    tagged = Pledge.objects.filter(campaign=campaign, status="published").order_by("id")[:40]
    Pledge.objects.filter(pk__in=[p.pk for p in tagged]).update(source="poster-nhs")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pledges_pledge")

    with CaptureQueriesContext(connection) as captured:
        campaign_stats(campaign=campaign)
    [sql] = [q["sql"] for q in captured.captured_queries if '"pledges_pledge"."source"' in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "pledge_source_idx" in plan, plan
    assert "Seq Scan on pledges_pledge" not in plan, plan
    by_source = {row.key: row.count for row in campaign_stats(campaign=campaign).sources}
    assert by_source["poster-nhs"] == 40


def test_a_deployment_without_the_posters_fonts_fails_the_system_check(settings: Any, tmp_path: Any) -> None:
    from django.core import checks

    assert [m for m in checks.run_checks() if m.id == "pages.E001"] == []
    # A node built without node_modules and without the collected fonts.
    settings.SERVER_FONTS = {}
    settings.STATIC_ROOT = tmp_path
    [error] = [m for m in checks.run_checks() if m.id == "pages.E001"]
    assert "DejaVuSans.ttf" in error.msg and "DejaVuSans-Bold.ttf" in error.msg
