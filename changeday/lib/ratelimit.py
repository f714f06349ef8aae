"""Fixed-window rate limits in the cache (Redis in production), shared by every
web process, so a limit holds across a load-balanced tier."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from changeday.lib.hashing import keyed_hash


def client_address(request: HttpRequest) -> str:
    """The visitor's address. Behind load balancers REMOTE_ADDR is the last
    balancer's, so the address comes from X-Forwarded-For, counted from the
    right: each trusted proxy appends the peer it saw, and anything to the left
    of those came from the client and may be forged."""
    hops = settings.TRUSTED_PROXY_HOPS
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    # No proxy, or a request that did not come through all of them.
    return request.META.get("REMOTE_ADDR", "")


def client_key(request: HttpRequest) -> str:
    # Hashed with SECRET_KEY: every web node needs the same key to count a
    # visitor against one limit.
    return keyed_hash(client_address(request), purpose="client")


def rate_limited(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit; True when this hit is over the limit for the window."""
    cache_key = f"ratelimit:{scope}:{key}"
    try:
        # add() is atomic: only the first hit of a window sets it and its expiry.
        if cache.add(cache_key, 1, timeout=window_seconds):
            return False
        return cache.incr(cache_key) > limit
    except ValueError:
        # The key expired between add() and incr(): this is a new window's first hit.
        cache.add(cache_key, 1, timeout=window_seconds)
        return False
    except Exception:
        # The cache (Redis) is down: let the person through rather than fail
        # them; the database constraints still stop duplicates.
        return False
