"""Rate limits on pledging and reporting: over the limit a person gets a
friendly 429 with Retry-After and nothing is stored; with the cache down,
everyone is let through, logins included. The limits on failed sign-ins are
tested in campaigns/tests/test_login_limits.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from conftest import create_pledge
from outbox.models import OutboxEmail
from pledges.models import Pledge
from testsupport.processes import free_port


def _pledge(client: Client, campaign: Any, pledge_data: dict[str, Any], n: int, **extra: str) -> Any:
    data = {
        **pledge_data,
        "email": f"person{n}@example.org",
        "text": f"{pledge_data['text']} ({n})",
        "submission_token": str(uuid.uuid4()),
    }
    return client.post(f"/campaigns/{campaign.slug}/pledge/", data, **extra)


def test_pledges_over_the_limit_get_a_friendly_429_with_retry_after_and_nothing_is_stored(
    campaign: Any, pledge_data: dict[str, Any], settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pledge": (3, 600)}
    client = Client(REMOTE_ADDR="192.0.2.10")
    statuses = [_pledge(client, campaign, pledge_data, n).status_code for n in range(3)]
    assert statuses == [302, 302, 302]

    response = _pledge(client, campaign, pledge_data, 3)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 600
    body = response.content.decode()
    assert "Please slow down" in body
    assert "a lot of pledges" in body
    assert "Nothing you sent this time has been saved" in body
    assert Pledge.objects.count() == 3
    assert OutboxEmail.objects.count() == 3
    assert not Pledge.objects.filter(email="person3@example.org").exists()


def test_reading_the_pledge_form_does_not_count_and_other_addresses_are_not_held_back(
    campaign: Any, pledge_data: dict[str, Any], settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pledge": (1, 600)}
    busy = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(5):
        assert busy.get(f"/campaigns/{campaign.slug}/pledge/").status_code == 200
    assert _pledge(busy, campaign, pledge_data, 1).status_code == 302
    assert _pledge(busy, campaign, pledge_data, 2).status_code == 429
    assert _pledge(Client(REMOTE_ADDR="192.0.2.11"), campaign, pledge_data, 3).status_code == 302
    assert Pledge.objects.count() == 2


def _login(client: Client, username: str, password: str, url: str = "/accounts/login/") -> Any:
    return client.post(url, {"username": username, "password": password})


def test_reports_over_the_limit_say_when_to_come_back(campaign: Any, settings: Any) -> None:
    from conftest import create_pledge
    from moderation.models import Report

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "report": (1, 3600)}
    pledges = [create_pledge(campaign, n) for n in range(2)]
    client = Client(REMOTE_ADDR="192.0.2.30")
    assert client.post(f"/pledges/{pledges[0].public_id}/report/", {"reason": "spam"}).status_code == 302
    response = client.post(f"/pledges/{pledges[1].public_id}/report/", {"reason": "spam"})
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert Report.objects.count() == 1


# --- Per-address limits and IPv6 ------------------------------------------------------

BALANCER = "10.0.0.2"


def _in_one_64(n: int) -> str:
    """The n-th address a visitor picks inside their ISP's /64 (2001:db8:abcd:12::/64)."""
    return f"2001:db8:abcd:12:{n:x}:{(n * 7919) % 65536:x}:{n % 251:x}:{n + 1:x}"


def _limited_post(endpoint: str, campaign: Any, pledge_data: dict[str, Any]) -> Any:
    """One POST to `endpoint` as a visitor sends it, from the address given to the returned call."""
    target = create_pledge(campaign, 999) if endpoint == "report" else None

    def post(n: int, address: str) -> int:
        client = Client(REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=address)
        email = f"visitor{n}@example.org"
        if endpoint == "pledge":
            return _pledge(client, campaign, pledge_data, n).status_code
        if endpoint == "report":
            return client.post(f"/pledges/{target.public_id}/report/", {"reason": "spam"}).status_code
        if endpoint == "remind-me":
            return client.post(f"/campaigns/{campaign.slug}/remind-me/", {"email": email}).status_code
        if endpoint == "your-data":
            return client.post("/your-data/", {"email": email}).status_code
        return _login(client, email, "wrong").status_code

    return post


# The scope each endpoint counts in, lowered so the test stays short; the login keeps its
# own setting, whatever it is.
ENDPOINT_SCOPES = {
    "pledge": "pledge",
    "report": "report",
    "remind-me": "remind",
    "your-data": "data-request",
    "login": None,
}


@pytest.mark.parametrize("endpoint", list(ENDPOINT_SCOPES))
def test_a_visitor_rotating_through_the_addresses_of_one_ipv6_64_meets_each_limit_as_one_client(
    endpoint: str, campaign: Any, pledge_data: dict[str, Any], organiser: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    scope = ENDPOINT_SCOPES[endpoint]
    if scope is not None:
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, scope: (3, 3600)}
    post = _limited_post(endpoint, campaign, pledge_data)
    # A new address inside the /64 on every request, and a new email address too.
    statuses = [post(n, _in_one_64(n)) for n in range(40)]
    assert 429 in statuses, statuses
    first_refusal = statuses.index(429)
    assert all(status != 429 for status in statuses[:first_refusal])
    assert set(statuses[first_refusal:]) == {429}
    if scope is not None:
        assert first_refusal == 3
    # The next /64 is another subscriber: not held back by this one.
    assert post(100, "2001:db8:abcd:13::1") != 429
    # An IPv4 visitor is its own address, as before.
    assert post(101, "192.0.2.1") != 429
    assert post(102, "192.0.2.2") != 429


@pytest.fixture
def cache_down(settings: Any) -> None:
    """The cache pointed at a loopback port where nothing listens: Redis is down."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def test_with_the_cache_down_pledges_and_logins_go_through(
    cache_down: None, campaign: Any, pledge_data: dict[str, Any], organiser: Any, settings: Any
) -> None:
    from django.core.cache import cache

    with pytest.raises(Exception):  # noqa: B017 (whatever redis-py raises, the cache is unreachable)
        cache.get("anything")
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "pledge": (1, 600),
        "login-failures-account": (1, 900),
        "login-failures-network": (1, 900),
    }
    client = Client(REMOTE_ADDR="192.0.2.40")
    assert [_pledge(client, campaign, pledge_data, n).status_code for n in range(3)] == [302, 302, 302]
    assert Pledge.objects.count() == 3
    for _ in range(3):
        assert _login(client, "organiser@example.org", "wrong").status_code == 200
    assert _login(client, "organiser@example.org", "pw-organiser-1").status_code == 302


@pytest.mark.redis("counts through a Redis script")
def test_a_limit_keeps_counting_after_redis_forgets_its_scripts_and_each_window_expires(
    campaign: Any, pledge_data: dict[str, Any], settings: Any
) -> None:
    from django.core.cache import cache

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pledge": (2, 600)}
    client = Client(REMOTE_ADDR="192.0.2.20")
    assert _pledge(client, campaign, pledge_data, 1).status_code == 302
    redis_client = cache.client
    # A restarted Redis has no scripts loaded: the count goes on rather than letting everyone through.
    redis_client.script_flush()
    assert _pledge(client, campaign, pledge_data, 2).status_code == 302
    assert _pledge(client, campaign, pledge_data, 3).status_code == 429
    windows = list(redis_client.scan_iter(match="*ratelimit:pledge:*"))
    assert windows
    assert all(0 < redis_client.ttl(key) <= 600 for key in windows)
