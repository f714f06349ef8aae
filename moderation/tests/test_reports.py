"""One person cannot hide a pledge: a report counts once per client network (an
IPv4 address, an IPv6 /64, read through the trusted-proxy rule), however many
sessions it comes from, and the campaign's report threshold counts distinct
networks. Every report still reaches the organisers."""

from __future__ import annotations

import html
import threading
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.test import Client

from conftest import create_pledge
from moderation.models import ModerationEvent, Report
from moderation.services import pledge_report
from pledges.models import Pledge, Status

BALANCER = "10.0.0.2"


@pytest.fixture(autouse=True)
def _behind_a_load_balancer(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1


def _report(pledge: Pledge, address: str, *, detail: str = "", reason: str = "offensive") -> int:
    """A report from a browser with fresh cookies, as the balancer passes it on."""
    browser = Client(REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=address)
    response = browser.post(f"/pledges/{pledge.public_id}/report/", {"reason": reason, "detail": detail})
    return response.status_code


def _is_on_its_permalink(pledge: Pledge) -> bool:
    return Client().get(f"/pledges/{pledge.public_id}/").status_code == 200


def _moderation_page(organiser: Any, **query: str) -> str:
    client = Client()
    client.force_login(organiser)
    response = client.get("/moderation/", query)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_one_network_reporting_from_ten_fresh_sessions_does_not_hide_a_pledge_and_organisers_see_every_report(
    campaign: Any, organiser: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    assert campaign.report_threshold == 3
    statuses = [_report(pledge, "198.51.100.7", detail=f"complaint number {n}") for n in range(10)]
    assert statuses == [302] * 10

    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED and pledge.report_count == 1
    assert _is_on_its_permalink(pledge)
    assert not ModerationEvent.objects.filter(pledge=pledge).exists()
    assert Report.objects.filter(pledge=pledge).count() == 10

    page = _moderation_page(organiser, campaign=campaign.slug, status="published")
    assert pledge.text in page
    assert "10 reports, from 1 network" in page
    assert "It is offensive or abusive ×10" in page
    for n in range(10):
        assert f"“complaint number {n}”" in page


def test_reports_from_three_networks_hide_the_pledge_until_an_organiser_decides(
    campaign: Any, organiser: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    assert _report(pledge, "198.51.100.7") == 302
    assert _report(pledge, "198.51.100.7", reason="spam") == 302
    assert _report(pledge, "203.0.113.9") == 302
    assert Pledge.objects.get(pk=pledge.pk).status == Status.PUBLISHED
    assert _report(pledge, "2001:db8:77::1", detail="abusive") == 302

    pledge.refresh_from_db()
    assert pledge.status == Status.HIDDEN and pledge.report_count == 3
    assert not _is_on_its_permalink(pledge)
    page = _moderation_page(organiser, campaign=campaign.slug)
    assert pledge.text in page
    assert '<span class="mod-status">Hidden after reports</span>' in page
    assert "4 reports, from 3 networks" in page
    assert "“abusive”" in page


def test_an_ipv6_visitor_rotating_through_its_64_counts_once(campaign: Any) -> None:
    pledge = create_pledge(campaign, 1)
    for n in range(8):
        assert _report(pledge, f"2001:db8:abcd:12:{n:x}:{n * 97:x}::{n + 1:x}") == 302
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED and pledge.report_count == 1
    assert Report.objects.filter(pledge=pledge).count() == 8

    # Two more subscribers, each their own /64: three networks.
    assert _report(pledge, "2001:db8:abcd:13::1") == 302
    assert Pledge.objects.get(pk=pledge.pk).status == Status.PUBLISHED
    assert _report(pledge, "2001:db8:abcd:14::1") == 302
    assert Pledge.objects.get(pk=pledge.pk).status == Status.HIDDEN


def test_the_x_forwarded_for_a_visitor_writes_does_not_make_them_another_network(campaign: Any) -> None:
    pledge = create_pledge(campaign, 1)
    for n in range(5):
        # The left-most entry is the visitor's own invention; the balancer appends what it saw.
        assert _report(pledge, f"192.0.2.{n}, 198.51.100.7") == 302
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED and pledge.report_count == 1


@pytest.mark.postgres_only("concurrent writers: SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_reports_sent_at_the_same_moment_count_each_network_exactly_once(campaign: Any) -> None:
    campaign.report_threshold = 4
    campaign.save(update_fields=["report_threshold"])
    pledge = create_pledge(campaign, 1)
    # Four networks, three sessions each, all at once.
    senders = [(f"network-{n % 4}", f"session-{n}") for n in range(12)]
    start = threading.Barrier(len(senders))
    errors: list[BaseException] = []

    def send(network_key: str, reporter_key: str) -> None:
        try:
            # Each visitor saw the pledge on the wall before anyone's report landed.
            shown = Pledge.objects.select_related("campaign").get(pk=pledge.pk)
            start.wait(timeout=30)
            pledge_report(pledge=shown, reporter_key=reporter_key, network_key=network_key, reason="spam")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=send, args=sender) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    pledge.refresh_from_db()
    assert Report.objects.filter(pledge=pledge).count() == 12
    assert Report.objects.filter(pledge=pledge, counted=True).count() == 4
    assert pledge.report_count == 4
    assert pledge.status == Status.HIDDEN
    assert ModerationEvent.objects.filter(pledge=pledge).count() == 1
