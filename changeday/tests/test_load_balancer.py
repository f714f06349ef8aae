"""Behind load balancers every request comes from a balancer's address: rate
limits must count the visitor the balancer saw (DJANGO_TRUSTED_PROXY_COUNT), and
never an address the visitor wrote into X-Forwarded-For themselves."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.test import Client

from conftest import create_pledge

REPORTS_PER_HOUR = django_settings.RATE_LIMITS["report"][0]

BALANCER = "10.0.0.2"


def _reports(client: Client, public_id: str, times: int, forwarded: list[str]) -> list[int]:
    statuses = []
    for n in range(times):
        response = client.post(
            f"/pledges/{public_id}/report/",
            {"reason": "spam"},
            REMOTE_ADDR=BALANCER,
            HTTP_X_FORWARDED_FOR=forwarded[n % len(forwarded)],
        )
        statuses.append(response.status_code)
    return statuses


def test_two_visitors_behind_one_balancer_each_have_their_own_report_limit(
    campaign: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    pledge = create_pledge(campaign, 1)
    first = _reports(Client(), pledge.public_id, REPORTS_PER_HOUR + 1, ["198.51.100.7"])
    assert first == [302] * REPORTS_PER_HOUR + [429]
    assert _reports(Client(), pledge.public_id, 1, ["198.51.100.8"]) == [302]


def test_addresses_a_visitor_forges_in_x_forwarded_for_do_not_lift_the_limit(
    campaign: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    pledge = create_pledge(campaign, 1)
    # The visitor sends a different made-up address each time; the balancer
    # appends the one it really saw.
    forged = [f"203.0.113.{n}, 198.51.100.7" for n in range(REPORTS_PER_HOUR + 1)]
    statuses = _reports(Client(), pledge.public_id, REPORTS_PER_HOUR + 1, forged)
    assert statuses[-1] == 429


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(campaign: Any, settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    pledge = create_pledge(campaign, 1)
    addresses = [f"198.51.100.{n}" for n in range(REPORTS_PER_HOUR + 1)]
    statuses = _reports(Client(), pledge.public_id, REPORTS_PER_HOUR + 1, addresses)
    assert statuses[-1] == 429
