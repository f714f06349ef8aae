from __future__ import annotations

from celery import shared_task

from pledges import privacy, services
from pledges.sectors import pledge_sectors_repair


@shared_task(acks_late=True)
def recompute_totals_task(campaign_id: int | None = None) -> int:
    """Recount the live counters of one campaign, or of every campaign."""
    from campaigns.models import Campaign

    campaigns = Campaign.objects.all() if campaign_id is None else Campaign.objects.filter(pk=campaign_id)
    repaired = 0
    for campaign in campaigns.iterator():
        repaired += len(services.campaign_recompute_totals(campaign=campaign))
    return repaired


@shared_task(acks_late=True)
def repair_sectors_task() -> int:
    """Derive every pledge's sector_mask again where it disagrees with its tags."""
    repair = pledge_sectors_repair()
    return len(repair.masks_repaired) + len(repair.tags_restored)


@shared_task(acks_late=True)
def purge_unconfirmed_task() -> dict[str, int]:
    """Delete what people gave but never confirmed, once it can no longer be confirmed."""
    return privacy.unconfirmed_purge()
