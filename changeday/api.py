"""The public JSON API (/api/v1/): the NinjaAPI instance and its wiring only.
Routes live in pledges/api.py and pages/api_organisations.py."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError


class PublicReadAPI(NinjaAPI):
    """Every answer, errors included, carries the CORS header: the API is
    read-only public data, so any site may read it from a browser."""

    def create_response(
        self,
        request: HttpRequest,
        data: Any,
        *,
        status: int | None = None,
        temporal_response: HttpResponse | None = None,
    ) -> HttpResponse:
        response = super().create_response(request, data, status=status, temporal_response=temporal_response)
        response["Access-Control-Allow-Origin"] = "*"
        return response


api = PublicReadAPI(
    title="changeday public API",
    version="1",
    description="Read-only: campaigns, live counters, published pledges, organisations and league tables.",
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    # Ninja's docs page loads Swagger UI from a CDN; we never load from a CDN at run time.
    docs_url=None,
)


@api.exception_handler(ValidationError)
def _bad_parameter(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # Ninja answers 422 with pydantic's error list; the house answer for bad
    # input is 400 with one sentence a person can act on.
    first = exc.errors[0] if exc.errors else {}
    name = str(first.get("loc", ("", "parameter"))[-1])
    message = str(first.get("msg", "is not valid"))
    return api.create_response(request, {"detail": f"Check {name}: {message}."}, status=400)


api.add_router("/", "pledges.api.router")
api.add_router("/", "pages.api_organisations.router")
