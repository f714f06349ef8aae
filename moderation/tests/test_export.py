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


def test_each_row_carries_the_outcome_and_only_a_published_storys_words(
    campaign: Any, organiser: Any
) -> None:
    from moderation.services import story_moderate
    from pledges.outcomes import pledge_outcome_record

    told = {
        "published": ("done", "we made the discharge letter readable", True),
        "private": ("started", "a private word about a hard week", False),
        "flagged": ("done", "Mr Jones in bed 4 sleeps better now", True),
    }
    pledges = {}
    for n, (name, (outcome, text, public)) in enumerate(told.items(), start=1):
        pledges[name] = create_pledge(campaign, n, email=f"{name}@example.org")
        pledge_outcome_record(pledge=pledges[name], outcome=outcome, story_text=text, story_public=public)
    pledges["silent"] = create_pledge(campaign, 9, email="silent@example.org")
    rejected = create_pledge(campaign, 10, email="rejected@example.org")
    story = pledge_outcome_record(
        pledge=rejected, outcome="not-yet", story_text="=HYPERLINK(1) buy now", story_public=True
    ).story
    story_moderate(story_ids=[story.pk], action="reject", actor=organiser, reason_code="spam")

    rows = {row["email"]: row for row in _rows(_export(organiser, campaign=campaign.slug))}

    published = rows["published@example.org"]
    assert (published["outcome"], published["story_status"]) == ("done", "published")
    assert published["story_text"] == "we made the discharge letter readable"
    assert published["outcome_at"].startswith(str(pledges["published"].created_at.year))
    assert (rows["private@example.org"]["story_status"], rows["private@example.org"]["story_text"]) == (
        "private",
        "",
    )
    assert (rows["flagged@example.org"]["story_status"], rows["flagged@example.org"]["story_text"]) == (
        "pending",
        "",
    )
    assert (rows["rejected@example.org"]["outcome"], rows["rejected@example.org"]["story_text"]) == (
        "not-yet",
        "",
    )
    silent = rows["silent@example.org"]
    assert (silent["outcome"], silent["outcome_at"], silent["story_status"], silent["story_text"]) == (
        "",
        "",
        "",
        "",
    )
    body = b"".join(_export(organiser, campaign=campaign.slug).streaming_content).decode()
    assert "a private word" not in body and "Mr Jones" not in body and "HYPERLINK" not in body


def test_a_published_story_that_looks_like_a_formula_is_exported_as_text(
    campaign: Any, organiser: Any
) -> None:
    from pledges.outcomes import pledge_outcome_record

    pledge = create_pledge(campaign, 1)
    pledge_outcome_record(pledge=pledge, outcome="done", story_text="+1 for the new rota", story_public=True)
    [row] = _rows(_export(organiser, campaign=campaign.slug))
    assert row["story_text"] == "'+1 for the new rota"


def test_the_export_reads_the_same_number_of_queries_for_many_pledges_with_stories(
    campaign: Any, organiser: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pledges.outcomes import pledge_outcome_record

    def queries() -> tuple[int, int]:
        client = Client()
        client.force_login(organiser)
        with CaptureQueriesContext(connection) as captured:
            rows = _rows(client.get("/moderation/export.csv", {"campaign": campaign.slug}))
        return len(captured), len(rows)

    def pledges_with_stories(numbers: range) -> None:
        for n in numbers:
            pledge = create_pledge(campaign, n)
            pledge_outcome_record(
                pledge=pledge, outcome="done", story_text=f"we did it, {n}", story_public=True
            )

    pledges_with_stories(range(1, 3))
    few, rows = queries()
    assert rows == 2
    pledges_with_stories(range(3, 13))
    many, rows = queries()
    assert rows == 12 and many == few


# --- The directory's organisation and the verified badge ---------------------------------------


def test_each_row_names_its_directory_organisation_and_its_verified_badge(
    make_campaign: Any, organiser: Any
) -> None:
    from pledges.tests.orgdata import make_organisation

    campaign = make_campaign(staff_domains="nhs.net", staff_domains_label="NHS staff")
    riverside = make_organisation(
        "Riverside Homes", code="L0412", domains=("riversidehomes.org.uk",), kind="housing-association"
    )
    create_pledge(campaign, 1, org=riverside, email="k.ahmed@riversidehomes.org.uk")
    # Typed as the directory holds it once: it counts for Riverside Homes, typed text kept.
    create_pledge(campaign, 2, organisation="riverside  HOMES", email="sam@example.org")
    create_pledge(campaign, 3, email="jo.bloggs@nhs.net")
    create_pledge(campaign, 4, organisation="Sunny Vale Care Home", email="ann@example.org")

    rows = {row["email"]: row for row in _rows(_export(organiser, campaign=campaign.slug))}

    columns = ("organisation", "organisation_code", "organisation_slug", "verified", "verified_badge")

    def seen(email: str) -> tuple[str, ...]:
        return tuple(rows[email][column] for column in columns)

    assert seen("k.ahmed@riversidehomes.org.uk") == (
        "Riverside Homes",
        "L0412",
        "riverside-homes",
        "staff",
        "staff at Riverside Homes",
    )
    assert seen("sam@example.org") == ("riverside  HOMES", "L0412", "riverside-homes", "", "")
    assert seen("jo.bloggs@nhs.net") == ("", "", "", "shared-domain", "NHS staff")
    assert seen("ann@example.org") == ("Sunny Vale Care Home", "", "", "", "")


def test_a_badge_label_that_looks_like_a_formula_is_exported_as_text(
    make_campaign: Any, organiser: Any
) -> None:
    campaign = make_campaign(staff_domains="nhs.net", staff_domains_label="=HYPERLINK(1)")
    create_pledge(campaign, 1, email="jo.bloggs@nhs.net")
    [row] = _rows(_export(organiser, campaign=campaign.slug))
    assert row["verified_badge"] == "'=HYPERLINK(1)"


def test_the_export_reads_the_same_number_of_queries_for_many_organisations(
    make_campaign: Any, organiser: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pledges.tests.orgdata import make_organisation

    campaign = make_campaign(staff_domains="nhs.net")

    def pledges_at_organisations(numbers: range) -> None:
        for n in numbers:
            organisation = make_organisation(f"Care Home {n}", domains=(f"home{n}.org.uk",))
            create_pledge(campaign, n, org=organisation, email=f"staff{n}@home{n}.org.uk")
            create_pledge(campaign, 100 + n, email=f"staff{n}@nhs.net")

    def queries() -> tuple[int, list[dict[str, str]]]:
        client = Client()
        client.force_login(organiser)
        with CaptureQueriesContext(connection) as captured:
            rows = _rows(client.get("/moderation/export.csv", {"campaign": campaign.slug}))
        return len(captured), rows

    pledges_at_organisations(range(1, 3))
    few, rows = queries()
    assert len(rows) == 4
    pledges_at_organisations(range(3, 13))
    many, rows = queries()
    assert len(rows) == 24 and many == few
    assert {row["verified_badge"] for row in rows} == {
        "NHS staff",
        *(f"staff at Care Home {n}" for n in range(1, 13)),
    }
