from __future__ import annotations

from django.urls import path, register_converter

from pledges import organisation_views, outcome_views, privacy_views, views
from pledges.feeds import ChangesFeed, PledgeFeed


class PublicIdConverter:
    """Only the public id alphabet reaches the view: anything else (a null byte,
    5,000 characters) is a 404 before it can reach a query."""

    regex = views.PUBLIC_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PublicIdConverter, "public_id")

app_name = "pledges"

urlpatterns = [
    path("campaigns/<slug:slug>/pledge/", views.pledge_create, name="create"),
    path("campaigns/<slug:slug>/pledge/sent/", views.pledge_sent, name="sent"),
    path("campaigns/<slug:slug>/pledge/sent/address/", views.pledge_sent_address, name="sent-address"),
    path("campaigns/<slug:slug>/pledge/sent/again/", views.pledge_sent_again, name="sent-again"),
    path(
        "campaigns/<slug:slug>/pledge/organisation/",
        organisation_views.pledge_find_organisation,
        name="find-organisation",
    ),
    path("organisations/suggest.json", organisation_views.organisation_suggest, name="organisation-suggest"),
    path("campaigns/<slug:slug>/wall/", views.pledge_wall, name="wall"),
    path("campaigns/<slug:slug>/feed/", PledgeFeed(), name="feed"),
    # Before the sector feed, which would take "changes" for a sector and answer 404.
    path("campaigns/<slug:slug>/feed/changes/", ChangesFeed(), name="changes-feed"),
    path("campaigns/<slug:slug>/feed/<slug:sector>/", PledgeFeed(), name="sector-feed"),
    path("campaigns/<slug:slug>/feed/<slug:sector>/changes/", ChangesFeed(), name="sector-changes-feed"),
    path("pledges/confirm/<str:token>/", views.pledge_confirm, name="confirm"),
    path("pledges/withdraw/<str:token>/", views.pledge_withdraw, name="withdraw"),
    path("pledges/outcome/<str:token>/", outcome_views.pledge_outcome, name="outcome"),
    path("pledges/<public_id:public_id>/", views.pledge_detail, name="detail"),
    path("your-data/", privacy_views.data_request, name="data-request"),
    path("your-data/sent/", privacy_views.data_sent, name="data-sent"),
    path("your-data/<str:token>/", privacy_views.data_detail, name="data"),
    path("your-data/<str:token>/pledges.json", privacy_views.data_download, name="data-download"),
    path("your-data/<str:token>/delete/", privacy_views.data_erase, name="data-erase"),
]
