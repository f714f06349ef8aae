"""load_pledges: bulk benchmark pledges that keep every rule a real pledge keeps.

The bench app is installed only for the benchmark harness (CHANGEDAY_BENCH_ENDPOINTS),
so the command is called by its object rather than by name."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from bench.tools.management.commands import load_pledges
from campaigns.models import Campaign
from pledges.models import PUBLIC_ID_ALPHABET, SECTOR_BITS, Kind, Pledge, Region, Status, TaggedSector
from pledges.services import pledge_dedupe_key

pytestmark = pytest.mark.django_db

COUNT = 500
PUBLIC_ID = re.compile(f"^[{PUBLIC_ID_ALPHABET}]{{12}}$")


def _load(campaign: Campaign, count: int = COUNT, **options: Any) -> str:
    out = io.StringIO()
    options.setdefault("seed", 2014)
    call_command(load_pledges.Command(), campaign=campaign.slug, count=count, stdout=out, **options)
    return out.getvalue()


def _per_sector(campaign: Campaign) -> tuple[dict[str, int], dict[str, int]]:
    """Pledges per sector counted from sector_mask, and from the tag rows."""
    by_mask = Pledge.objects.filter(campaign=campaign).aggregate(
        **{
            slug: Count("pk", filter=GreaterThan(F("sector_mask").bitand(bit), 0))
            for slug, bit in SECTOR_BITS.items()
        }
    )
    by_tag = dict(
        TaggedSector.objects.filter(content_object__campaign=campaign)
        .values_list("tag__slug")
        .annotate(n=Count("pk"))
    )
    return by_mask, by_tag


def _pledges_whose_tags_differ_from_their_mask(campaign: Campaign) -> int:
    # tagged_sector_unique rules out a tag twice and the bits are distinct
    # powers of two, so the sum of a pledge's tag bits equals its mask exactly
    # when the two name the same sectors.
    return (
        Pledge.objects.filter(campaign=campaign)
        .annotate(tag_bits=Coalesce(Sum("sector_links__tag__bit"), 0))
        .exclude(tag_bits=F("sector_mask"))
        .count()
    )


def test_load_pledges_makes_published_pledges_across_every_sector(campaign: Campaign) -> None:
    output = _load(campaign)

    pledges = Pledge.objects.filter(campaign=campaign)
    assert pledges.count() == COUNT
    assert not pledges.exclude(status=Status.PUBLISHED).exists()
    by_mask, by_tag = _per_sector(campaign)
    assert by_mask == by_tag
    assert set(by_mask) == set(SECTOR_BITS) and all(n > 0 for n in by_mask.values())
    assert _pledges_whose_tags_differ_from_their_mask(campaign) == 0
    assert f"Loaded {COUNT:,} pledges" in output and "pledges/s" in output


def test_about_a_third_of_loaded_pledges_name_two_or_more_sectors(campaign: Campaign) -> None:
    _load(campaign)

    single = set(SECTOR_BITS.values())
    integration = Pledge.objects.filter(campaign=campaign).exclude(sector_mask__in=single).count()
    assert 0.25 * COUNT < integration < 0.45 * COUNT


def test_loaded_pledges_keep_every_rule_of_a_real_pledge(campaign: Campaign) -> None:
    _load(campaign)
    now = timezone.now()

    pledges = list(Pledge.objects.filter(campaign=campaign))
    assert all(PUBLIC_ID.match(p.public_id) for p in pledges)
    assert len({p.public_id for p in pledges}) == COUNT
    assert all(p.consent_to_publish and 1 <= p.sector_mask <= 15 for p in pledges)
    assert all(re.fullmatch(r"loadtest\+\d+@example\.invalid", p.email) for p in pledges)
    # The same key pledge_create would store, so a real pledge repeating a
    # loaded one is caught as a duplicate.
    assert all(p.dedupe_key == pledge_dedupe_key(email=p.email, text=p.text) for p in pledges)
    assert all(10 <= len(p.text) <= 500 for p in pledges)
    assert all(campaign.opens_at <= p.created_at <= p.confirmed_at <= p.published_at <= now for p in pledges)
    assert all(p.status_changed_at == p.published_at for p in pledges)


def test_loaded_pledges_vary_like_a_real_wall(campaign: Campaign) -> None:
    _load(campaign)

    pledges = list(Pledge.objects.filter(campaign=campaign))
    assert len({p.text for p in pledges}) > COUNT // 2
    assert {p.region for p in pledges} == set(Region.values)
    assert {p.kind for p in pledges} == set(Kind.values)
    anonymous = [p for p in pledges if p.is_anonymous]
    assert anonymous and all(p.display_name == "" for p in anonymous)
    assert any(p.organisation for p in pledges) and any(not p.organisation for p in pledges)
    # Spread over the days since opening, not stamped with one moment.
    assert len({p.published_at for p in pledges}) == COUNT


def test_running_load_pledges_twice_with_the_same_seed_doubles_the_count(campaign: Campaign) -> None:
    _load(campaign, seed=7, batch_size=200)
    _load(campaign, seed=7, batch_size=200)

    assert Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED).count() == 2 * COUNT
    assert _pledges_whose_tags_differ_from_their_mask(campaign) == 0


def test_the_same_seed_writes_the_same_pledges(make_campaign: Any) -> None:
    first, second = make_campaign(slug="first"), make_campaign(slug="second")
    _load(first, seed=3)
    _load(second, seed=3)

    def written(campaign: Campaign) -> list[tuple[Any, ...]]:
        return list(
            Pledge.objects.filter(campaign=campaign)
            .order_by("pk")
            .values_list("text", "display_name", "role", "region", "kind", "sector_mask")
        )

    assert written(first) == written(second)


def test_pre_moderated_pledges_were_published_after_they_were_confirmed(pre_campaign: Campaign) -> None:
    _load(pre_campaign, count=50)

    pledges = Pledge.objects.filter(campaign=pre_campaign)
    assert pledges.filter(confirmed_at__lt=F("published_at")).exists()
    assert not pledges.filter(confirmed_at__gt=F("published_at")).exists()


def test_load_pledges_refuses_an_unknown_campaign(campaign: Campaign) -> None:
    with pytest.raises(CommandError, match="no-such-day"):
        call_command(load_pledges.Command(), campaign="no-such-day", count=10, stdout=io.StringIO())
    assert not Pledge.objects.exists()


@pytest.mark.parametrize("count", [0, -5])
def test_load_pledges_refuses_a_count_below_one(campaign: Campaign, count: int) -> None:
    with pytest.raises(CommandError, match="--count"):
        _load(campaign, count=count)
    assert not Pledge.objects.exists()


# --- Organisations --------------------------------------------------------------------------


def _organisation_counts_match_the_pledges(campaign: Campaign) -> None:
    from organisations.models import OrganisationTotal

    counted = dict(
        Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED, org__isnull=False)
        .values_list("org_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    stored = dict(
        OrganisationTotal.objects.filter(campaign=campaign)
        .values_list("organisation_id")
        .annotate(n=Sum("pledges"))
        .filter(n__gt=0)
        .order_by()
    )
    assert counted and stored == counted


def test_organisations_spread_new_pledges_over_the_directory_with_exact_counters(campaign: Campaign) -> None:
    from organisations.models import Organisation

    output = _load(campaign, organisations=20)

    assert Organisation.objects.filter(code__startswith="BENCH").count() == 20
    pledges = Pledge.objects.filter(campaign=campaign)
    # Every pledge naming an organisation counts for one in the directory; the others for none.
    assert not pledges.exclude(organisation="").filter(org__isnull=True).exists()
    assert not pledges.filter(organisation="", org__isnull=False).exists()
    per_organisation = sorted(
        pledges.filter(org__isnull=False)
        .values_list("org_id")
        .annotate(n=Count("pk"))
        .values_list("n", flat=True)
    )
    # A few organisations gather many pledges, as a big trust pledging together does.
    assert per_organisation[-1] > 3 * per_organisation[len(per_organisation) // 2]
    _organisation_counts_match_the_pledges(campaign)
    assert "20 benchmark organisations" in output


def test_organisations_reach_pledges_loaded_before_them_without_loading_more(campaign: Campaign) -> None:
    _load(campaign, count=300)
    assert not Pledge.objects.filter(org__isnull=False).exists()

    _load(campaign, count=0, organisations=15)

    pledges = Pledge.objects.filter(campaign=campaign)
    assert pledges.count() == 300
    assert not pledges.exclude(organisation="").filter(org__isnull=True).exists()
    _organisation_counts_match_the_pledges(campaign)
    # Running it again finds nothing left to assign and makes no second directory.
    before = list(pledges.order_by("pk").values_list("org_id", flat=True))
    _load(campaign, count=0, organisations=15)
    assert list(pledges.order_by("pk").values_list("org_id", flat=True)) == before
