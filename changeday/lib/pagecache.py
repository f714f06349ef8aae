"""Whole pages shared between visitors for a second, in the cache (Redis).

Most peak traffic is people reloading to watch a total. A visitor with no
session and no pending message gets a page that depends on its address alone,
so one rendering can serve everyone who asks within the same second.

A page (or part of one) that must change at once when something happens is
stored under a generation: `generation_bump` makes everything stored under
earlier ones stale, whatever time it had left.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers


def is_stateless(request: HttpRequest) -> bool:
    return not ({settings.SESSION_COOKIE_NAME, "messages"} & request.COOKIES.keys())


def generation_bump(generation_key: str) -> None:
    cache.set(generation_key, time.time_ns(), timeout=None)


def generation_read(generation_key: str) -> int | None:
    return cache.get(generation_key)


def current_get(key: str, generation_key: str) -> object | None:
    """What current_set stored under `key`, if the generation has not moved
    since (both come in one read)."""
    found = cache.get_many([generation_key, key])
    generation, entry = found.get(generation_key), found.get(key)
    if generation is None:
        generation_bump(generation_key)  # a first use, or Redis lost it
        return None
    if entry is None or entry[0] != generation:
        return None
    return entry[1]


def current_set(key: str, generation: int | None, value: object, timeout: int) -> None:
    # `generation` is the one read before the value was made: a change while
    # it was being made leaves it stale on arrival, never served.
    if generation is not None:
        cache.set(key, (generation, value), timeout=timeout)


def shared_page(
    request: HttpRequest,
    *,
    scope: str,
    seconds: int,
    render: Callable[[], HttpResponse],
    generation_key: str | None = None,
) -> HttpResponse:
    """render()'s page, shared for `seconds` between stateless visitors of the
    same address; anyone with a session gets their own. The page must hold no
    per-visitor token (a CSRF token would be served to everyone).

    With a generation_key the page is served only under the generation it was
    made in, and browsers are not asked to keep it: a change must show at once."""
    if request.method != "GET" or not is_stateless(request):
        return render()
    key = f"page:{scope}:v1:" + hashlib.sha256(request.get_full_path().encode()).hexdigest()
    body = cache.get(key) if generation_key is None else current_get(key, generation_key)
    if body is None:
        generation = None if generation_key is None else generation_read(generation_key)
        response = render()
        if response.status_code != 200 or response.cookies:
            return response
        if generation_key is None:
            cache.set(key, response.content, timeout=seconds)
        else:
            current_set(key, generation, response.content, seconds)
    else:
        response = HttpResponse(body)
    if generation_key is None:
        # Browsers and shared caches may keep it as long, and show it while they
        # fetch the next one: the live totals on it update by themselves anyway.
        patch_cache_control(response, public=True, max_age=seconds, stale_while_revalidate=5 * seconds)
    patch_vary_headers(response, ("Cookie",))
    return response
