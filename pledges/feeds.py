"""Atom feeds, per campaign and per sector: the newest published pledges, and the changes made
(pledges whose pledger answered done or started, however old, the latest answer first)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.http import urlencode
from django.utils.xmlutils import SimplerXMLGenerator

from campaigns.models import Campaign
from pledges.models import SECTOR_BITS, Pledge, SectorSlug, Verified, sector_slugs_for
from pledges.screening import without_email_addresses
from pledges.selectors import OUTCOME_CHANGES, WallFilters, changes_made, wall_pledges

FEED_SIZE = 50
# Characters XML 1.0 cannot carry at all. The form lets a pledger type some of them (a vertical
# tab, an escape), and one such pledge would otherwise make the feed a 500 for every reader.
NOT_XML_CHARACTERS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str | None) -> str | None:
    return None if value is None else NOT_XML_CHARACTERS.sub("\ufffd", value)


def _title(campaign: Campaign, sector: str, what: str) -> str:
    return f"{campaign.name}: {SectorSlug(sector).label} {what}" if sector else f"{campaign.name}: {what}"


@dataclass(frozen=True)
class FeedLink:
    title: str
    url: str


def feed_links(*, campaign: Campaign, sector: str = "") -> list[FeedLink]:
    """The feeds a page announces (<link rel="alternate">), titled as the feeds title themselves."""
    name, kwargs = "pledges:", {"slug": campaign.slug}
    if sector:
        name, kwargs = "pledges:sector-", {**kwargs, "sector": sector}
    return [
        FeedLink(_title(campaign, sector, "pledges"), reverse(f"{name}feed", kwargs=kwargs)),
        FeedLink(_title(campaign, sector, "changes made"), reverse(f"{name}changes-feed", kwargs=kwargs)),
    ]


class PlainTextAtom1Feed(Atom1Feed):
    """Atom whose entry summaries are `type="text"`.

    Django's Atom1Feed marks every summary `type="html"`, so a reader would render the
    `<a href=…>` or `<img onerror=…>` a pledger typed as markup. As text, a reader shows the
    angle brackets as typed. Titles and author names are text already (Atom's default type).
    Characters XML cannot carry become U+FFFD, the replacement character.
    """

    def add_item_elements(self, handler: SimplerXMLGenerator, item: dict[str, Any]) -> None:
        text = {key: _xml_text(item[key]) for key in ("title", "description", "author_name")}
        super().add_item_elements(handler, {**item, **text, "description": None})
        if text["description"] is not None:
            handler.addQuickElement("summary", text["description"], {"type": "text"})


class PledgeFeed(Feed):
    feed_type = PlainTextAtom1Feed

    def get_object(self, request: HttpRequest, slug: str, sector: str = "") -> tuple[Campaign, str]:
        if sector and sector not in SECTOR_BITS:
            raise Http404("No such sector.")
        return get_object_or_404(Campaign, slug=slug), sector

    def title(self, obj: tuple[Campaign, str]) -> str:
        return _title(*obj, "pledges")

    def subtitle(self, obj: tuple[Campaign, str]) -> str:
        return f"The newest published pledges for #{obj[0].hashtag}"

    def link(self, obj: tuple[Campaign, str]) -> str:
        campaign, sector = obj
        url = reverse("pledges:wall", kwargs={"slug": campaign.slug})
        return f"{url}?sector={sector}" if sector else url

    def items(self, obj: tuple[Campaign, str]) -> list[Pledge]:
        campaign, sector = obj
        # The wall's own query: published only, and only the fields a card shows.
        return wall_pledges(campaign=campaign, filters=WallFilters(sector=sector), limit=FEED_SIZE).pledges

    def item_title(self, item: Pledge) -> str:
        return f"I pledge to {item.text[:120]}"

    def item_description(self, item: Pledge) -> str:
        organisation = item.org.name if item.org is not None else item.organisation
        who = ", ".join(part for part in (item.public_name, item.role, organisation) if part)
        text = (
            f"I pledge to {item.text}\n\n{who}. {item.get_region_display()}. {', '.join(item.sector_labels)}."
        )
        if item.verified == Verified.STAFF and item.org is not None:
            text += f"\n\nVerified: staff at {item.org.name}."
        elif item.verified == Verified.SHARED_DOMAIN:
            text += f"\n\nVerified: {item.campaign.staff_domains_label}."
        if item.outcome:
            text += f"\n\nOutcome: {item.get_outcome_display()}."
        # story_text: the published story only (selectors.with_published_story), else None.
        # An address typed into it comes out as a marker, even if an organiser let it through.
        if item.story_text:
            text += f"\n\nWhat changed: {without_email_addresses(item.story_text)}"
        return text

    def item_categories(self, item: Pledge) -> list[str]:
        # Machine-readable beside the summary: a reader can filter on a sector's slug
        # ("social-care") or on "outcome:done".
        categories = list(sector_slugs_for(item.sector_mask))
        if item.outcome:
            categories.append(f"outcome:{item.outcome}")
        return categories

    def item_link(self, item: Pledge) -> str:
        return reverse("pledges:detail", kwargs={"public_id": item.public_id})

    def item_guid(self, item: Pledge) -> str:
        return f"changeday:pledge:{item.public_id}"

    item_guid_is_permalink = False

    def item_author_name(self, item: Pledge) -> str:
        return item.public_name

    def item_pubdate(self, item: Pledge) -> datetime | None:
        return item.published_at

    def item_updateddate(self, item: Pledge) -> datetime | None:
        # Atom requires <updated> in every entry: the last time a reader would see it change
        # (published, or its pledger told us how it went).
        return max(filter(None, (item.published_at, item.outcome_at)), default=None)


class ChangesFeed(PledgeFeed):
    """The changes made: published pledges answered done or started, the latest change first,
    however old the pledge. The newest-pledges feed carries only the newest 50, so an answer
    given to an older pledge would never reach its subscribers."""

    def title(self, obj: tuple[Campaign, str]) -> str:
        return _title(*obj, "changes made")

    def subtitle(self, obj: tuple[Campaign, str]) -> str:
        return f"Promises made for #{obj[0].hashtag} that became changes: done or started, the latest first"

    def link(self, obj: tuple[Campaign, str]) -> str:
        campaign, sector = obj
        url = reverse("pledges:wall", kwargs={"slug": campaign.slug})
        return f"{url}?{urlencode({**({'sector': sector} if sector else {}), 'outcome': OUTCOME_CHANGES})}"

    def items(self, obj: tuple[Campaign, str]) -> list[Pledge]:
        campaign, sector = obj
        return changes_made(campaign=campaign, sector=sector, limit=FEED_SIZE)

    def item_title(self, item: Pledge) -> str:
        return f"{item.get_outcome_display()}: I pledge to {item.text[:120]}"

    def item_guid(self, item: Pledge) -> str:
        # Not the pledge's own id: an entry here is the change, and a reader following both
        # feeds must not take it for the pledge's entry in the other.
        return f"changeday:change:{item.public_id}"

    def item_updateddate(self, item: Pledge) -> datetime | None:
        # The answer, or the published story's publication or edit if later (selectors.changes_made).
        return item.changed_at
