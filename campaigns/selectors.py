from __future__ import annotations

import copy
import re
import time
from datetime import datetime

from django.http import Http404
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.cache import ProcessMemo

# What a campaign slug can be (Django's slug, at most the column's length).
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,80}")


def campaign_get_by_slug(slug: str) -> Campaign | None:
    """The campaign at this slug, or None. Checked before the query: PostgreSQL
    answers a null character with an error rather than no match, and a
    5,000-character slug is no campaign's either."""
    return Campaign.objects.filter(slug=slug).first() if SLUG_RE.fullmatch(slug) else None


# Each pledge and each wall page on Change Day reads its campaign, a row organisers change a few
# times a day: each process keeps what it read for this long (bench/README.md, pledge submission).
CAMPAIGN_MEMO_SECONDS = 2.0
_memo: ProcessMemo[str, Campaign] = ProcessMemo()


def campaign_for_visitors(slug: str) -> Campaign | None:
    """campaign_get_by_slug, remembered by this process for CAMPAIGN_MEMO_SECONDS.

    Saving or deleting a campaign forgets every one at once in the process that did it
    (campaigns.apps); other processes see the change within CAMPAIGN_MEMO_SECONDS. Opening and
    closing are worked out from the clock on each call, so they are never late. For public pages
    only: organisers' pages and anything that writes to a campaign read the row itself.
    """
    now = time.monotonic()
    campaign = _memo.get(slug, now=now)
    if campaign is None:
        campaign = campaign_get_by_slug(slug)
        if campaign is None:
            return None  # never remembered: a memo entry per guessed slug would grow without end
        _memo.put(slug, campaign, until=now + CAMPAIGN_MEMO_SECONDS)
    # A copy: whatever one request does to its campaign stays out of the next.
    return copy.copy(campaign)


def campaign_for_visitors_or_404(slug: str) -> Campaign:
    campaign = campaign_for_visitors(slug)
    if campaign is None:
        raise Http404("No campaign here.")
    return campaign


def campaign_memo_forget(**_: object) -> None:
    _memo.clear()


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
