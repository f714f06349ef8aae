from __future__ import annotations

from celery import shared_task

from pledges import services


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
def purge_unconfirmed_task() -> dict[str, int]:
    """Delete what people gave but never confirmed, once it can no longer be confirmed."""
    return services.unconfirmed_purge()
