"""Fixed-window rate limits in the cache (Redis in production), shared by every
web process, so a limit holds across a load-balanced tier.

A view takes a limit with the `rate_limit` decorator, naming a scope whose
count and window are in `settings.RATE_LIMITS` (README: "Rate limits"):

    @rate_limit("pledge", what="pledges")
    def pledge_create(request, slug): ...

A pledge takes two: a per-network ceiling that RATE_LIMIT_TRUSTED_NETWORKS
lifts, and a limit per (network, email address).

Over the limit the person gets templates/429.html with a Retry-After header and
the view does not run, so nothing is stored. When the cache is down everyone is
let through: the database constraints still stop duplicates, and a pledge day
must not fail because a counter cannot be read.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from changeday.lib.emailaddr import canonical_email
from changeday.lib.hashing import keyed_hash

View = Callable[..., HttpResponse]
KeyFunction = Callable[[HttpRequest], str]
Predicate = Callable[[HttpRequest], bool]


def _valid_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def client_ip(request: HttpRequest) -> str:
    """The address of the person, as far as we can trust it.

    Behind TRUSTED_PROXY_COUNT proxies, each one appends the address it saw to
    X-Forwarded-For, so the entry that many places from the right is the one
    our outermost proxy saw. Anything to its left was written by the client and
    can be anything, so the left-most value is never used when there are enough
    entries."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    if not forwarded:
        return remote
    # Fewer entries than proxies: the request skipped an outer proxy, and the
    # first entry is what the innermost one saw.
    candidate = forwarded[-hops] if len(forwarded) >= hops else forwarded[0]
    return _valid_ip(candidate) or remote


def network_of(address: str) -> str:
    """The network one client stands for: an IPv4 address itself, an IPv6 address
    its /64. One IPv6 subscriber is given a whole /64 and may pick any address in
    it, so keying on the full address would let one person act as billions."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def client_network(request: HttpRequest) -> str:
    """The client's network (network_of) as far as we can trust the address."""
    return network_of(client_ip(request))


def client_key(request: HttpRequest) -> str:
    """A keyed hash of the client network: limits compare it, nothing keeps the address.
    Hashed with SECRET_KEY: every web node needs the same key to count a visitor
    against one limit."""
    return keyed_hash(client_network(request), purpose="client")


def from_trusted_network(request: HttpRequest) -> bool:
    """Whether the client is in settings.RATE_LIMIT_TRUSTED_NETWORKS (a trust's gateway)."""
    trusted = settings.RATE_LIMIT_TRUSTED_NETWORKS
    if not trusted:
        return False
    try:
        ip = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in trusted)


# Longer than any address the forms take: a longer value is refused by the form anyway,
# and cutting it keeps the canonical form's cost bounded on a hostile megabyte.
_LONGEST_EMAIL = 320


def network_and_posted_email_key(field: str) -> KeyFunction:
    """A key per (client network, canonical form of a posted address): one person's
    limit, however many colleagues share their network's address."""

    def key(request: HttpRequest) -> str:
        value = request.POST.get(field, "")[:_LONGEST_EMAIL].strip()
        if not value:
            return ""
        return keyed_hash(f"{client_network(request)} {canonical_email(value)}", purpose="client-email")

    return key


def _count_hit(cache_key: str, *, timeout: int) -> int:
    """The window's count, this hit included."""
    if hasattr(cache, "count_in_window"):
        # Redis: one round trip on every pledge, report and login.
        return cache.count_in_window(cache_key, timeout=timeout)
    # Other caches (local development): add() is atomic, so only a window's first hit sets it.
    if cache.add(cache_key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(cache_key)
    except ValueError:
        # The key expired between add() and incr(): this is a new window's first hit.
        cache.add(cache_key, 1, timeout=timeout)
        return 1


def rate_limited(*, scope: str, key: str, limit: int, window_seconds: int) -> int:
    """Count one hit. Returns 0 when it is within the limit, otherwise the
    whole seconds until the window ends (what Retry-After says)."""
    place = window_take(scope=scope, key=key, window_seconds=window_seconds)
    if place is None:
        # The cache (Redis) is down: let the person through rather than fail them.
        return 0
    return place.retry_after if place.count > limit else 0


def too_many_requests(request: HttpRequest, *, retry_after: int, what: str) -> HttpResponse:
    minutes = max(1, math.ceil(retry_after / 60))
    context = {"what": what, "retry_after_minutes": minutes}
    response = render(request, "429.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limit(
    scope: str,
    *,
    key: KeyFunction = client_key,
    what: str = "requests",
    methods: Collection[str] = ("POST",),
    exempt: Predicate | None = None,
) -> Callable[[View], View]:
    """Limit a view to settings.RATE_LIMITS[scope], a (count, window seconds)
    pair, hits per `key` (the client network by default; a key function
    returning "" skips the count). A request for which `exempt` is true is
    neither counted nor held back by this limit (others stacked still apply).

    Only `methods` count: showing a form is free, sending it is not. Stack two
    for two limits, e.g. one per address and one per account name."""
    if scope not in settings.RATE_LIMITS:
        raise ImproperlyConfigured(f"No rate limit named {scope!r} in settings.RATE_LIMITS.")

    def decorator(view: View) -> View:
        @wraps(view)
        def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method in methods and not (exempt is not None and exempt(request)):
                subject = key(request)
                if subject:
                    # Read at request time so a changed setting (or a test's) applies.
                    limit, window_seconds = settings.RATE_LIMITS[scope]
                    wait = rate_limited(scope=scope, key=subject, limit=limit, window_seconds=window_seconds)
                    if wait:
                        return too_many_requests(request, retry_after=wait, what=what)
            return view(request, *args, **kwargs)

        return limited

    return decorator


# Limits on an outcome (a failed sign-in) rather than on requests. A request takes
# a place in the window before its outcome is known and gives it back when the
# outcome does not count, so attempts in flight at the same moment are counted
# too: peeking first and counting afterwards would let a burst of simultaneous
# guesses all pass a count that none of them had yet raised.


@dataclass(frozen=True)
class WindowPlace:
    cache_key: str
    # The window's count, this place included.
    count: int
    # Whole seconds until the window ends (what Retry-After says).
    retry_after: int


def window_take(*, scope: str, key: str, window_seconds: int) -> WindowPlace | None:
    """Count one in the current window of scope/key, in the windows rate_limited
    keeps. None when the cache is down: the caller lets the person through."""
    now = time.time()
    window = int(now // window_seconds)
    # Windows are aligned to the clock, so every process agrees when one ends
    # without asking Redis for the key's time to live.
    remaining = max(1, math.ceil((window + 1) * window_seconds - now))
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    try:
        count = _count_hit(cache_key, timeout=remaining)
    except Exception:
        return None
    return WindowPlace(cache_key=cache_key, count=count, retry_after=remaining)


def window_give_back(place: WindowPlace) -> None:
    """Undo a window_take whose outcome does not count."""
    try:
        cache.decr(place.cache_key)
    except Exception:
        # The window has ended (its key is gone) or the cache is down: nothing to undo.
        return
