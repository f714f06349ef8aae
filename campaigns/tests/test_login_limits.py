"""Strangers cannot lock an organiser out: failed sign-ins count per (account,
client network) and per network, never per account alone, so a correct password
from a network that has not been failing always signs in. The admin login
shares the counters. Visitors come from distinct networks through the trusted
proxy's X-Forwarded-For, as they do in production."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "pw-organiser-1"
PROXY = "10.0.0.5"


@pytest.fixture(autouse=True)
def _behind_the_proxy_with_quick_hashing(settings: Any) -> None:
    """One trusted proxy, and a quick password hasher: a limit is only reached
    after dozens of password checks. Autouse, so it applies before the
    organiser's password is set."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def visitor(address: str) -> Client:
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)


def log_in(client: Client, username: str, password: str, url: str = "/accounts/login/") -> Any:
    return client.post(url, {"username": username, "password": password})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_strangers_failing_from_thirty_networks_cannot_stop_the_organiser_signing_in_from_their_own(
    organiser: Any,
) -> None:
    for n in range(30):
        attacker = visitor(f"203.0.113.{n + 1}")
        for guess in range(2):
            assert log_in(attacker, "organiser@example.org", f"guess-{n}-{guess}").status_code == 200

    organiser_at_work = visitor("198.51.100.7")
    response = log_in(organiser_at_work, "organiser@example.org", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/moderation/"
    assert signed_in(organiser_at_work)


def test_ten_failures_from_one_network_hold_that_account_there_and_nowhere_else(
    organiser: Any, stranger: Any
) -> None:
    guesser = visitor("203.0.113.9")
    for n in range(10):
        assert log_in(guesser, "organiser@example.org", f"guess-{n}").status_code == 200

    # The eleventh try is not even checked, the right password included.
    held = log_in(guesser, "Organiser@Example.org", PASSWORD)
    assert held.status_code == 429
    assert 1 <= int(held["Retry-After"]) <= 900
    assert "a lot of failed logins" in held.content.decode()
    assert not signed_in(guesser)

    # The same network may still sign in to other accounts, and the organiser from elsewhere.
    assert log_in(visitor("203.0.113.9"), "stranger@example.org", "pw-stranger-1").status_code == 302
    elsewhere = visitor("198.51.100.7")
    assert log_in(elsewhere, "organiser@example.org", PASSWORD).status_code == 302
    assert signed_in(elsewhere)


def test_twenty_failures_across_accounts_from_one_network_hold_that_network(organiser: Any) -> None:
    sprayer = visitor("203.0.113.20")
    for n in range(19):
        assert log_in(sprayer, f"someone{n}@example.org", "password1").status_code == 200
    # Sign-ins that work from the same network are not failures and do not count.
    for _ in range(3):
        assert log_in(visitor("203.0.113.20"), "organiser@example.org", PASSWORD).status_code == 302
    assert log_in(sprayer, "someone19@example.org", "password1").status_code == 200

    held = log_in(sprayer, "organiser@example.org", PASSWORD)
    assert held.status_code == 429
    assert not signed_in(sprayer)
    assert log_in(visitor("203.0.113.21"), "organiser@example.org", PASSWORD).status_code == 302


def test_an_ipv6_client_rotating_addresses_within_its_64_is_one_network(organiser: Any) -> None:
    for n in range(10):
        rotating = visitor(f"2001:db8:aa:bb::{n + 1:x}")
        assert log_in(rotating, "organiser@example.org", f"guess-{n}").status_code == 200

    assert log_in(visitor("2001:db8:aa:bb:ffff::1"), "organiser@example.org", PASSWORD).status_code == 429
    neighbour = visitor("2001:db8:aa:cc::1")
    assert log_in(neighbour, "organiser@example.org", PASSWORD).status_code == 302


def test_the_admin_login_shares_the_counters_of_the_organiser_login(organiser: Any) -> None:
    guesser = visitor("203.0.113.30")
    for n in range(5):
        assert log_in(guesser, "organiser@example.org", f"guess-{n}").status_code == 200
    for n in range(5):
        response = log_in(guesser, "organiser@example.org", f"again-{n}", url="/admin/login/")
        assert response.status_code == 200

    held = log_in(guesser, "organiser@example.org", PASSWORD, url="/admin/login/")
    assert held.status_code == 429
    assert log_in(guesser, "organiser@example.org", PASSWORD).status_code == 429
    assert not signed_in(guesser)
    # Held for that network only: the organiser reaches the admin from their own.
    own = visitor("198.51.100.7")
    assert log_in(own, "organiser@example.org", PASSWORD, url="/admin/login/").status_code == 302
    assert signed_in(own)


def test_only_failures_count_so_an_organiser_signing_in_often_is_never_held(organiser: Any) -> None:
    for _ in range(25):
        office = visitor("198.51.100.40")
        assert log_in(office, "organiser@example.org", PASSWORD).status_code == 302
    # Nine slips of the finger between them do not hold the account either.
    office = visitor("198.51.100.40")
    for n in range(9):
        assert log_in(office, "organiser@example.org", f"typo-{n}").status_code == 200
    assert log_in(office, "organiser@example.org", PASSWORD).status_code == 302


def test_the_limits_come_from_the_settings(organiser: Any, settings: Any) -> None:
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "login-failures-account": (2, 900),
        "login-failures-network": (3, 900),
    }
    guesser = visitor("203.0.113.50")
    assert [log_in(guesser, "organiser@example.org", "x").status_code for _ in range(3)] == [200, 200, 429]
    assert log_in(guesser, "nobody@example.org", "x").status_code == 200
    assert log_in(guesser, "nobody2@example.org", "x").status_code == 429


def test_a_burst_of_simultaneous_guesses_gets_no_more_tries_than_the_limit(settings: Any) -> None:
    """Each attempt takes its place before its password is checked, so guesses
    sent together cannot all pass a count none of them has raised yet."""
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "login-failures-account": (3, 900),
        "login-failures-network": (100, 900),
    }
    # Django's own slow hasher checks each guess (against a dummy hash: the account need not
    # exist), so the twelve are all in flight together.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    start = threading.Barrier(12)
    statuses: list[int] = []

    def guess(n: int) -> None:
        try:
            start.wait(timeout=30)
            statuses.append(log_in(visitor("203.0.113.60"), "ghost@example.org", f"guess-{n}").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(statuses) == [200] * 3 + [429] * 9
