"""Response headers Django has no setting for, and the friendly 404 under DEBUG."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver
from django.views.defaults import page_not_found


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


class FriendlyNotFoundInDebugMiddleware:
    """Under DEBUG (`make run`) Django answers a page that is not there with its technical
    404, which lists every URL pattern: a visitor trying the demo should meet the site's
    own 404 page, as in production. Only not-found pages change; a 500 still shows its
    traceback. Last in MIDDLEWARE, so CommonMiddleware still adds a missing slash first
    (it acts on the 404 this returns). Without DEBUG it does nothing: Django's handler404
    already renders templates/404.html."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.DEBUG:
            # Django turns a failed URL match into the technical page before any
            # middleware sees an exception, so the match is tried here first.
            try:
                get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
            except Resolver404 as exc:
                return page_not_found(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if settings.DEBUG and isinstance(exception, Http404):
            return page_not_found(request, exception)
        return None
