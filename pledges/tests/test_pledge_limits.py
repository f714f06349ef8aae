"""A hospital behind one address is not a troll: pledging is limited per
(client network, canonical email address), 5 in 10 minutes, under a ceiling of
600 a network in 10 minutes that RATE_LIMIT_TRUSTED_NETWORKS lifts."""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from changeday.lib import ratelimit
from changeday.lib.env import env_networks
from changeday.tests.test_settings import manage, production_env
from outbox.models import OutboxEmail
from pledges.models import Pledge
from pledges.screening import FlagReason

BALANCER = "10.0.0.2"
HOSPITAL = "192.0.2.50"
ONE_MORE = "and one more promise, to thank a colleague by name every single day"
TEAM_PLEDGE = "run a ten minute huddle with my ward team every morning about one thing to improve"


@pytest.fixture(autouse=True)
def _behind_a_load_balancer(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1


@pytest.fixture
def one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits' clock held one second into a ten-minute window, so a long test
    cannot straddle two windows and see its counts start again."""
    start = (time.time() // 600 + 1) * 600 + 1
    monkeypatch.setattr(ratelimit.time, "time", lambda: start)


@pytest.fixture
def form(campaign: Any, pledge_data: dict[str, Any]) -> dict[str, Any]:
    """What people type, and where they send it."""
    return {**pledge_data, "url": f"/campaigns/{campaign.slug}/pledge/"}


def _pledge(form: dict[str, Any], *, address: str, email: str, text: str = "") -> Any:
    client = Client(REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=address)
    data = {**form, "email": email, "submission_token": str(uuid.uuid4())}
    data["text"] = text or f"{form['text']} ({email})"
    return client.post(data.pop("url"), data)


def test_three_hundred_people_pledging_from_one_address_in_ten_minutes_are_all_taken(
    form: dict[str, Any], settings: Any, one_window: None
) -> None:
    assert settings.RATE_LIMITS["pledge"] == (600, 600)
    assert settings.RATE_LIMITS["pledge-email"] == (5, 600)
    statuses = []
    for n in range(300):
        # Every tenth person signs the same team pledge as their colleagues.
        text = TEAM_PLEDGE if n % 10 == 0 else ""
        response = _pledge(form, address=HOSPITAL, email=f"staff{n}@nhs.example", text=text)
        statuses.append(response.status_code)
        assert response.status_code == 302 and response["Location"].endswith("/pledge/sent/"), n
    assert statuses == [302] * 300
    assert Pledge.objects.count() == 300
    assert OutboxEmail.objects.count() == 300
    team = Pledge.objects.filter(text=TEAM_PLEDGE)
    assert team.count() == 30
    # Identical texts may go to the organisers for a look; each one is stored and answered.
    assert FlagReason.DUPLICATE in team.order_by("-id").first().flags


def test_the_sixth_pledge_from_one_person_on_one_network_gets_a_429_and_is_not_stored(
    form: dict[str, Any], one_window: None
) -> None:
    email = "sam.patel@example.org"
    for n in range(5):
        response = _pledge(form, address=HOSPITAL, email=email, text=f"{form['text']}, promise {n}")
        assert response.status_code == 302
    # The same address written differently is the same person.
    refused = _pledge(form, address=HOSPITAL, email="Sam.Patel@EXAMPLE.org", text=ONE_MORE)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 600
    body = refused.content.decode()
    assert "Please slow down" in body and "Nothing you sent this time has been saved" in body
    assert Pledge.objects.count() == 5
    assert not Pledge.objects.filter(text=ONE_MORE).exists()

    # The same person from another network, and a colleague on the same one, carry on.
    assert (
        _pledge(form, address="198.51.100.7", email=email, text=f"{form['text']} at home").status_code == 302
    )
    assert _pledge(form, address=HOSPITAL, email="alex.jones@example.org").status_code == 302
    assert Pledge.objects.count() == 7


def test_one_person_rotating_through_their_ipv6_64_is_still_one_person(
    form: dict[str, Any], one_window: None
) -> None:
    statuses = [
        _pledge(
            form,
            address=f"2001:db8:5:6:{n:x}::{n + 1:x}",
            email="sam@example.org",
            text=f"{form['text']} {n}",
        )
        for n in range(6)
    ]
    assert [status.status_code for status in statuses] == [302] * 5 + [429]
    assert _pledge(form, address="2001:db8:5:7::1", email="sam@example.org").status_code == 302


def test_the_six_hundred_and_first_pledge_from_one_network_in_ten_minutes_is_refused(
    form: dict[str, Any], settings: Any, one_window: None
) -> None:
    assert settings.RATE_LIMITS["pledge"] == (600, 600)
    for n in range(600):
        assert _pledge(form, address=HOSPITAL, email=f"staff{n}@nhs.example").status_code == 302, n
    refused = _pledge(form, address=HOSPITAL, email="staff600@nhs.example")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 600
    assert Pledge.objects.count() == 600
    assert not Pledge.objects.filter(email="staff600@nhs.example").exists()
    # The next address along is another network.
    assert _pledge(form, address="192.0.2.51", email="staff600@nhs.example").status_code == 302


def test_a_trusted_network_has_no_ceiling_while_each_person_keeps_their_limit(
    form: dict[str, Any], settings: Any, one_window: None
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pledge": (5, 600)}
    settings.RATE_LIMIT_TRUSTED_NETWORKS = (
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8:aa::/48"),
    )
    for place, address in enumerate((HOSPITAL, "2001:db8:aa:1::7", "::ffff:192.0.2.9")):
        statuses = [
            _pledge(form, address=address, email=f"staff{n}@trust{place}.example").status_code
            for n in range(8)
        ]
        assert statuses == [302] * 8, address
    # Anyone else still meets the ceiling.
    elsewhere = [
        _pledge(form, address="198.51.100.7", email=f"{n}@else.example").status_code for n in range(6)
    ]
    assert elsewhere == [302] * 5 + [429]
    # And on the trusted network one person still has their five.
    person = [
        _pledge(form, address=HOSPITAL, email="sam@example.org", text=f"{form['text']} {n}").status_code
        for n in range(6)
    ]
    assert person == [302] * 5 + [429]
    assert Pledge.objects.count() == 3 * 8 + 5 + 5


def test_trusted_networks_are_read_from_the_environment_and_a_bad_value_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("X_NETWORKS", " 192.0.2.0/24 ,2001:db8::/48, 198.51.100.7,")
    assert env_networks("X_NETWORKS") == (
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8::/48"),
        ipaddress.ip_network("198.51.100.7/32"),
    )
    monkeypatch.delenv("X_NETWORKS")
    assert env_networks("X_NETWORKS") == ()
    for bad in ("192.0.2.0/33", "192.0.2.7/24", "hospital", "10.0.0.0/8;192.0.2.0/24"):
        monkeypatch.setenv("X_NETWORKS", bad)
        with pytest.raises(ImproperlyConfigured, match="X_NETWORKS"):
            env_networks("X_NETWORKS")

    code = (
        "from django.conf import settings; import json; "
        "print(json.dumps([[str(n) for n in settings.RATE_LIMIT_TRUSTED_NETWORKS], settings.RATE_LIMITS]))"
    )
    env = production_env(
        RATE_LIMIT_TRUSTED_NETWORKS="192.0.2.0/24,2001:db8::/48", RATE_LIMIT_PLEDGE_PER_EMAIL="3/1h"
    )
    result = manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    networks, limits = json.loads(result.stdout.strip().splitlines()[-1])
    assert networks == ["192.0.2.0/24", "2001:db8::/48"]
    assert limits["pledge-email"] == [3, 3600] and limits["pledge"] == [600, 600]

    bad = manage("check", env=production_env(RATE_LIMIT_TRUSTED_NETWORKS="192.0.2.0/24, the hospital"))
    assert bad.returncode != 0
    assert "RATE_LIMIT_TRUSTED_NETWORKS" in bad.stderr and "'the hospital'" in bad.stderr
