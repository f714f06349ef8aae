"""Failed sign-ins, counted per (account, client network) and per client network.

A limit keyed on the account alone lets anyone lock an organiser out on the
day: fail ten times on their address from anywhere and their own correct
password is refused. So nothing here is keyed on the account alone. Failures
count per pair of account and network (guessing one password from one place)
and per network across accounts (trying many accounts from one place); a
correct password from a network that has not been failing always signs in.
An attacker spread over many networks gets `limit` guesses per network per
window: the pair limit is what bounds that, kept small.

Only failures count. A request takes its places before the password is
checked (changeday.lib.ratelimit.window_take), so a held pair or network is
answered without checking it, and gives them back when it signs in. The
public login and the admin login share these counters.

Keys are keyed hashes: Redis holds neither the address nor the account name.
With Redis down everyone is let through, as with every other limit.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from changeday.lib.emailaddr import canonical_email
from changeday.lib.hashing import keyed_hash
from changeday.lib.ratelimit import (
    View,
    WindowPlace,
    client_key,
    too_many_requests,
    window_give_back,
    window_take,
)

ACCOUNT_SCOPE = "login-failures-account"
NETWORK_SCOPE = "login-failures-network"


def login_account_key(username: str) -> str:
    """The account name as Django's login matches it (AuthenticationForm strips
    it and applies NFKC), folded further as an email address when it is one:
    organisers' usernames are their addresses, and spellings that differ only
    in case must not each get their own guesses."""
    name = unicodedata.normalize("NFKC", username.strip())
    if "@" in name:
        name = canonical_email(name)
    return keyed_hash(name, purpose="login-account")


@dataclass(frozen=True)
class LoginAttempt:
    places: tuple[WindowPlace, ...]
    # Seconds until the first held window ends; 0 when the attempt may go ahead.
    retry_after: int


def login_attempt_start(request: HttpRequest, *, username: str) -> LoginAttempt:
    """Count this sign-in as a failure until it succeeds (login_attempt_succeeded).

    A held attempt has retry_after set and counts nothing: its password is never checked."""
    network = client_key(request)
    counters = (
        (ACCOUNT_SCOPE, keyed_hash(f"{network}:{login_account_key(username)}", purpose="login-pair")),
        (NETWORK_SCOPE, network),
    )
    places: list[WindowPlace] = []
    retry_after = 0
    for scope, key in counters:
        # Read at request time so a changed setting (or a test's) applies.
        limit, window_seconds = settings.RATE_LIMITS[scope]
        place = window_take(scope=scope, key=key, window_seconds=window_seconds)
        if place is None:
            continue
        places.append(place)
        if place.count > limit:
            retry_after = max(retry_after, place.retry_after)
    if retry_after:
        for place in places:
            window_give_back(place)
        return LoginAttempt(places=(), retry_after=retry_after)
    return LoginAttempt(places=tuple(places), retry_after=0)


def login_attempt_succeeded(attempt: LoginAttempt) -> None:
    for place in attempt.places:
        window_give_back(place)


def login_limited(view: View) -> View:
    """A login view (Django's LoginView, the admin's login) under these limits.

    A sign-in succeeded when the view logged someone in and sent them on; any
    other answer to a POST (the form again, a CSRF refusal, a non-staff account
    at the admin) counts as a failure."""

    @wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        attempt = login_attempt_start(request, username=request.POST.get("username", ""))
        if attempt.retry_after:
            return too_many_requests(request, retry_after=attempt.retry_after, what="failed logins")
        response = view(request, *args, **kwargs)
        if response.status_code == 302 and request.user.is_authenticated:
            login_attempt_succeeded(attempt)
        return response

    return limited
