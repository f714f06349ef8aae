"""Organisers export pledges as CSV, streamed, emails included; nobody else can."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.test import Client

from conftest import create_pledge

pytestmark = pytest.mark.django_db


def _export(user: Any, **query: str) -> Any:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get("/moderation/export.csv", query)


def _rows(response: Any) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_an_organiser_downloads_every_pledge_with_its_email(campaign: Any, organiser: Any) -> None:
    create_pledge(campaign, 1, sectors=["housing", "nhs"], email="one@example.org")
    create_pledge(campaign, 2, email="two@example.org", confirm=False)

    response = _export(organiser, campaign=campaign.slug)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"] == f'attachment; filename="pledges-{campaign.slug}.csv"'
    rows = _rows(response)
    assert [(r["email"], r["status"]) for r in rows] == [
        ("one@example.org", "published"),
        ("two@example.org", "unconfirmed"),
    ]
    assert rows[0]["sectors"] == "nhs housing"
    assert "id" not in rows[0]


def test_the_export_follows_the_filters(campaign: Any, organiser: Any) -> None:
    create_pledge(campaign, 1, sectors=["housing"], region="wales")
    create_pledge(campaign, 2, sectors=["nhs"], region="wales")
    create_pledge(campaign, 3, sectors=["housing"], region="london", confirm=False)

    assert len(_rows(_export(organiser, campaign=campaign.slug, sector="housing"))) == 2
    assert len(_rows(_export(organiser, campaign=campaign.slug, sector="housing", status="published"))) == 1
    assert _export(organiser, campaign=campaign.slug, status="nonsense").status_code == 400
    assert _export(organiser, campaign=campaign.slug, region="mars").status_code == 400


def test_a_pledge_that_looks_like_a_formula_is_exported_as_text(campaign: Any, organiser: Any) -> None:
    create_pledge(campaign, 1, text="=HYPERLINK(1) is not a promise but is stored as typed")
    [row] = _rows(_export(organiser, campaign=campaign.slug))
    assert row["text"].startswith("'=HYPERLINK")


def test_only_organisers_may_export(campaign: Any, stranger: Any) -> None:
    anonymous = _export(None, campaign=campaign.slug)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert _export(stranger, campaign=campaign.slug).status_code == 403
