"""What a link to a pledge, a campaign, its wall or an organisation's page shows where it is
shared: the Open Graph and Twitter card tags (ShareMeta, drawn by templates/_share_meta.html)
and the share image's card (pages.share_images draws it).

This is the one place that decides which words go into a preview. Everything typed by a person
(a pledge, a name, a role, an organisation, a campaign's description) passes through
`public_text`, so no email address reaches an image or a tag, whoever typed it: the pledger's own
address is never read here at all, and one typed into a field comes out as a marker.

An image's address carries a digest of its card and the renderer's version: when anything drawn
changes (an organiser corrects the words, the pledger's anonymity, the sectors, the campaign's
name or hashtag), the page links a new address, drawn on its first request."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass

from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.text import Truncator

from campaigns.models import Campaign, Phase
from changeday.lib.mail import absolute_url
from organisations.models import Organisation
from pages.share_images import HEIGHT, RENDERER_VERSION, WIDTH, Sector, ShareCard, plain
from pages.share_storage import share_images_forget
from pledges.models import Pledge, SectorSlug, Transition
from pledges.screening import EMAIL_REMOVED, without_contact_details
from pledges.services import PledgeMoved
from pledges.sharing import pledge_by

# One colour per sector on the images, NHS England's palette; white text on each reads at 4.5:1
# or better.
SECTOR_COLOURS: dict[str, str] = {
    SectorSlug.NHS: "#005eb8",
    SectorSlug.SOCIAL_CARE: "#330072",
    SectorSlug.HOUSING: "#007f3b",
    SectorSlug.PATIENT_CARER: "#ae2573",
}
ALL_SECTORS = tuple(Sector(SectorSlug(slug).label, colour) for slug, colour in SECTOR_COLOURS.items())

# An "@" with anything before it ("sam@nhs", '"sam"@nhs.net', "sam\u200b@nhs.net" once the
# invisible space is gone), or a bare one before a domain ("@nhs.net"): an address to a reader
# even where it is not a whole one to the screening's pattern. The whole word goes. A handle
# ("@NHSEngland") names an organisation's account, not anyone's inbox, and stays.
_ADDRESS_LIKE = re.compile(r"\S+@\S*|@[\w-]+[.\u3002\uff0e\uff61]\S*")
# Digests are hex of this length in every image address (pages/urls.py).
DIGEST_LENGTH = 20
DESCRIPTION_LENGTH = 200
# Long enough to say what the image shows; X reads 1,000 characters at most.
ALT_LENGTH = 420


def public_text(text: str) -> str:
    """`text` as a preview may show it: one line, visible characters only, every email address,
    link and phone number replaced by a marker (as emails quote pledges)."""
    # Invisible characters first: "sam\u200b@nhs.net" must not slip past as two words.
    visible = plain(unicodedata.normalize("NFKC", text))
    return " ".join(without_contact_details(_ADDRESS_LIKE.sub(EMAIL_REMOVED, visible)).split())


def _short(text: str, length: int) -> str:
    return Truncator(text).chars(length)


def card_digest(card: ShareCard) -> str:
    drawn = json.dumps([RENDERER_VERSION, asdict(card)], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(drawn.encode()).hexdigest()[:DIGEST_LENGTH]


def _sectors(slugs: list[str]) -> tuple[Sector, ...]:
    return tuple(Sector(SectorSlug(slug).label, SECTOR_COLOURS[slug]) for slug in slugs) or ALL_SECTORS


# --- Cards ---------------------------------------------------------------------------------------


def _pledge_signature(pledge: Pledge) -> tuple[str, str]:
    """The title ("Sam Patel's pledge", "A staff nurse's pledge") and the line under it, from what
    the permalink shows: a pledger who asked not to be named is named nowhere."""
    role = public_text(pledge.role)
    title = pledge_by(
        display_name=public_text(pledge.display_name), is_anonymous=pledge.is_anonymous, role=role
    )
    organisation = public_text(pledge.org.name if pledge.org else pledge.organisation)
    parts = [organisation] if pledge.is_anonymous else [role, organisation]
    return title, ", ".join(part for part in parts if part)


def card_for_pledge(pledge: Pledge) -> ShareCard:
    campaign = pledge.campaign
    title, byline = _pledge_signature(pledge)
    return ShareCard(
        campaign=public_text(campaign.name),
        hashtag=campaign.hashtag,
        lead="I pledge to",
        words=public_text(pledge.text),
        title=title,
        byline=byline,
        sectors=_sectors(pledge.sector_slugs),
    )


def _campaign_words(campaign: Campaign) -> str:
    first = campaign.description.strip().split("\n\n", 1)[0]
    return _short(public_text(first), 280) or (
        "Make a public pledge for health and care: the NHS, social care, housing, patients and carers."
    )


def _campaign_call(campaign: Campaign) -> str:
    phase = campaign.phase()
    if phase is Phase.OPEN:
        return "Make your pledge"
    if phase is Phase.UPCOMING:
        return f"Pledging opens {date_format(campaign.opens_at, 'j F Y')}"
    return "Read the pledges"


def card_for_campaign(campaign: Campaign) -> ShareCard:
    organiser = public_text(campaign.organiser_name)
    return ShareCard(
        campaign=public_text(campaign.name),
        hashtag=campaign.hashtag,
        lead="",
        words=_campaign_words(campaign),
        title=_campaign_call(campaign),
        byline=f"Run by {organiser}" if organiser else "",
        sectors=ALL_SECTORS,
    )


def card_for_wall(campaign: Campaign) -> ShareCard:
    return ShareCard(
        campaign=public_text(campaign.name),
        hashtag=campaign.hashtag,
        lead="The pledge wall",
        words="Promises from people across the NHS, social care and housing, and from patients and carers.",
        title="Read them, add yours" if campaign.phase() is Phase.OPEN else "Read the pledges",
        byline="",
        sectors=ALL_SECTORS,
    )


def card_for_organisation(campaign: Campaign, organisation: Organisation) -> ShareCard:
    name = public_text(organisation.name)
    return ShareCard(
        campaign=public_text(campaign.name),
        hashtag=campaign.hashtag,
        lead="",
        words=f"Pledges made by people at {name}",
        title=name,
        byline=f"{organisation.get_kind_display()} · {organisation.get_region_display()}",
        sectors=ALL_SECTORS,
    )


# --- The tags ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareMeta:
    """templates/_share_meta.html's values: every address absolute, every text from public_text."""

    type: str
    title: str
    description: str
    url: str
    image: str
    image_alt: str
    image_width: int = WIDTH
    image_height: int = HEIGHT


def _alt(card: ShareCard, said: str) -> str:
    """What the image shows, in words, for those who cannot see it."""
    sectors = ", ".join(sector.label for sector in card.sectors)
    said = said.rstrip(" .")
    return _short(f"{said}. {card.title}. {card.campaign}, #{card.hashtag}. Sectors: {sectors}.", ALT_LENGTH)


def _meta(
    *,
    type_: str,
    title: str,
    description: str,
    path: str,
    card: ShareCard,
    alt: str,
    image: str,
    **kwargs: str,
) -> ShareMeta:
    return ShareMeta(
        type=type_,
        title=title,
        description=_short(description, DESCRIPTION_LENGTH),
        url=absolute_url(path),
        image=absolute_url(reverse(image, kwargs={**kwargs, "digest": card_digest(card)})),
        image_alt=_alt(card, alt),
    )


def share_meta_for_pledge(pledge: Pledge) -> ShareMeta | None:
    """A published pledge's tags; None for any other (its page is its pledger's alone, if anyone's)."""
    if not pledge.is_public:
        return None
    card = card_for_pledge(pledge)
    return _meta(
        type_="article",
        title=f"{card.title} for {card.campaign}",
        description=f"I pledge to {card.words}",
        path=reverse("pledges:detail", kwargs={"public_id": pledge.public_id}),
        card=card,
        alt=f"I pledge to {card.words}",
        image="pages:share_image_pledge",
        public_id=pledge.public_id,
    )


def share_meta_for_campaign(campaign: Campaign) -> ShareMeta:
    card = card_for_campaign(campaign)
    return _meta(
        type_="website",
        title=card.campaign,
        description=card.words,
        path=reverse("pages:campaign_detail", kwargs={"slug": campaign.slug}),
        card=card,
        alt=card.words,
        image="pages:share_image_campaign",
        slug=campaign.slug,
    )


def share_meta_for_wall(campaign: Campaign) -> ShareMeta:
    card = card_for_wall(campaign)
    return _meta(
        type_="website",
        title=f"The pledge wall: {card.campaign}",
        description=f"Read the pledges people made for {card.campaign}, by sector, region and words.",
        # The wall itself, whatever the filters or page it was shared from.
        path=reverse("pledges:wall", kwargs={"slug": campaign.slug}),
        card=card,
        alt=f"{card.lead}: {card.words}",
        image="pages:share_image_wall",
        slug=campaign.slug,
    )


def share_meta_for_organisation(campaign: Campaign, organisation: Organisation) -> ShareMeta:
    card = card_for_organisation(campaign, organisation)
    return _meta(
        type_="website",
        title=f"{card.title}: {card.campaign}",
        description=f"{card.words} for {card.campaign}.",
        path=reverse("pages:organisation", kwargs={"slug": campaign.slug, "org_slug": organisation.slug}),
        card=card,
        alt=card.words,
        image="pages:share_image_organisation",
        slug=campaign.slug,
        org_slug=organisation.slug,
    )


# --- A pledge's images leave with it ---------------------------------------------------------------


def pledge_share_images_erase(*, email_canonical: str, pledge_ids: list[int]) -> None:
    """A pledger's erasure (pledges.privacy, in its transaction): their pledges' images go too."""
    public_ids = Pledge.objects.filter(pk__in=pledge_ids).values_list("public_id", flat=True)
    share_images_forget(subjects=[f"pledge/{public_id}" for public_id in public_ids])


def pledge_share_images_withdrawn(moved: PledgeMoved) -> None:
    """A pledger who takes their pledge back takes its image back too. (Other moves off the wall
    leave the file, never served while the pledge is not published, for a restore to use.)"""
    if moved.transition == Transition.WITHDRAW:
        share_images_forget(subjects=[f"pledge/{moved.pledge.public_id}"])
