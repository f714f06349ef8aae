"""Choosing an organisation on the pledge form: the type-ahead's answers, "Find your
organisation" without JavaScript (nothing typed is lost), a typed name kept as a
suggestion for organisers, forged choices refused, and the wall's and API's
organisation filter by slug or by name."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import create_pledge
from organisations.models import OrganisationSuggestion, OrganisationTotal, SuggestionStatus
from outbox.models import OutboxEmail
from pledges.models import Pledge
from pledges.services import pledge_confirm
from pledges.tests.orgdata import make_organisation
from pledges.tests.test_form import RenderedForm

pytestmark = pytest.mark.django_db

SUGGEST = "/organisations/suggest.json"


@pytest.fixture
def directory(db: None) -> dict[str, Any]:
    return {
        "riverside": make_organisation("Riverside Homes", domains=("riversidehomes.org.uk",)),
        "rivers": make_organisation("Rivers Care Ltd", kind="care-provider"),
        "leeds": make_organisation(
            "Leeds Teaching Hospitals NHS Trust", kind="nhs-trust", region="north-east-and-yorkshire"
        ),
        "east": make_organisation("East Riverside Surgery", kind="gp-practice"),
    }


def _create(campaign: Any, data: dict[str, Any], client: Client | None = None) -> Any:
    return (client or Client()).post(f"/campaigns/{campaign.slug}/pledge/", data)


def _find(campaign: Any, data: dict[str, Any], client: Client | None = None) -> Any:
    return (client or Client()).post(f"/campaigns/{campaign.slug}/pledge/organisation/", data)


# --- The type-ahead ---------------------------------------------------------------------


def test_the_type_ahead_finds_names_starting_with_what_is_typed_then_names_with_a_word_starting_so(
    directory: dict[str, Any],
) -> None:
    response = Client().get(SUGGEST, {"q": "  RIVER "})

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"name": "Rivers Care Ltd", "slug": "rivers-care-ltd"},
            {"name": "Riverside Homes", "slug": "riverside-homes"},
            {"name": "East Riverside Surgery", "slug": "east-riverside-surgery"},
        ]
    }
    assert Client().get(SUGGEST, {"q": "teaching"}).json()["results"] == [
        {"name": "Leeds Teaching Hospitals NHS Trust", "slug": "leeds-teaching-hospitals-nhs-trust"}
    ]
    assert Client().get(SUGGEST, {"q": "iver"}).json()["results"] == []
    assert Client().get(SUGGEST, {"q": ""}).json()["results"] == []


def test_the_type_ahead_answers_ten_at_most_with_the_same_queries_and_shares_its_answer(db: None) -> None:
    for n in range(25):
        make_organisation(f"Care Home {n:02d}")

    with CaptureQueriesContext(connection) as first:
        response = Client().get(SUGGEST, {"q": "care"})
    with CaptureQueriesContext(connection) as again:
        repeated = Client().get(SUGGEST, {"q": "Care "})

    results = response.json()["results"]
    assert [row["name"] for row in results] == [f"Care Home {n:02d}" for n in range(10)]
    assert all(set(row) == {"name", "slug"} for row in results)
    # A full page from the name index: the word search is not needed.
    assert len(first.captured_queries) == 1
    assert repeated.json() == response.json() and len(again.captured_queries) == 0
    assert "public" in response["Cache-Control"] and "max-age=300" in response["Cache-Control"]


@pytest.mark.parametrize(
    "query",
    ["%", "_", "\\", "' OR 1=1 --", "<script>alert(1)</script>", "\U0010ffff", "ﬀ"],
    ids=["percent", "underscore", "backslash", "sql", "markup", "last-code-point", "ligature"],
)
def test_wildcards_and_odd_characters_in_the_type_ahead_match_only_themselves(
    directory: dict[str, Any], query: str
) -> None:
    response = Client().get(SUGGEST, {"q": query})

    assert response.status_code == 200
    assert response.json() == {"results": []}


def test_a_null_character_or_an_overlong_search_is_a_clear_400(directory: dict[str, Any]) -> None:
    for query in ("riv\x00", "r" * 201):
        response = Client().get(SUGGEST, {"q": query})
        assert response.status_code == 400
        assert "200 characters or fewer" in response.json()["detail"]


def test_a_flood_of_type_ahead_requests_from_one_network_is_refused_until_the_window_ends(
    campaign: Any, directory: dict[str, Any], settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "organisation-search": (5, 600)}
    client = Client(REMOTE_ADDR="203.0.113.9")

    answers = [client.get(SUGGEST, {"q": f"riv{'e' * (n % 3)}"}).status_code for n in range(5)]
    refused = client.get(SUGGEST, {"q": "riv"})
    # Fresh cookies change nothing: the network is the key.
    again = Client(REMOTE_ADDR="203.0.113.9").get(SUGGEST, {"q": "leeds"})
    other = Client(REMOTE_ADDR="198.51.100.7").get(SUGGEST, {"q": "riv"})

    assert answers == [200] * 5
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert again.status_code == 429
    assert other.status_code == 200
    # The search without JavaScript counts against the same limit.
    find = f"/campaigns/{campaign.slug}/pledge/organisation/"
    assert Client(REMOTE_ADDR="203.0.113.9").get(find, {"organisation": "riv"}).status_code == 429


@pytest.mark.postgres_only("index plans are PostgreSQL's")
def test_the_type_ahead_reads_the_lower_name_index(directory: dict[str, Any]) -> None:
    from organisations.selectors import organisation_search

    with CaptureQueriesContext(connection) as captured:
        organisation_search(query="riv")
    with connection.cursor() as cursor:
        # A handful of rows: a sequential scan would win, so ask whether the index can answer.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {captured.captured_queries[0]['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "organisation_name_lower_idx" in plan, plan


# --- Choosing with the type-ahead -------------------------------------------------------


def test_the_form_offers_the_type_ahead_and_the_search_that_works_without_javascript(campaign: Any) -> None:
    page = Client().get(f"/campaigns/{campaign.slug}/pledge/").content.decode()

    assert 'data-org-suggest="/organisations/suggest.json"' in page
    assert 'data-org-choice="id_org"' in page
    assert re.search(r'<input type="hidden" name="org" id="id_org"', page)
    assert f'formaction="/campaigns/{campaign.slug}/pledge/organisation/#organisation-choices"' in page
    # Enter in a text box sends the pledge, not the search: the first submit button is the pledge's.
    first_submit = re.search(r'<(button|input)[^>]*type="submit"[^>]*>', page).group(0)
    assert 'name="submit"' in first_submit and "find_organisation" not in first_submit


def test_a_pledge_with_an_organisation_chosen_from_the_directory_counts_for_it(
    campaign: Any, directory: dict[str, Any], pledge_data: dict[str, Any]
) -> None:
    riverside = directory["riverside"]
    # The box holds what the type-ahead put there; the choice is the slug.
    response = _create(campaign, {**pledge_data, "organisation": "Riverside Homes", "org": riverside.slug})

    assert response.status_code == 302
    pledge = Pledge.objects.get()
    assert (pledge.org, pledge.org_suggestion, pledge.organisation) == (riverside, None, "Riverside Homes")
    pledge_confirm(pledge=pledge)
    totals = OrganisationTotal.objects.filter(campaign=campaign, organisation=riverside)
    assert sum(row.pledges for row in totals) == 1
    assert not OrganisationSuggestion.objects.exists()


def test_the_directorys_name_is_shown_whatever_was_left_in_the_box_beside_the_choice(
    campaign: Any, directory: dict[str, Any], pledge_data: dict[str, Any]
) -> None:
    _create(campaign, {**pledge_data, "organisation": "rivers", "org": "rivers-care-ltd"})

    pledge = Pledge.objects.get()
    assert (pledge.org, pledge.organisation) == (directory["rivers"], "Rivers Care Ltd")


@pytest.mark.parametrize(
    "forged",
    ["no-such-organisation", "riverside-homes'--", "<b>x</b>", "riverside\x00homes", "r" * 300, "../admin"],
    ids=["unknown", "sql", "markup", "null", "overlong", "path"],
)
def test_a_forged_organisation_choice_is_refused_beside_the_box_and_nothing_is_stored(
    campaign: Any, directory: dict[str, Any], pledge_data: dict[str, Any], forged: str
) -> None:
    response = _create(campaign, {**pledge_data, "organisation": "Riverside Homes", "org": forged})

    assert response.status_code == 400
    form = RenderedForm(response.content.decode())
    assert "could not find that organisation in our directory" in form.errors.get("organisation", "")
    assert "id_organisation" in form.summary_links
    assert form.values["organisation"] == "Riverside Homes"
    assert "<b>x</b>" not in response.content.decode()
    assert not Pledge.objects.exists() and not OutboxEmail.objects.exists()


# --- A name not in the directory --------------------------------------------------------


def test_a_name_not_in_the_directory_is_kept_as_typed_and_waits_as_one_suggestion_however_it_is_cased(
    campaign: Any, directory: dict[str, Any], pledge_data: dict[str, Any]
) -> None:
    for n, typed in enumerate(["Sunny Vale Care  Home", "sunny vale CARE home"]):
        response = _create(
            campaign,
            {
                **pledge_data,
                "email": f"carer{n}@example.org",
                "organisation": typed,
                "submission_token": str(uuid.uuid4()),
            },
        )
        assert response.status_code == 302

    suggestion = OrganisationSuggestion.objects.get()
    assert (suggestion.name, suggestion.name_key, suggestion.status) == (
        "Sunny Vale Care Home",
        "sunny vale care home",
        SuggestionStatus.OPEN,
    )
    pledges = Pledge.objects.order_by("id")
    assert [pledge.organisation for pledge in pledges] == ["Sunny Vale Care  Home", "sunny vale CARE home"]
    assert {(pledge.org_id, pledge.org_suggestion_id) for pledge in pledges} == {(None, suggestion.pk)}


def test_a_typed_name_the_directory_holds_once_counts_for_it_and_a_shared_one_waits_for_organisers(
    campaign: Any, directory: dict[str, Any]
) -> None:
    exact = create_pledge(campaign, 1, organisation="riverside HOMES", confirm=False)
    folded = create_pledge(campaign, 3, organisation="Riverside  Homes Ltd.", confirm=False)
    make_organisation("Riverside Surgery", slug="riverside-surgery-leeds", code="B1")
    make_organisation("Riverside Surgery", slug="riverside-surgery-hull", code="B2")
    shared = create_pledge(campaign, 2, organisation="Riverside Surgery", confirm=False)

    assert (exact.org, exact.org_suggestion, exact.organisation) == (
        directory["riverside"],
        None,
        "riverside HOMES",
    )
    # Folded as the wall's filter and the suggestions fold it: no suggestion waits for it.
    assert (folded.org, folded.org_suggestion, folded.organisation) == (
        directory["riverside"],
        None,
        "Riverside  Homes Ltd.",
    )
    assert shared.org is None and shared.org_suggestion.name == "Riverside Surgery"


def test_a_name_organisers_have_mapped_counts_for_the_organisation_they_mapped_it_to(
    campaign: Any, directory: dict[str, Any]
) -> None:
    first = create_pledge(campaign, 1, organisation="Riverside Homes Group Ltd.", confirm=False)
    suggestion = first.org_suggestion
    # What the organisers' mapping leaves behind (organisations.services, the directory's side).
    OrganisationSuggestion.objects.filter(pk=suggestion.pk).update(
        status=SuggestionStatus.MAPPED, organisation=directory["riverside"]
    )

    later = create_pledge(campaign, 2, organisation="riverside homes group ltd.")

    assert (later.org, later.org_suggestion) == (directory["riverside"], suggestion)
    assert (
        sum(row.pledges for row in OrganisationTotal.objects.filter(organisation=directory["riverside"])) == 1
    )


def test_markup_typed_as_an_organisation_stays_text_on_the_permalink_and_the_wall(
    campaign: Any, pledge_data: dict[str, Any]
) -> None:
    typed = '<img src=x onerror="alert(1)">Evil & Co'
    _create(campaign, {**pledge_data, "organisation": typed})
    pledge = pledge_confirm(pledge=Pledge.objects.get())

    assert pledge.org_suggestion.name == typed
    for url in (f"/pledges/{pledge.public_id}/", f"/campaigns/{campaign.slug}/wall/"):
        page = Client().get(url).content.decode()
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Evil &amp; Co" in page


# --- Without JavaScript: "Find your organisation" ---------------------------------------


def test_find_your_organisation_lists_the_matches_and_keeps_everything_typed_then_the_choice_is_pledged(
    campaign: Any, directory: dict[str, Any], pledge_data: dict[str, Any]
) -> None:
    client = Client(enforce_csrf_checks=True)
    form_page = client.get(f"/campaigns/{campaign.slug}/pledge/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page).group(1)
    typed = {
        **pledge_data,
        "organisation": "riverside",
        "csrfmiddlewaretoken": csrf,
        "find_organisation": "1",
    }

    found = _find(campaign, typed, client)

    assert found.status_code == 200
    page = found.content.decode()
    form = RenderedForm(page)
    for field in ("text", "display_name", "role", "email", "submission_token"):
        # (A browser drops the line break Django writes after <textarea>.)
        assert form.values.get(field, "").lstrip("\n") == pledge_data[field], field
    assert form.values["organisation"] == "riverside"
    assert form.ticked["sectors"] == set(pledge_data["sectors"])
    assert form.ticked["consent_to_publish"] == {"on"} and form.ticked["wants_reminders"] == {"on"}
    assert form.selected["region"] == pledge_data["region"]
    assert form.errors == {} and "Please check your pledge" not in page
    # The matches as radio buttons, in the same form, which still sends itself to the pledge.
    assert 'id="organisation-choices"' in page and "Choose your organisation" in page
    options = re.findall(r'<input type="radio" [^>]*name="org" value="([^"]*)"', page)
    assert options == ["riverside-homes", "east-riverside-surgery", ""]
    assert "None of these: keep what I typed" in page
    assert f'action="/campaigns/{campaign.slug}/pledge/"' in page
    # Nothing is stored or sent by searching.
    assert not Pledge.objects.exists() and not OutboxEmail.objects.exists()

    chosen = {**typed, "org": "riverside-homes"}
    chosen.pop("find_organisation")
    response = _create(campaign, chosen, client)

    assert response.status_code == 302
    pledge = Pledge.objects.get()
    assert (pledge.org, pledge.organisation) == (directory["riverside"], "Riverside Homes")
    assert str(pledge.submission_token) == pledge_data["submission_token"]


def test_find_your_organisation_with_no_match_says_so_and_the_typed_name_can_still_be_pledged(
    campaign: Any, directory: dict[str, Any], pledge_data: dict[str, Any]
) -> None:
    typed = {**pledge_data, "organisation": "Zebra <b>Crossing</b> Care"}

    found = _find(campaign, typed)

    page = found.content.decode()
    assert found.status_code == 200
    assert "Our directory has no organisation called “Zebra &lt;b&gt;Crossing&lt;/b&gt; Care”" in page
    assert "<b>Crossing</b>" not in page
    assert not re.search(r'type="radio" [^>]*name="org"', page)
    assert _create(campaign, typed).status_code == 302
    assert Pledge.objects.get().org_suggestion.name == "Zebra <b>Crossing</b> Care"


def test_the_search_page_needs_the_forms_csrf_token_and_a_closed_campaign_refuses_it(
    campaign: Any, make_campaign: Any, pledge_data: dict[str, Any]
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    assert _find(campaign, pledge_data, Client(enforce_csrf_checks=True)).status_code == 403
    now = timezone.now()
    closed = make_campaign(
        slug="closed-day",
        opens_at=now - timedelta(days=90),
        change_day=(now - timedelta(days=30)).date(),
        deadline=now - timedelta(days=1),
    )
    response = _find(closed, pledge_data)
    assert response.status_code == 403 and "Pledging closed on" in response.content.decode()
    assert Client().get("/campaigns/no-such-campaign/pledge/organisation/").status_code == 404


def test_a_link_to_the_search_by_get_fills_in_the_matches_on_a_blank_form(
    campaign: Any, directory: dict[str, Any]
) -> None:
    response = Client().get(f"/campaigns/{campaign.slug}/pledge/organisation/", {"organisation": "leeds"})

    page = response.content.decode()
    assert response.status_code == 200
    assert re.findall(r'type="radio" [^>]*name="org" value="([^"]*)"', page) == [
        "leeds-teaching-hospitals-nhs-trust",
        "",
    ]
    assert uuid.UUID(RenderedForm(page).values["submission_token"])
    # What a blank form has chosen already stays chosen.
    assert RenderedForm(page).ticked["kind"] == {"personal"}


# --- The wall's and the API's organisation filter ---------------------------------------


def test_the_wall_and_the_api_filter_by_an_organisations_slug_or_by_a_typed_name(
    campaign: Any, directory: dict[str, Any]
) -> None:
    chosen = create_pledge(campaign, 1, org=directory["riverside"])
    by_name = create_pledge(campaign, 2, organisation="Riverside Homes")  # the directory's name: linked too
    typed = create_pledge(campaign, 3, organisation="Sunny Vale Care Home")
    create_pledge(campaign, 4, org=directory["rivers"])
    create_pledge(campaign, 5)

    def wall(value: str) -> set[str]:
        page = Client().get(f"/campaigns/{campaign.slug}/wall/", {"organisation": value}).content.decode()
        return set(re.findall(r'href="/pledges/([0-9a-z]+)/"', page))

    def api(value: str) -> set[str]:
        response = Client().get(f"/api/v1/campaigns/{campaign.slug}/pledges", {"organisation": value})
        return {item["public_id"] for item in response.json()["results"]}

    for look in (wall, api):
        assert look("riverside-homes") == {chosen.public_id, by_name.public_id}
        assert look("Riverside-Homes") == {chosen.public_id, by_name.public_id}
        assert look("sunny vale CARE home") == {typed.public_id}
        assert look("riverside homes") == {chosen.public_id, by_name.public_id}
        assert look("no-such-organisation") == set()

    item = (
        Client().get(f"/api/v1/campaigns/{campaign.slug}/pledges", {"organisation": "riverside-homes"}).json()
    )
    assert {(row["organisation"], row["organisation_slug"]) for row in item["results"]} == {
        ("Riverside Homes", "riverside-homes")
    }


def test_a_directory_organisations_name_gives_the_pledges_its_slug_gives_however_they_were_typed(
    campaign: Any, directory: dict[str, Any]
) -> None:
    from pledges.organisation_moves import suggestion_map

    chosen = create_pledge(campaign, 1, org=directory["riverside"])
    mapped = create_pledge(campaign, 2, organisation="riverside homes group")
    suggestion_map(suggestion=mapped.org_suggestion, organisation=directory["riverside"])
    # Folded into the suggestion organisers mapped: counts for Riverside Homes from the start.
    later = create_pledge(campaign, 3, organisation="Riverside Homes Group Limited")
    rivers = create_pledge(campaign, 4, org=directory["rivers"])
    typed = create_pledge(campaign, 5, organisation="Sunny Vale Care Home")
    # Two organisations share one name: a name cannot say which, so it matches as typed.
    first_oak = make_organisation("Oak Surgery", slug="oak-surgery", kind="gp-practice")
    make_organisation("Oak Surgery Ltd", slug="oak-surgery-ltd", kind="gp-practice")
    oak = create_pledge(campaign, 6, org=first_oak)

    def wall(value: str) -> set[str]:
        page = Client().get(f"/campaigns/{campaign.slug}/wall/", {"organisation": value}).content.decode()
        return set(re.findall(r'href="/pledges/([0-9a-z]+)/"', page))

    def api(value: str) -> set[str]:
        response = Client().get(f"/api/v1/campaigns/{campaign.slug}/pledges", {"organisation": value})
        assert response.status_code == 200
        return {item["public_id"] for item in response.json()["results"]}

    riverside = {chosen.public_id, mapped.public_id, later.public_id}
    for look in (wall, api):
        assert look("riverside-homes") == riverside
        for name in ("Riverside Homes", "riverside homes ltd", "RIVERSIDE  HOMES LTD.", "Riverside Homes,"):
            assert look(name) == riverside, (look.__name__, name)
        assert look("rivers care") == look("rivers-care-ltd") == {rivers.public_id}
        assert look("sunny vale CARE home") == {typed.public_id}
        assert look("Oak Surgery") == {oak.public_id}
        assert look("oak surgery ltd") == set()
        assert look("Riverside") == set()


@pytest.mark.parametrize(
    "hostile",
    [
        {"organisation": "riv\x00"},
        {"organisation": "r" * 5000},
        {"sectors": ["<script>", "nhs"], "region": "mars", "kind": "\x00"},
        {"submission_token": "not-a-token", "text": "\x00" * 10},
    ],
    ids=["null-name", "overlong-name", "bad-choices", "bad-token-and-null-text"],
)
def test_hostile_values_sent_to_the_search_are_drawn_back_harmlessly_never_a_500(
    campaign: Any, directory: dict[str, Any], pledge_data: dict[str, Any], hostile: dict[str, Any]
) -> None:
    response = _find(campaign, {**pledge_data, **hostile})

    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>" not in page
    assert uuid.UUID(RenderedForm(page).values["submission_token"])
    assert not Pledge.objects.exists() and not OrganisationSuggestion.objects.exists()
