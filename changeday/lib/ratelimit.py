"""Fixed-window rate limits in the cache (Redis in production), shared by every
web process, so a limit holds across a load-balanced tier."""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest

from changeday.lib.hashing import keyed_hash


def client_key(request: HttpRequest) -> str:
    # REMOTE_ADDR is the load balancer's own address behind a proxy; deployments
    # that terminate TLS elsewhere set it from X-Forwarded-For in the proxy.
    return keyed_hash(request.META.get("REMOTE_ADDR", ""), purpose="client")


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
