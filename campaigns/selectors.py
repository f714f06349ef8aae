from __future__ import annotations

import re
from datetime import datetime

from django.utils import timezone

from campaigns.models import Campaign

# What a campaign slug can be (Django's slug, at most the column's length).
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,80}")


def campaign_get_by_slug(slug: str) -> Campaign | None:
    """The campaign at this slug, or None. Checked before the query: PostgreSQL
    answers a null character with an error rather than no match, and a
    5,000-character slug is no campaign's either."""
    return Campaign.objects.filter(slug=slug).first() if SLUG_RE.fullmatch(slug) else None


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
