"""Link previews: Open Graph and Twitter card tags on the campaign, pledge, organisation and wall
pages, and the share image each links (1200x630 PNG, drawn on the server, kept in storage)."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from conftest import create_pledge
from moderation.services import pledge_moderate
from pages import share_images, share_storage
from pages.apps import share_image_fonts_check
from pages.share_cards import card_digest, card_for_pledge, public_text
from pages.share_images import ShareCard, share_image_render
from pages.tests.orgs import make_org, org_pledge
from pledges.privacy import pledger_data_erase
from pledges.services import pledge_confirmation_token, pledge_withdraw
from testsupport.admin import pledge_admin_values
from testsupport.artifacts import keep_artifact

pytestmark = pytest.mark.django_db

SITE = "http://testserver"
# An address as a reader would take it: something, an @, something with a dot, or anything
# glued to an @ ("sam@nhs", '"sam"@nhs.net').
ADDRESS = re.compile(r"\S@\S|@[\w-]+\.\w")
TAGS = (
    "og:site_name",
    "og:type",
    "og:title",
    "og:description",
    "og:url",
    "og:image",
    "og:image:width",
    "og:image:height",
    "og:image:alt",
    "twitter:card",
    "twitter:title",
    "twitter:description",
    "twitter:image",
    "twitter:image:alt",
)


@pytest.fixture(autouse=True)
def _own_media(settings: Any, tmp_path: Path) -> None:
    """Each test keeps its images in its own directory."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ShareCard]]:
    """Every card handed to the renderer, drawn for real."""
    cards: list[ShareCard] = []

    def render(card: ShareCard) -> bytes:
        cards.append(card)
        return share_image_render(card)

    monkeypatch.setattr(share_storage, "share_image_render", render)
    yield cards


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        key = found.get("property") or found.get("name")
        if tag == "meta" and key and found.get("content") is not None:
            self.tags[key] = found["content"] or ""


def preview(response: Any) -> dict[str, str]:
    assert response.status_code == 200
    parser = _Tags()
    parser.feed(response.content.decode())
    return parser.tags


def path_of(url: str) -> str:
    assert url.startswith(f"{SITE}/"), f"{url} is not absolute on the site"
    return urlsplit(url).path


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


def kept_images() -> list[str]:
    root = Path(django_settings.MEDIA_ROOT) / share_storage.FOLDER
    return sorted(str(path.relative_to(root)) for path in root.rglob("*.png")) if root.exists() else []


@pytest.fixture
def pages(campaign: Any) -> dict[str, str]:
    """Each page that has a preview, by name."""
    riverside = make_org(1, name="Riverside Homes", slug="riverside-homes", kind="housing-association")
    pledge = org_pledge(
        campaign,
        riverside,
        1,
        text="check every tenant leaving hospital has heating",
        display_name="Sam Patel",
        role="Housing officer",
        sectors=["housing", "nhs"],
    )
    return {
        "home": "/",
        "campaign": f"/campaigns/{campaign.slug}/",
        "wall": f"/campaigns/{campaign.slug}/wall/",
        "organisation": f"/campaigns/{campaign.slug}/organisations/{riverside.slug}/",
        "pledge": f"/pledges/{pledge.public_id}/",
    }


# --- Every page, its tags and its image --------------------------------------------------------


@pytest.mark.parametrize("page", ["home", "campaign", "wall", "organisation", "pledge"])
def test_each_pages_open_graph_image_answers_200_as_a_1200x630_png(pages: dict[str, str], page: str) -> None:
    tags = preview(Client().get(pages[page]))

    for name in TAGS:
        assert tags.get(name), f"{name} missing on the {page} page"
    assert tags["twitter:card"] == "summary_large_image"
    assert (tags["og:image:width"], tags["og:image:height"]) == ("1200", "630")
    assert tags["twitter:image"] == tags["og:image"]
    path_of(tags["og:url"])

    image = Client().get(path_of(tags["og:image"]))

    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert png_size(image.content) == (1200, 630)
    # For a person to look at after the run: no assertion can tell whether it looks right.
    assert keep_artifact("share-images", f"share-{page}.png", image.content).read_bytes() == image.content
    assert image["Cache-Control"] == "public, max-age=31536000, immutable"
    assert image["X-Content-Type-Options"] == "nosniff"
    assert not image.cookies, "a shared cache would hand one visitor's cookie to the next"
    assert "Cookie" not in image.get("Vary", "")


def test_each_preview_points_at_the_pages_own_canonical_address(pages: dict[str, str], campaign: Any) -> None:
    home = preview(Client().get("/"))
    filtered_wall = preview(Client().get(pages["wall"], {"sector": "nhs", "q": "tenant"}))
    pledge = preview(Client().get(pages["pledge"]))

    assert home["og:url"] == f"{SITE}/campaigns/{campaign.slug}/"
    assert home["og:image"] == preview(Client().get(pages["campaign"]))["og:image"]
    assert filtered_wall["og:url"] == f"{SITE}/campaigns/{campaign.slug}/wall/"
    assert pledge["og:url"] == f"{SITE}{pages['pledge']}"
    assert pledge["og:type"] == "article"
    assert pledge["og:title"] == "Sam Patel's pledge for Change Day 2027"
    assert pledge["og:description"] == "I pledge to check every tenant leaving hospital has heating"


def test_the_pledges_image_shows_its_words_sectors_campaign_and_hashtag(
    pages: dict[str, str], drawn: list[Any]
) -> None:
    tags = preview(Client().get(pages["pledge"]))
    Client().get(path_of(tags["og:image"]))

    [card] = drawn
    assert card.lead == "I pledge to"
    assert card.words == "check every tenant leaving hospital has heating"
    assert (card.campaign, card.hashtag) == ("Change Day 2027", "ChangeDay")
    assert card.title == "Sam Patel's pledge"
    assert card.byline == "Housing officer, Riverside Homes"
    assert [(sector.label, sector.colour) for sector in card.sectors] == [
        ("NHS", "#005eb8"),
        ("Housing", "#007f3b"),
    ]
    assert "I pledge to check every tenant leaving hospital has heating" in tags["og:image:alt"]
    assert "#ChangeDay" in tags["og:image:alt"]


# --- Never an email --------------------------------------------------------------------------------

TROLL_ADDRESSES = [
    "sam.patel@nhs.net",
    "SAM@NHS.NET",
    "sam＠nhs．net",  # full-width at and dot
    "sam\u200b@nhs.net",  # a zero-width space inside
    '"sam"@nhs.net',
    "sam@nhs",
    "sam@nhs。net",
    "mailto:sam@nhs.net",
    "(sam@nhs.net)",
]


@pytest.mark.parametrize("address", TROLL_ADDRESSES)
def test_an_address_typed_in_any_form_comes_out_of_public_text_as_a_marker(address: str) -> None:
    said = public_text(f"write to {address} about it")

    assert not ADDRESS.search(said), said
    assert "nhs.net" not in said.lower()
    assert said.startswith("write to ") and said.endswith(" about it")


def test_a_handle_is_not_an_address_and_stays() -> None:
    assert public_text("thank @NHSEngland for the idea") == "thank @NHSEngland for the idea"


@given(
    local=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,20}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9]{1,12}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_no_address_survives_public_text(local: str, domain: str, before: str, after: str) -> None:
    said = public_text(f"{before} {local}@{domain} {after}")

    assert f"{local}@{domain}".lower() not in said.lower()
    assert "@" + domain not in said


def test_the_text_handed_to_the_renderer_holds_no_email(
    campaign: Any, organiser: Any, drawn: list[Any]
) -> None:
    """A troll types addresses into every field shown in public; the pledger's own address is
    private. Nothing of either reaches the renderer, the tags or the alt text."""
    pledge = create_pledge(
        campaign,
        text="email me at troll.one@evil.example or TROLL＠EVIL．EXAMPLE for free stuff",
        display_name="bob@evil.example",
        role='"carer"@evil.example',
        organisation="Contact sam\u200b@nhs.net Trust",
        email="the.real.pledger@private.example",
    )
    assert pledge.status == "pending", "screening held it"
    pledge_moderate(pledge_ids=[pledge.pk], action="publish", actor=organiser)
    pledge.refresh_from_db()
    assert pledge.is_public, "an organiser published it after reading it"

    tags = preview(Client().get(f"/pledges/{pledge.public_id}/"))
    image = Client().get(path_of(tags["og:image"]))

    assert image.status_code == 200
    [card] = drawn
    for field, value in asdict(card).items():
        for text in [value] if isinstance(value, str) else [sector["label"] for sector in value]:
            assert not ADDRESS.search(text), f"{field}: {text}"
            assert "evil" not in text and "private" not in text and "nhs.net" not in text, f"{field}: {text}"
    assert "[email address removed]" in card.words, "the address is masked, not silently dropped"
    for name, content in tags.items():
        assert not ADDRESS.search(content), f"{name}: {content}"
        assert "the.real.pledger" not in content


def test_an_anonymous_pledge_names_no_person_in_its_preview(campaign: Any, drawn: list[Any]) -> None:
    pledge = create_pledge(
        campaign,
        display_name="Sam Patel",
        is_anonymous=True,
        role="Staff Nurse",
        organisation="Leeds Teaching Hospitals",
    )

    tags = preview(Client().get(f"/pledges/{pledge.public_id}/"))
    Client().get(path_of(tags["og:image"]))

    [card] = drawn
    assert card.title == "A staff nurse's pledge"
    assert card.byline == "Leeds Teaching Hospitals"
    assert tags["og:title"] == "A staff nurse's pledge for Change Day 2027"
    assert all("Sam" not in content and "Patel" not in content for content in tags.values())
    assert all("Sam" not in str(value) for value in asdict(card).values())


# --- Changes make a new image at a new address -------------------------------------------------------


def _pledge_change(client: Client, pledge: Any, **changes: Any) -> None:
    values = pledge_admin_values(pledge, **changes)
    response = client.post(f"/admin/pledges/pledge/{pledge.pk}/change/", values)
    assert response.status_code == 302, response.content.decode()[:2000]


@pytest.mark.parametrize(
    "change",
    [{"display_name": "Sam P."}, {"is_anonymous": "on"}],
    ids=["name", "anonymity"],
)
def test_an_organisers_edit_gives_a_new_image_at_a_new_address_and_the_old_one_is_gone(
    campaign: Any, organiser: Any, drawn: list[Any], change: dict[str, str]
) -> None:
    pledge = create_pledge(campaign, display_name="Sam Patel", text="visit the day centre once a month")
    page = f"/pledges/{pledge.public_id}/"
    before = path_of(preview(Client().get(page))["og:image"])
    old_image = Client().get(before)
    staff = Client()
    staff.force_login(organiser)

    _pledge_change(staff, pledge, **change)
    after = path_of(preview(Client().get(page))["og:image"])
    new_image = Client().get(after)

    assert after != before
    assert new_image.status_code == 200 and png_size(new_image.content) == (1200, 630)
    assert new_image.content != old_image.content
    assert Client().get(before).status_code == 404, "the old words are never served again"
    assert kept_images() == [f"pledge/{pledge.public_id}/{after.rsplit('share-', 1)[1]}"]
    assert len(drawn) == 2
    if "display_name" in change:
        assert "Sam P." in drawn[-1].title
    else:
        assert drawn[-1].title == "An occupational therapist's pledge"


def test_a_new_campaign_name_or_hashtag_changes_every_image_address(
    pages: dict[str, str], campaign: Any
) -> None:
    before = {page: preview(Client().get(path))["og:image"] for page, path in pages.items() if page != "home"}

    campaign.hashtag = "ChangeDay27"
    campaign.save()  # what the campaign admin does
    time.sleep(1.1)  # the pages are shared between visitors for a second
    after = {page: preview(Client().get(path))["og:image"] for page, path in pages.items() if page != "home"}

    for page in before:
        assert after[page] != before[page], page
        assert Client().get(path_of(before[page])).status_code == 404
        assert Client().get(path_of(after[page])).status_code == 200


# --- Abuse -------------------------------------------------------------------------------------------


def _image_path(pledge: Any) -> str:
    return f"/pledges/{pledge.public_id}/share-{card_digest(card_for_pledge(pledge))}.png"


@pytest.mark.parametrize("status", ["unconfirmed", "pending", "hidden", "rejected", "withdrawn"])
def test_a_pledge_that_is_not_published_has_no_image_and_no_tags(
    campaign: Any, pre_campaign: Any, organiser: Any, drawn: list[Any], status: str
) -> None:
    if status == "unconfirmed":
        pledge = create_pledge(campaign, confirm=False)
    elif status == "pending":
        pledge = create_pledge(pre_campaign)
    else:
        pledge = create_pledge(campaign)
        if status == "withdrawn":
            pledge_withdraw(pledge=pledge)
        else:
            action = {"hidden": "hide", "rejected": "reject"}[status]
            pledge_moderate(
                pledge_ids=[pledge.pk], action=action, actor=organiser, reason_code="not-a-pledge"
            )
    pledge.refresh_from_db()
    assert pledge.status == status

    response = Client().get(_image_path(pledge))

    assert response.status_code == 404
    assert drawn == [] and kept_images() == []


def test_the_pledgers_own_view_of_a_waiting_pledge_has_no_preview(pre_campaign: Any, client: Client) -> None:
    pledge = create_pledge(pre_campaign, confirm=False)

    client.post(f"/pledges/confirm/{pledge_confirmation_token(pledge=pledge)}/")
    page = client.get(f"/pledges/{pledge.public_id}/")

    assert page.status_code == 200 and "Only you can see it here" in page.content.decode()
    assert not any(name.startswith(("og:", "twitter:")) for name in preview(page))
    assert pledge.text not in preview(page).get("description", "")


def test_a_published_image_stops_being_served_once_the_pledge_is_hidden(
    campaign: Any, organiser: Any, drawn: list[Any]
) -> None:
    pledge = create_pledge(campaign)
    path = _image_path(pledge)
    assert Client().get(path).status_code == 200

    pledge_moderate(pledge_ids=[pledge.pk], action="hide", actor=organiser)

    assert Client().get(path).status_code == 404
    assert len(drawn) == 1


def test_a_made_up_or_borrowed_digest_is_a_404_and_draws_nothing(campaign: Any, drawn: list[Any]) -> None:
    mine, theirs = create_pledge(campaign, 1), create_pledge(campaign, 2)
    digest = card_digest(card_for_pledge(mine))
    attempts = [
        f"/pledges/{mine.public_id}/share-{'0' * 20}.png",
        f"/pledges/{theirs.public_id}/share-{digest}.png",  # another pledge's digest
        f"/pledges/{mine.public_id}/share-{digest.upper()}.png",
        f"/pledges/{mine.public_id}/share-{digest[:-1]}.png",
        f"/pledges/{mine.public_id}/share-{digest}0.png",
        f"/pledges/{mine.public_id}/share-..%2F..%2Fsettings.png",
        f"/pledges/{mine.public_id}/share-{digest}.png%00",
        f"/pledges/nosuchpledge9/share-{digest}.png",
        f"/campaigns/{campaign.slug}/share-{digest}.png",
        f"/campaigns/no-such-campaign/share-{digest}.png",
        f"/campaigns/{campaign.slug}/organisations/nobody/share-{digest}.png",
    ]

    for path in attempts:
        assert Client().get(path).status_code == 404, path
    assert drawn == [] and kept_images() == []


def test_only_get_and_head_are_answered(campaign: Any) -> None:
    path = _image_path(create_pledge(campaign))

    assert Client().post(path).status_code == 405
    head = Client().head(path)
    assert head.status_code == 200 and head["Content-Type"] == "image/png"


def test_a_flood_of_requests_for_one_image_draws_it_once(campaign: Any, drawn: list[Any]) -> None:
    path = _image_path(create_pledge(campaign))

    bodies = {Client(REMOTE_ADDR=f"192.0.2.{n}").get(path).content for n in range(1, 31)}

    assert len(drawn) == 1
    assert len(bodies) == 1
    assert len(kept_images()) == 1


def test_requests_arriving_together_make_one_file_and_none_is_served_half_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twelve requests for an image nobody has drawn yet, at the same moment: one draws (slowly),
    the others wait for its file; every one gets the whole image."""
    card = ShareCard(
        "Change Day 2027", "ChangeDay", "I pledge to", "say hello to every patient", "A pledge", "", ()
    )
    calls: list[int] = []

    def slow(card: ShareCard) -> bytes:
        calls.append(1)
        time.sleep(0.3)
        return share_image_render(card)

    monkeypatch.setattr(share_storage, "share_image_render", slow)
    name = share_storage.share_image_name(subject="pledge/together", digest=card_digest(card))
    start = threading.Barrier(12)
    results: list[bytes] = []

    def request() -> None:
        start.wait()
        results.append(
            share_storage.share_image_stored(name) or share_storage.share_image_make(name=name, card=card)
        )

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 1
    assert len(results) == 12 and len(set(results)) == 1
    assert png_size(results[0]) == (1200, 630)
    assert kept_images() == [f"pledge/together/{card_digest(card)}.png"]


def test_a_file_cut_short_is_never_served_and_is_drawn_again(campaign: Any, drawn: list[Any]) -> None:
    pledge = create_pledge(campaign)
    path = _image_path(pledge)
    whole = share_image_render(card_for_pledge(pledge))
    name = share_storage.share_image_name(subject=f"pledge/{pledge.public_id}", digest=path[-24:-4])
    default_storage.save(name, ContentFile(whole[: len(whole) // 2]))  # a node died writing it

    response = Client().get(path)

    assert response.status_code == 200
    assert response.content == whole
    assert png_size(response.content) == (1200, 630)
    assert len(drawn) == 1
    with default_storage.open(name, "rb") as kept:
        assert kept.read() == whole


def test_drawing_is_limited_per_network_but_kept_images_are_always_served(
    campaign: Any, settings: Any, drawn: list[Any]
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "share-image": (3, 600)}
    paths = [_image_path(create_pledge(campaign, n)) for n in range(1, 6)]
    troll = Client(REMOTE_ADDR="192.0.2.66")

    answers = [troll.get(path).status_code for path in paths]

    assert answers == [200, 200, 200, 429, 429]
    refused = troll.get(paths[3])
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert troll.get(paths[0]).status_code == 200, "a kept image costs nothing to serve"
    assert Client(REMOTE_ADDR="192.0.2.67").get(paths[3]).status_code == 200, "another network still draws"
    assert len(drawn) == 4


def test_a_browser_that_has_the_image_gets_a_304(campaign: Any) -> None:
    path = _image_path(create_pledge(campaign))
    first = Client().get(path)

    again = Client().get(path, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert again["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_withdrawn_or_erased_pledge_takes_its_image_with_it(
    campaign: Any, django_capture_on_commit_callbacks: Any
) -> None:
    withdrawn = create_pledge(campaign, 1)
    erased = create_pledge(campaign, 2, email="erase.me@example.org")
    kept = create_pledge(campaign, 3)
    for pledge in (withdrawn, erased, kept):
        assert Client().get(_image_path(pledge)).status_code == 200
    assert len(kept_images()) == 3

    with django_capture_on_commit_callbacks(execute=True):
        pledge_withdraw(pledge=withdrawn)
        pledger_data_erase(email="erase.me@example.org")

    assert [image.split("/")[1] for image in kept_images()] == [kept.public_id]


# --- The drawing ------------------------------------------------------------------------------------


def _blank(image: Image.Image, box: tuple[int, int, int, int]) -> bool:
    return image.crop(box).getextrema() == ((255, 255), (255, 255), (255, 255))


def test_a_500_character_pledge_is_wrapped_within_the_margins_and_cut_with_an_ellipsis() -> None:
    words = ("take-every-single-opportunity-to-learn " + "and listen to the people I care for " * 20)[:500]
    card = ShareCard("Change Day 2027", "ChangeDay", "I pledge to", words, "A pledge", "", ())

    image = Image.open(io.BytesIO(share_image_render(card))).convert("RGB")

    assert image.size == (1200, 630)
    assert _blank(image, (1130, 100, 1200, 470)), "no word runs into the right margin"
    assert _blank(image, (0, 100, 70, 470)), "nor the left one"
    assert not _blank(image, (72, 200, 1128, 440)), "the words are drawn"


@pytest.mark.parametrize(
    "words",
    [
        "W" * 500,
        "ﷺ" * 120 + " مرحبا بكم في المستشفى" * 10,
        "a" + "\u0301" * 499,
        "line\none\ttab\x00null\u202eright-to-left override\u200b" * 8,
        "😀🏥" * 250,
        "<script>alert(1)</script> & &amp; %s {{ campaign }}",
    ],
    ids=["one-long-word", "arabic", "combining-marks", "controls", "emoji", "markup"],
)
def test_hostile_text_is_drawn_within_the_margins_never_an_error(words: str) -> None:
    long_label = share_images.Sector("S" * 60, "#005eb8")
    card = ShareCard("C" * 200, "H" * 100, "I pledge to", words, "T" * 120, "B" * 300, (long_label,) * 4)

    image = Image.open(io.BytesIO(share_image_render(card))).convert("RGB")

    assert image.size == (1200, 630)
    assert _blank(image, (1130, 100, 1200, 470)), "nothing runs into the right margin"
    footer = image.crop((0, 474, 1200, 630))
    assert footer.crop((0, 0, 70, 156)).getextrema() == ((240, 240), (244, 244), (245, 245)), "nor the left"


def test_letters_of_other_scripts_are_drawn_and_those_no_font_has_are_left_out() -> None:
    setter = share_images._Setter("bold", 40)

    runs = list(setter.runs("Łukasz Жанна 中"))

    assert "".join(run.text for run in runs) == "Łukasz Жанна "
    assert [run.text for run in runs][:2] == ["Ł", "ukasz "], "Atkinson's two files share the Latin"


def test_collectstatic_gathers_the_fonts_the_server_draws_with_and_no_others(
    settings: Any, tmp_path: Path
) -> None:
    settings.STATIC_ROOT = tmp_path / "static"

    call_command("collectstatic", "--noinput", verbosity=0)

    fonts = sorted(path.name for path in (tmp_path / "static" / "vendor" / "fonts").iterdir())
    assert fonts == sorted(Path(name).name for name in django_settings.SERVER_FONTS)
    assert len(fonts) == 6


def test_fonts_come_from_the_collected_static_files_and_without_them_pillows_own_still_draws(
    settings: Any, tmp_path: Path
) -> None:
    collected = tmp_path / "static"
    for name, source in django_settings.SERVER_FONTS.items():
        (collected / name).parent.mkdir(parents=True, exist_ok=True)
        (collected / name).write_bytes(Path(source).read_bytes())
    settings.SERVER_FONTS = {}  # a node built without node_modules
    settings.STATIC_ROOT = collected
    card = ShareCard("Change Day 2027", "ChangeDay", "I pledge to", "learn every name", "A pledge", "", ())
    try:
        share_images._font_paths.cache_clear()
        assert share_images.fonts_missing() == []
        assert all(path.startswith(str(collected)) for path in share_images._font_paths("bold"))
        with_fonts = share_image_render(card)

        settings.STATIC_ROOT = tmp_path / "nothing-collected"
        share_images._font_paths.cache_clear()
        assert len(share_images.fonts_missing()) == 6
        assert [message.id for message in share_image_fonts_check()] == ["pages.W001"]
        without = share_image_render(card)
    finally:
        share_images._font_paths.cache_clear()

    assert png_size(without) == png_size(with_fonts) == (1200, 630)
    assert without != with_fonts


def test_the_same_card_always_has_the_same_digest_and_any_drawn_change_a_new_one() -> None:
    card = ShareCard(
        "Change Day 2027", "ChangeDay", "I pledge to", "learn every name", "A pledge", "Nurse", ()
    )

    changed = [
        replace(card, words="learn every name!"),
        replace(card, hashtag="ChangeDay27"),
        replace(card, campaign="Change Day 2028"),
        replace(card, title="Sam's pledge"),
        replace(card, sectors=(share_images.Sector("NHS", "#005eb8"),)),
    ]

    assert card_digest(card) == card_digest(replace(card))
    assert len({card_digest(card), *map(card_digest, changed)}) == 6
