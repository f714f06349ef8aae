"""Single-client latency of the wall, the API and the counters at scale.

Run after `load_pledges` (see bench/README.md). It goes through Django's full
request stack in-process (no HTTP server, no concurrency): it shows whether each
page stays cheap on a big table; throughput under load is issue 7's harness.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeday.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
# In-process requests only: links point nowhere real, so production settings may take http.
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("CHANGEDAY_ALLOW_HTTP_SITE_URL", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
django.setup()

from django.core.cache import cache  # noqa: E402
from django.test import Client  # noqa: E402

from campaigns.models import Campaign  # noqa: E402
from pledges.models import Pledge  # noqa: E402
from pledges.services import campaign_recompute_totals  # noqa: E402

REPEATS = 15


def timed(name: str, call: Callable[[], object], repeats: int = REPEATS) -> None:
    call()  # warm caches and the query plan
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{name:<48} median {statistics.median(samples):7.1f} ms   max {p99:7.1f} ms")


def main(slug: str) -> None:
    campaign = Campaign.objects.get(slug=slug)
    published = Pledge.objects.filter(campaign=campaign, status="published")
    print(f"campaign {slug}: {published.count():,} published pledges")
    client = Client()
    deep = published.order_by("published_at", "public_id").values_list("published_at", "public_id")[1000]
    cursor = (
        urlsafe_b64encode(f"{int(deep[0].timestamp() * 1_000_000)}:{deep[1]}".encode()).decode().rstrip("=")
    )
    wall = f"/campaigns/{slug}/wall/"

    def get(path: str, **query: str) -> Callable[[], object]:
        def call() -> object:
            response = client.get(path, query)
            assert response.status_code == 200, (path, query, response.status_code)
            return response

        return call

    timed("wall, first page", get(wall))
    timed("wall, page 1,000 from the end (cursor)", get(wall, cursor=cursor))
    for query in (
        {"sector": "housing"},
        {"sector": "patient-carer"},
        {"integration": "1"},
        {"region": "wales"},
        {"kind": "organisational"},
        {"q": "carers"},
        {"q": "discharge", "sector": "housing"},
    ):
        timed(f"wall, {query}", get(wall, **query))
    timed("wall, region=wales, deep cursor", get(wall, region="wales", cursor=cursor))
    timed("api pledges, first page", get(f"/api/v1/campaigns/{slug}/pledges"))
    timed(
        "api pledges, sector=social-care, cursor",
        get(f"/api/v1/campaigns/{slug}/pledges", sector="social-care", cursor=cursor),
    )

    def counters_uncached() -> object:
        cache.clear()
        return get(f"/api/v1/campaigns/{slug}/counters")()

    timed("api counters, cache cold", counters_uncached)
    timed("api counters, cache warm", get(f"/api/v1/campaigns/{slug}/counters"))
    timed("campaign page", get(f"/campaigns/{slug}/"))
    timed(
        "recompute_totals (whole campaign)", lambda: campaign_recompute_totals(campaign=campaign), repeats=3
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench")
