"""On a phone: an organiser downloads a sector's poster, its QR code (read with a real QR
reader from the PDF as printed, and from the SVG as a browser draws it) opens the pledge
form with the sector ticked, a pledge made there is published, and the statistics page
counts it under that poster. The posters page passes axe."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from django.core.cache import cache
from PIL import Image

from pages.stats import stats_cache_key
from pages.tests.posterscan import pdf_qr_codes
from pledges.models import Pledge, Status
from pledges.services import pledge_confirmation_url
from testsupport.browser import (
    PHONE,
    SCREENSHOTS,
    axe_violations,
    log_in_through_the_form,
    screenshot,
    script_errors,
)

pytestmark = pytest.mark.django_db(transaction=True)

PROMISE = "learn the name of every porter and cleaner on my ward"


def _svg_as_drawn(browser: Any, svg: str) -> Image.Image:
    """The SVG poster as chromium draws it, A4 at 150 dots an inch."""
    page = browser.new_page(viewport={"width": 1240, "height": 1754})
    body = svg.split("?>", 1)[1]  # the XML declaration cannot sit inside a page
    page.set_content(f'<!doctype html><body style="margin:0">{body}</body>')
    page.locator("svg").evaluate(
        "svg => { svg.setAttribute('width', 1240); svg.setAttribute('height', 1754); }"
    )
    image = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    page.close()
    return image


def test_an_organiser_downloads_a_poster_whose_qr_code_brings_a_pledge_the_stats_count(
    live_site: str, campaign: Any, organiser: Any, chromium: Any
) -> None:
    cache.delete(stats_cache_key(campaign.pk))
    form_url = f"{live_site}/campaigns/{campaign.slug}/pledge/?sector=nhs&source=poster-nhs"
    organisers = chromium.new_context(accept_downloads=True, bypass_csp=True, **PHONE)
    page = organisers.new_page()
    errors = script_errors(page)

    # The posters are for organisers: the page asks them to log in first.
    page.goto(f"{live_site}/campaigns/{campaign.slug}/posters/")
    log_in_through_the_form(
        page,
        email="organiser@example.org",
        password="pw-organiser-1",
        then=f"/campaigns/{campaign.slug}/posters/",
    )
    assert page.get_by_role("heading", level=1).inner_text() == "Posters and pledge cards"
    screenshot(page, "posters-1-page")
    assert axe_violations(page) == []

    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="PDF of the NHS poster").tap()
    pdf = Path(pdf_download.value.path()).read_bytes()
    assert pdf_download.value.suggested_filename == f"{campaign.slug}-poster-nhs.pdf"
    # The QR code as a phone reads it from the printed page.
    [[scanned]] = pdf_qr_codes(pdf)
    assert scanned == form_url

    with page.expect_download() as svg_download:
        page.get_by_role("link", name="SVG of the NHS poster").tap()
    svg = Path(svg_download.value.path()).read_text()
    drawn = _svg_as_drawn(chromium, svg)
    assert [result.text for result in zxingcpp.read_barcodes(drawn)] == [form_url]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    drawn.save(SCREENSHOTS / "posters-2-svg-as-drawn.png")

    # A nurse scans the poster on the ward: the form opens with NHS ticked.
    phone = chromium.new_context(**PHONE).new_page()
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(scanned)
    assert phone.get_by_role("heading", level=1).inner_text() == "Make a pledge"
    assert phone.get_by_label("NHS", exact=True).is_checked()
    assert not phone.get_by_label("Social care").is_checked()
    phone.get_by_label("I pledge to…").fill(PROMISE)
    phone.get_by_label("Your name as it should appear").fill("Ade Okafor")
    phone.get_by_label("Your role or job title").fill("Healthcare assistant")
    phone.get_by_role("combobox", name="Region").select_option(label="South West")
    phone.get_by_label("Email address").fill("ade.okafor@example.org")
    phone.get_by_label("I agree that my pledge").tap()
    screenshot(phone, "posters-3-form-from-the-poster")
    phone.get_by_role("button", name="Make my pledge").tap()
    phone.wait_for_url(f"**/campaigns/{campaign.slug}/pledge/sent/")

    pledge = Pledge.objects.get()
    assert pledge.source == "poster-nhs" and pledge.sector_slugs == ["nhs"]
    phone.goto(pledge_confirmation_url(pledge=pledge))
    phone.get_by_role("button", name="Confirm my pledge").tap()
    phone.wait_for_url(f"**/pledges/{pledge.public_id}/")
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED

    phone.goto(f"{live_site}/campaigns/{campaign.slug}/stats/")
    sources = phone.locator("table", has=phone.get_by_text("Published pledges by the poster or card"))
    row = sources.get_by_role("row", name="Sector poster: NHS")
    assert row.get_by_role("cell").inner_text() == "1"
    assert sources.get_by_role("row", name="Direct or other").get_by_role("cell").inner_text() == "0"
    assert "ade.okafor@example.org" not in phone.content()
    screenshot(phone, "posters-4-stats")
    assert errors == []
