from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client

from campaigns.models import Campaign
from outbox.models import OutboxEmail
from pledges.models import Pledge, Status, is_integration

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_makes_an_open_campaign_with_published_pledges_and_a_working_login() -> None:
    output = _seed()

    campaign = Campaign.objects.get()
    assert campaign.phase() == "open"
    pledges = Pledge.objects.filter(campaign=campaign)
    assert pledges.count() >= 10
    assert set(pledges.values_list("status", flat=True)) == {Status.PUBLISHED, Status.PENDING}
    # The screened ones wait for an organiser, so the demo queue has work in it.
    assert all(p.flags for p in pledges.filter(status=Status.PENDING))
    # Every sector is represented, and some pledges join sectors up.
    masks = set(pledges.values_list("sector_mask", flat=True))
    assert 1 | 2 | 4 | 8 == _union(masks)
    assert any(is_integration(mask) for mask in masks)
    assert not OutboxEmail.objects.exists(), "demo addresses must not be mailed"

    email, password = re.search(r"Organiser login: (\S+) / (\S+)", output).groups()
    client = Client()
    assert client.login(username=email, password=password)
    assert client.get("/admin/pledges/pledge/").status_code == 200

    home = Client().get("/").content.decode()
    assert campaign.name in home


def test_seed_demo_run_twice_keeps_one_campaign_and_the_latest_login_works() -> None:
    _seed()
    output = _seed()

    assert Campaign.objects.count() == 1
    email, password = re.search(r"Organiser login: (\S+) / (\S+)", output).groups()
    assert Client().login(username=email, password=password)


def _union(masks: set[int]) -> int:
    result = 0
    for mask in masks:
        result |= mask
    return result


def test_seed_demo_shows_both_verified_badges_on_the_wall() -> None:
    from organisations.models import OrganisationDomain
    from pledges.models import Verified

    _seed()

    campaign = Campaign.objects.get()
    assert campaign.staff_domains == "nhs.net"
    published = Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED).select_related("org")
    staff = [p for p in published if p.verified == Verified.STAFF]
    shared = [p for p in published if p.verified == Verified.SHARED_DOMAIN]
    assert len(staff) >= 2 and len(shared) >= 2
    for pledge in staff:
        domain = pledge.email.rpartition("@")[2]
        assert OrganisationDomain.objects.filter(organisation=pledge.org, domain=domain).exists()
    assert all(p.email.endswith("@nhs.net") for p in shared)
    # Made-up addresses on domains that take mail: never asked for anything.
    for pledge in [*staff, *shared]:
        assert not pledge.wants_reminders and not pledge.wants_follow_through

    wall = Client().get(f"/campaigns/{campaign.slug}/wall/?kind=personal").content.decode()
    wall += Client().get(f"/campaigns/{campaign.slug}/wall/?kind=organisational").content.decode()
    for pledge in staff:
        assert f"verified: staff at {pledge.org.name}" in wall
    assert "verified: NHS staff" in wall
    assert "@nhs.net" not in wall and "demo." not in wall
