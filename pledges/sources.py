"""Source tags: where a pledger came from when a poster's or card's QR code brought them.

The site makes every tag it prints (campaign posters, sector posters, organisation posters,
pledge cards); the pledge form keeps a tag only when it is one of those, so a made-up
`?source=` (a flood of them, markup, a tag naming no organisation) is dropped, never stored,
and the stats page never shows a label nobody printed.

Tags are short, since every character is printed in the QR code and makes it denser, and
fit `Pledge.source` (40 characters):

- `poster`: the campaign's poster;
- `poster-<sector>`: a sector's poster (`poster-nhs`, `poster-social-care`);
- `org-<code>`: an organisation's poster, by its directory code in lower case. The code,
  not the slug: slugs are made from names and run to 120 characters, codes to 32, and a
  code stays when a name (and so nothing else) changes;
- `card`: the printed pledge card.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from organisations.models import Organisation
from pledges.models import SectorSlug

CAMPAIGN_POSTER = "poster"
PLEDGE_CARD = "card"
SECTOR_POSTER_PREFIX = "poster-"
ORGANISATION_POSTER_PREFIX = "org-"
SOURCE_MAX_LENGTH = 40

# An organisation's code as organisations.services.code_normalise keeps it, in lower case.
_ORGANISATION_TAG = re.compile(r"org-([a-z0-9][a-z0-9./-]{0,31})")
# What a tag may look like at all, checked before anything else: short, lower-case letters,
# digits and the code's few marks. Anything else is not worth a lookup.
_TAG_SHAPE = re.compile(r"[a-z0-9][a-z0-9./-]{0,39}")
_SECTOR_TAGS = {f"{SECTOR_POSTER_PREFIX}{slug}": slug for slug in SectorSlug.values}


def source_for_sector(sector: str) -> str:
    return f"{SECTOR_POSTER_PREFIX}{SectorSlug(sector).value}"


def source_for_organisation(organisation: Organisation) -> str:
    return f"{ORGANISATION_POSTER_PREFIX}{organisation.code.lower()}"


def source_looks_made(raw: object) -> str:
    """`raw` if it has the shape of a tag the site makes, else "": no database read, for
    drawing a form back (nothing typed into the address bar is ever echoed)."""
    if not isinstance(raw, str) or not _TAG_SHAPE.fullmatch(raw):
        return ""
    if raw in (CAMPAIGN_POSTER, PLEDGE_CARD) or raw in _SECTOR_TAGS or _ORGANISATION_TAG.fullmatch(raw):
        return raw
    return ""


def source_clean(raw: object) -> str:
    """The tag to store with a pledge: `raw` when the site made it, else "" (never an error:
    a pledge from a mangled link is still a pledge). An organisation's tag counts only while
    the directory holds that code, one read by its unique index."""
    tag = source_looks_made(raw)
    found = _ORGANISATION_TAG.fullmatch(tag)
    if found and not Organisation.objects.filter(code=found.group(1).upper()).exists():
        return ""
    return tag


SOURCE_LABELS = {CAMPAIGN_POSTER: "Campaign poster", PLEDGE_CARD: "Pledge card"}


def source_labels(tags: Iterable[str]) -> dict[str, str]:
    """A label a person reads for each tag the site made ("Sector poster: Social care",
    "Organisation poster: Riverside Homes"); tags of any other shape are left out. One
    query for every organisation named, however many."""
    tags = [tag for tag in tags if source_looks_made(tag)]
    codes = [found.group(1).upper() for tag in tags if (found := _ORGANISATION_TAG.fullmatch(tag))]
    names = dict(Organisation.objects.filter(code__in=codes).values_list("code", "name")) if codes else {}
    labels: dict[str, str] = {}
    for tag in tags:
        if tag in SOURCE_LABELS:
            labels[tag] = SOURCE_LABELS[tag]
        elif tag in _SECTOR_TAGS:
            labels[tag] = f"Sector poster: {SectorSlug(_SECTOR_TAGS[tag]).label}"
        else:
            code = tag[len(ORGANISATION_POSTER_PREFIX) :].upper()
            name = names.get(code)
            # Merged away or deleted since it was printed: its pledges still came from a poster.
            labels[tag] = (
                f"Organisation poster: {name}"
                if name
                else f"Organisation poster: {code} (no longer in the directory)"
            )
    return labels
