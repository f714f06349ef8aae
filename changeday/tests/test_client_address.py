"""The client address behind a proxy: read from X-Forwarded-For only when a
proxy is configured, counting trusted hops from the right, so a value the
client wrote itself never decides whose limit a request counts against.
Behind load balancers every request comes from a balancer's address: rate
limits count the visitor the balancer saw, each visitor their own."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from changeday.lib.env import env_rate
from changeday.lib.hashing import keyed_hash
from changeday.lib.ratelimit import client_ip, client_key
from changeday.tests.test_settings import manage, production_env
from conftest import create_pledge
from pledges.models import Pledge

REPORTS_PER_HOUR = django_settings.RATE_LIMITS["report"][0]


def _ip(forwarded: str | None, remote: str = "10.0.0.5") -> str:
    meta: dict[str, str] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


def test_without_a_proxy_x_forwarded_for_is_ignored(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    assert _ip("203.0.113.9", remote="198.51.100.1") == "198.51.100.1"


def test_behind_one_proxy_the_address_it_saw_is_the_client_not_the_spoofable_left_most(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert _ip("203.0.113.9") == "203.0.113.9"
    # The client sent its own X-Forwarded-For; the proxy appended the real address.
    assert _ip("1.2.3.4, 203.0.113.9") == "203.0.113.9"
    assert _ip("1.2.3.4,5.6.7.8 ,  2001:db8::1") == "2001:db8::1"


def test_behind_two_proxies_the_second_from_the_right_is_the_client(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 2
    # spoofed, client (added by the CDN), CDN (added by the load balancer)
    assert _ip("1.2.3.4, 203.0.113.9, 192.0.2.250") == "203.0.113.9"
    # A request that came straight to the load balancer has one entry.
    assert _ip("203.0.113.9") == "203.0.113.9"


def test_a_missing_or_mangled_header_falls_back_to_the_connection_address(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert _ip(None) == "10.0.0.5"
    assert _ip("") == "10.0.0.5"
    assert _ip("1.2.3.4, not-an-address") == "10.0.0.5"
    assert _ip("1.2.3.4, 203.0.113.9:4711") == "10.0.0.5"


def test_a_spoofer_changing_the_left_most_value_is_still_one_client_to_the_limit(
    settings: Any, campaign: Any, pledge_data: dict[str, Any]
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pledge": (2, 600)}
    statuses = []
    for n in range(4):
        data = {**pledge_data, "email": f"p{n}@example.org", "submission_token": str(uuid.uuid4())}
        data["text"] = f"{pledge_data['text']} {n}"
        forwarded = f"192.0.2.{n}, 203.0.113.9"
        response = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded).post(
            f"/campaigns/{campaign.slug}/pledge/", data
        )
        statuses.append(response.status_code)
    assert statuses == [302, 302, 429, 429]
    assert Pledge.objects.count() == 2


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


def _key(address: str) -> str:
    return client_key(RequestFactory().get("/", REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=address))


def test_an_ipv6_visitor_is_one_client_across_its_64_and_the_next_64_is_another(
    campaign: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert _key("2001:db8:1:2::1") == _key("2001:db8:1:2:ffff:ffff:ffff:fffe") == _key("2001:DB8:1:2:0:0:0:1")
    assert _key("2001:db8:1:2::1") != _key("2001:db8:1:3::1")
    pledge = create_pledge(campaign, 1)
    # A new address of the same /64 for every report.
    rotating = [f"2001:db8:1:2:{n:x}:{n * 31:x}::{n + 1:x}" for n in range(REPORTS_PER_HOUR + 1)]
    statuses = _reports(Client(), pledge.public_id, REPORTS_PER_HOUR + 1, rotating)
    assert statuses == [302] * REPORTS_PER_HOUR + [429]
    assert _reports(Client(), pledge.public_id, 1, ["2001:db8:1:3::1"]) == [302]


def test_ipv4_clients_are_counted_by_address_and_an_ipv4_mapped_ipv6_address_is_that_address(
    campaign: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert _key("::ffff:198.51.100.7") == _key("198.51.100.7") != _key("198.51.100.8")
    pledge = create_pledge(campaign, 1)
    both_forms = ["198.51.100.7", "::ffff:198.51.100.7"]
    statuses = _reports(Client(), pledge.public_id, REPORTS_PER_HOUR + 1, both_forms)
    assert statuses == [302] * REPORTS_PER_HOUR + [429]
    # The next address along is someone else, as it always was.
    assert _reports(Client(), pledge.public_id, 1, ["198.51.100.8"]) == [302]


@pytest.mark.services
@pytest.mark.redis("the cache")
def test_client_addresses_reach_redis_only_as_keyed_hashes(
    settings: Any, campaign: Any, pledge_data: dict[str, Any]
) -> None:
    import redis

    settings.TRUSTED_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.77")
    assert client.post(f"/campaigns/{campaign.slug}/pledge/", pledge_data).status_code == 302
    assert (
        client.post("/accounts/login/", {"username": "Someone@Example.org", "password": "x"}).status_code
        == 200
    )
    keys = [key.decode() for key in redis.Redis.from_url(settings.REDIS_URL).scan_iter(match="*ratelimit:*")]
    assert any(keyed_hash("203.0.113.77", purpose="client") in key for key in keys)
    assert len(keys) >= 3  # pledge and login per address, login per account name
    assert not any("203.0.113.77" in key or "10.0.0.5" in key or "example.org" in key for key in keys)
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.77")
    assert "203.0.113.77" not in client_key(request)


def _printed(code: str, env: dict[str, str]) -> str:
    """What production settings print for `code` (the last line: shell greets first)."""
    result = manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_proxy_count_comes_from_the_environment_and_needs_the_proxy_switch() -> None:
    code = "from django.conf import settings; print(settings.TRUSTED_PROXY_COUNT)"
    assert _printed(code, production_env()) == "0"
    behind = production_env(DJANGO_BEHIND_TLS_PROXY="1")
    assert _printed(code, behind) == "1"
    two = production_env(DJANGO_BEHIND_TLS_PROXY="1", DJANGO_TRUSTED_PROXY_COUNT="2")
    assert _printed(code, two) == "2"
    bad = manage("check", env=production_env(DJANGO_BEHIND_TLS_PROXY="1", DJANGO_TRUSTED_PROXY_COUNT="-1"))
    assert bad.returncode != 0 and "DJANGO_TRUSTED_PROXY_COUNT" in bad.stderr


def test_rate_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_RATE", "30/15m")
    assert env_rate("X_RATE", "1/1h") == (30, 900)
    monkeypatch.setenv("X_RATE", "5/90")
    assert env_rate("X_RATE", "1/1h") == (5, 90)
    monkeypatch.delenv("X_RATE")
    assert env_rate("X_RATE", "10/1h") == (10, 3600)
    for bad in ("lots", "10", "10/", "0/1h", "10/1w", "-1/1h"):
        monkeypatch.setenv("X_RATE", bad)
        with pytest.raises(ImproperlyConfigured, match="X_RATE"):
            env_rate("X_RATE", "1/1h")
    code = "from django.conf import settings; import json; print(json.dumps(settings.RATE_LIMITS))"
    limits = json.loads(_printed(code, production_env(RATE_LIMIT_PLEDGE="100/1h")))
    assert limits["pledge"] == [100, 3600]
    assert limits["login-failures-account"] == [10, 900] and limits["login-failures-network"] == [20, 900]
