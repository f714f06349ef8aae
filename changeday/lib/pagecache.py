"""Whole pages shared between visitors for a second, in the cache (Redis).

Most peak traffic is people reloading to watch a total. A visitor with no
session and no pending message gets a page that depends on its address alone,
so one rendering can serve everyone who asks within the same second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers


def is_stateless(request: HttpRequest) -> bool:
    return not ({settings.SESSION_COOKIE_NAME, "messages"} & request.COOKIES.keys())


def shared_page(
    request: HttpRequest, *, scope: str, seconds: int, render: Callable[[], HttpResponse]
) -> HttpResponse:
    """render()'s page, shared for `seconds` between stateless visitors of the
    same address; anyone with a session gets their own. The page must hold no
    per-visitor token (a CSRF token would be served to everyone)."""
    if request.method != "GET" or not is_stateless(request):
        return render()
    key = f"page:{scope}:v1:" + hashlib.sha256(request.get_full_path().encode()).hexdigest()
    body = cache.get(key)
    if body is None:
        response = render()
        if response.status_code != 200 or response.cookies:
            return response
        cache.set(key, response.content, timeout=seconds)
    else:
        response = HttpResponse(body)
    # Browsers and shared caches may keep it as long, and show it while they
    # fetch the next one: the live totals on it update by themselves anyway.
    patch_cache_control(response, public=True, max_age=seconds, stale_while_revalidate=5 * seconds)
    patch_vary_headers(response, ("Cookie",))
    return response
