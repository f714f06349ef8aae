from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from campaigns.models import Campaign


def campaign_get_current(*, now: datetime | None = None) -> Campaign | None:
    """The campaign `/` shows: the open one closing soonest, else the next to
    open, else the one that closed last."""
    now = now or timezone.now()
    open_now = Campaign.objects.filter(opens_at__lte=now, deadline__gt=now).order_by("deadline")
    upcoming = Campaign.objects.filter(opens_at__gt=now).order_by("opens_at")
    closed = Campaign.objects.filter(deadline__lte=now).order_by("-deadline")
    for queryset in (open_now, upcoming, closed):
        campaign = queryset.first()
        if campaign is not None:
            return campaign
    return None
