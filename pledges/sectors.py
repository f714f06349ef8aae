"""A pledge's sectors have one record: its django-taggit tags (TaggedSector rows).

Pledge.sector_mask, the column the wall, the moderation queue and the live counters filter on
without joining the tag table, is derived from those tags by pledges.models.sector_mask_for,
which every write path calls on the very slugs it tags the pledge with (pledge_create, both its
inserts, and load_pledges). Moderation never changes a pledge's sectors, and erasing a pledge
deletes its tags with it (the foreign key cascades). pledge_sectors_repair, run nightly, finds
any pledge whose mask and tags disagree anyway (a manual edit, a restore, a bug) and derives
the mask again from the tags.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from campaigns.models import Campaign
from pledges.models import PUBLIC_STATES, Pledge, Sector, TaggedSector, sector_mask_for, sector_slugs_for
from pledges.selectors import wall_changed
from pledges.services import campaign_recompute_totals

logger = logging.getLogger(__name__)

# Pledges read per query while looking for disagreements: a nightly pass over a million
# pledges stays a hundred short range scans, and memory stays flat.
SCAN_BATCH = 10_000


@dataclass(frozen=True)
class SectorRepair:
    """What pledge_sectors_repair changed."""

    masks_repaired: list[int]
    tags_restored: list[int]
    campaigns_recounted: list[int]


def pledge_sectors_repair(*, batch_size: int = SCAN_BATCH) -> SectorRepair:
    """Derive sector_mask again from the tags wherever the two disagree.

    A pledge left with no tag at all cannot take a mask of none (a check constraint keeps
    every pledge in a sector), so its tags are restored from its mask, the only record left.
    Campaigns where a published pledge changed get their live counters recounted, since the
    counters were moved with the mask as it was.
    """
    masks_repaired: list[int] = []
    tags_restored: list[int] = []
    campaign_ids: set[int] = set()
    disagreeing = list(_disagreeing_pledge_ids(batch_size=batch_size))
    for start in range(0, len(disagreeing), batch_size):
        with transaction.atomic():
            repaired, restored, touched = _repair(pledge_ids=disagreeing[start : start + batch_size])
        masks_repaired += repaired
        tags_restored += restored
        campaign_ids |= touched
    for campaign in Campaign.objects.filter(pk__in=campaign_ids).order_by("pk"):
        campaign_recompute_totals(campaign=campaign)
        wall_changed(campaign_id=campaign.pk)
    if masks_repaired or tags_restored:
        logger.warning(
            "Sectors repaired: masks of pledges %s derived again from their tags; tags of pledges %s "
            "restored from their masks",
            masks_repaired,
            tags_restored,
        )
    return SectorRepair(
        masks_repaired=masks_repaired, tags_restored=tags_restored, campaigns_recounted=sorted(campaign_ids)
    )


def _disagreeing_pledge_ids(*, batch_size: int) -> Iterator[int]:
    after = 0
    while True:
        masks = dict(
            Pledge.objects.filter(pk__gt=after).order_by("pk").values_list("pk", "sector_mask")[:batch_size]
        )
        if not masks:
            return
        first, last = min(masks), max(masks)
        tagged = _tag_slugs(TaggedSector.objects.filter(content_object__gte=first, content_object__lte=last))
        yield from (pk for pk, mask in masks.items() if sector_mask_for(tagged.get(pk, [])) != mask)
        after = last


def _tag_slugs(links: QuerySet[TaggedSector]) -> dict[int, list[str]]:
    slugs: dict[int, list[str]] = {}
    for pledge_id, slug in links.values_list("content_object_id", "tag__slug"):
        slugs.setdefault(pledge_id, []).append(slug)
    return slugs


def _repair(*, pledge_ids: Sequence[int]) -> tuple[list[int], list[int], set[int]]:
    # The rows are locked and their tags read again under the lock: a pledge erased, or
    # repaired by another run, since the scan is left as it now is.
    pledges = list(
        Pledge.objects.select_for_update()
        .filter(pk__in=pledge_ids)
        .order_by("pk")
        .only("pk", "campaign_id", "status", "sector_mask")
    )
    tagged = _tag_slugs(TaggedSector.objects.filter(content_object_id__in=pledge_ids))
    repaired: list[int] = []
    restored: list[int] = []
    campaign_ids: set[int] = set()
    for pledge in pledges:
        slugs = tagged.get(pledge.pk)
        if not slugs:
            TaggedSector.objects.bulk_create(
                TaggedSector(content_object_id=pledge.pk, tag=tag)
                for tag in Sector.objects.filter(slug__in=sector_slugs_for(pledge.sector_mask))
            )
            restored.append(pledge.pk)
            continue
        mask = sector_mask_for(slugs)
        if mask == pledge.sector_mask:
            continue
        Pledge.objects.filter(pk=pledge.pk).update(sector_mask=mask)
        repaired.append(pledge.pk)
        if pledge.status in PUBLIC_STATES:
            campaign_ids.add(pledge.campaign_id)
    return repaired, restored, campaign_ids
