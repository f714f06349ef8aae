"""Organisers keep the directory in the admin: find, import, merge, resolve typed names."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conftest import create_pledge
from organisations.models import Organisation, OrganisationDomain, OrganisationSuggestion, SuggestionStatus
from organisations.services import organisation_create

pytestmark = pytest.mark.django_db

HEADER = "code,name,kind,region,postcode,domains,headcount\n"
CHANGELIST = "/admin/organisations/organisation/"
IMPORT = "/admin/organisations/organisation/import/"
SUGGESTIONS = "/admin/organisations/organisationsuggestion/"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def entry(
    code: str, name: str, *, kind: str = "nhs-trust", region: str = "london", domains: tuple = ()
) -> Any:
    return organisation_create(code=code, name=name, kind=kind, region=region, domains=domains)


def upload(text: str, name: str = "directory.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_an_organiser_lists_filters_and_searches_the_directory(organiser: Any) -> None:
    entry("RXA", "Oak Trust", domains=("oak.nhs.uk",))
    entry("H1", "Elm Homes", kind="housing-association", region="wales")
    client = client_for(organiser)

    page = client.get(CHANGELIST, {"kind__exact": "housing-association"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Elm Homes" in body and "Oak Trust" not in body
    assert "Import from CSV" in body

    found = client.get(CHANGELIST, {"q": "oak.nhs.uk"}).content.decode()
    assert "Oak Trust" in found and "Elm Homes" not in found
    assert "Elm Homes" in client.get(CHANGELIST, {"region__exact": "wales"}).content.decode()


def test_an_organiser_edits_an_organisation_with_its_domains_and_campaign_page(
    organiser: Any, campaign: Any
) -> None:
    oak = entry("RXA", "Oak Trust")
    client = client_for(organiser)
    url = f"{CHANGELIST}{oak.pk}/change/"
    assert client.get(url).status_code == 200
    form = {
        "code": "rxa",
        "name": "Oak  Trust",
        "slug": "oak-trust",
        "kind": "nhs-trust",
        "region": "london",
        "postcode": "e1 6an",
        "headcount": "1200",
        "domains-TOTAL_FORMS": "1",
        "domains-INITIAL_FORMS": "0",
        "domains-0-domain": "OAK.nhs.uk",
        "campaign_pages-TOTAL_FORMS": "1",
        "campaign_pages-INITIAL_FORMS": "0",
        "campaign_pages-0-campaign": str(campaign.pk),
        "campaign_pages-0-welcome": "Welcome, Oak staff!",
        "campaign_pages-0-contact_name": "Pat",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    oak.refresh_from_db()
    assert (oak.code, oak.name, oak.postcode, oak.headcount) == ("RXA", "Oak Trust", "E1 6AN", 1200)
    assert list(oak.domains.values_list("domain", flat=True)) == ["oak.nhs.uk"]
    assert oak.campaign_pages.get().welcome == "Welcome, Oak staff!"
    # A shared domain is refused with the reason, not saved.
    form.update({"domains-0-domain": "nhs.net", "domains-0-id": "", "campaign_pages-TOTAL_FORMS": "0"})
    form["domains-INITIAL_FORMS"] = "0"
    OrganisationDomain.objects.all().delete()
    refused = client.post(url, form)
    assert refused.status_code == 200
    assert "shared by many organisations" in refused.content.decode()
    assert not OrganisationDomain.objects.exists()
    form.update({"domains-TOTAL_FORMS": "0", "code": "<b>RXA</b>"})
    bad_code = client.post(url, form)
    assert bad_code.status_code == 200
    assert "may hold only letters, digits" in bad_code.content.decode()
    assert "&lt;b&gt;RXA&lt;/b&gt;" in bad_code.content.decode()
    oak.refresh_from_db()
    assert oak.code == "RXA"


def test_an_organiser_imports_a_file_from_the_admin(organiser: Any) -> None:
    client = client_for(organiser)
    assert client.get(IMPORT).status_code == 200
    response = client.post(
        IMPORT, {"file": upload(HEADER + "RXA,Oak Trust,NHS trust,London,E1 6AN,oak.nhs.uk,3000\n")}
    )
    assert response.status_code == 200
    assert "1</strong> created" in response.content.decode()
    assert Organisation.objects.get(code="RXA").domains.get().domain == "oak.nhs.uk"


def test_bad_rows_are_listed_on_the_page_and_nothing_is_imported(organiser: Any) -> None:
    text = HEADER + "RXA,Oak Trust,nhs-trust,london,,,\nRXB,<script>alert(1)</script>,castle,london,,,\n"
    response = client_for(organiser).post(IMPORT, {"file": upload(text)})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was imported" in body
    assert "Line 3: Kind &#x27;castle&#x27; is not one we know" in body
    assert "<script>alert(1)" not in body
    assert not Organisation.objects.exists()


def test_an_import_without_a_file_or_with_a_huge_one_is_refused_with_a_sentence(
    organiser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(organiser)
    assert client.post(IMPORT, {}).status_code == 400
    monkeypatch.setattr("organisations.admin.IMPORT_MAX_BYTES", 10)
    response = client.post(IMPORT, {"file": upload(HEADER)})
    assert response.status_code == 400
    assert "larger than" in response.content.decode()


def test_a_stranger_and_a_visitor_cannot_reach_the_directory_or_its_import(
    stranger: Any, django_user_model: Any
) -> None:
    staff_only = django_user_model.objects.create_user(
        username="staff@example.org", password="pw", is_staff=True
    )
    for user in (stranger, staff_only):
        client = client_for(user)
        assert client.get(CHANGELIST).status_code in (302, 403)
        response = client.post(IMPORT, {"file": upload(HEADER + "RXA,Oak Trust,nhs-trust,london,,,\n")})
        assert response.status_code in (302, 403)
    assert Client().get(IMPORT).status_code == 302
    assert not Organisation.objects.exists()
    # Nor merge: the action is the organisers'.
    keep, dup = entry("RXA", "Oak Trust"), entry("RXB", "Oak Trust Ltd")
    for user in (stranger, staff_only):
        client_for(user).post(
            CHANGELIST,
            {
                "action": "merge_into",
                "_selected_action": [str(keep.pk), str(dup.pk)],
                "confirm": "yes",
                "keep": keep.pk,
            },
        )
    assert Organisation.objects.count() == 2


def test_markup_in_an_organisations_name_is_shown_as_text(organiser: Any) -> None:
    entry("X1", "<img src=x onerror=alert(1)> Care", kind="care-provider")
    body = client_for(organiser).get(CHANGELIST).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt; Care" in body
    assert "<img src=x" not in body


def test_an_organiser_merges_duplicates_choosing_the_one_to_keep(organiser: Any, campaign: Any) -> None:
    from pledges.organisation_moves import pledge_organisation_set

    keep = entry("RXA", "Riverside Homes", kind="housing-association")
    dup = entry("RXB", "Riverside Homes Ltd", kind="housing-association", domains=("riversidehomes.org.uk",))
    pledge = create_pledge(campaign, 1)
    pledge_organisation_set(pledge=pledge, organisation=dup)
    client = client_for(organiser)
    chosen = {"action": "merge_into", "_selected_action": [str(keep.pk), str(dup.pk)]}

    page = client.post(CHANGELIST, {**chosen, "index": "0"})
    assert page.status_code == 200
    assert "Choose the one to keep" in page.content.decode()
    assert Organisation.objects.count() == 2

    done = client.post(CHANGELIST, {**chosen, "confirm": "yes", "keep": str(keep.pk)}, follow=True)
    assert "Merged 1 organisation into Riverside Homes: 1 pledge moved." in done.content.decode()
    assert list(Organisation.objects.values_list("code", flat=True)) == ["RXA"]
    pledge.refresh_from_db()
    assert pledge.org == keep
    assert keep.domains.get().domain == "riversidehomes.org.uk"


def test_a_merge_of_one_organisation_asks_for_more(organiser: Any) -> None:
    keep = entry("RXA", "Riverside Homes")
    page = client_for(organiser).post(
        CHANGELIST, {"action": "merge_into", "_selected_action": [str(keep.pk)], "index": "0"}, follow=True
    )
    assert "Choose two or more organisations to merge." in page.content.decode()


def _suggestion(campaign: Any, typed: str, n: int = 1) -> OrganisationSuggestion:
    from organisations.models import suggestion_name_key
    from pledges.models import Pledge

    pledge = create_pledge(campaign, n, organisation=typed)
    suggestion, _ = OrganisationSuggestion.objects.get_or_create(
        name_key=suggestion_name_key(typed), defaults={"name": typed}
    )
    Pledge.objects.filter(pk=pledge.pk).update(org_suggestion=suggestion)
    return suggestion


def test_open_suggestions_are_listed_with_their_pledge_counts(organiser: Any, campaign: Any) -> None:
    _suggestion(campaign, "Oak Lodge Care", 1)
    _suggestion(campaign, "oak lodge care ltd", 2)
    OrganisationSuggestion.objects.create(
        name_key="done one", name="Done One", status=SuggestionStatus.MAPPED
    )
    page = client_for(organiser).get(SUGGESTIONS)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Oak Lodge Care" in body and "Done One" not in body
    assert '<td class="field-pledge_count">2</td>' in body
    assert "Done One" in client_for(organiser).get(SUGGESTIONS, {"status": "all"}).content.decode()


def test_an_organiser_accepts_a_suggestion_giving_its_code_kind_and_region(
    organiser: Any, campaign: Any
) -> None:
    suggestion = _suggestion(campaign, "Oak Lodge <b>Care</b>")
    client = client_for(organiser)
    chosen = {"action": "accept", "_selected_action": [str(suggestion.pk)]}
    page = client.post(SUGGESTIONS, {**chosen, "index": "0"})
    assert page.status_code == 200
    assert "Oak Lodge &lt;b&gt;Care&lt;/b&gt;" in page.content.decode()

    taken = entry("OAK1", "Someone Else")
    refused = client.post(
        SUGGESTIONS,
        {
            **chosen,
            "confirm": "yes",
            "name": "Oak Lodge Care",
            "code": "oak1",
            "kind": "care-provider",
            "region": "london",
        },
    )
    assert refused.status_code == 400
    assert "Code OAK1 is already Someone Else&#x27;s." in refused.content.decode()
    taken.delete()

    done = client.post(
        SUGGESTIONS,
        {
            **chosen,
            "confirm": "yes",
            "name": "Oak Lodge Care",
            "code": "1-100200300",
            "kind": "care-provider",
            "region": "south-west",
            "postcode": "ex1 1aa",
            "domains": "oaklodgecare.co.uk",
        },
        follow=True,
    )
    assert "Oak Lodge Care is in the directory now, with 1 pledges." in done.content.decode()
    organisation = Organisation.objects.get(code="1-100200300")
    assert (organisation.region, organisation.postcode) == ("south-west", "EX1 1AA")
    assert organisation.pledges.count() == 1
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.ACCEPTED


def test_an_organiser_maps_suggestions_to_an_organisation_by_its_code(organiser: Any, campaign: Any) -> None:
    oak = entry("RXA", "Oak Trust")
    first = _suggestion(campaign, "Oak NHS Trust", 1)
    second = _suggestion(campaign, "The Oak", 2)
    chosen = {"action": "map_to", "_selected_action": [str(first.pk), str(second.pk)], "confirm": "yes"}
    client = client_for(organiser)
    unknown = client.post(SUGGESTIONS, {**chosen, "code": "NOPE"})
    assert unknown.status_code == 400
    assert "No organisation in the directory has the code NOPE." in unknown.content.decode()
    done = client.post(SUGGESTIONS, {**chosen, "code": "rxa"}, follow=True)
    assert "Mapped to Oak Trust: 2 pledges." in done.content.decode()
    assert oak.pledges.count() == 2
    assert set(OrganisationSuggestion.objects.values_list("status", flat=True)) == {SuggestionStatus.MAPPED}


def test_a_stranger_cannot_see_or_act_on_suggestions(stranger: Any, campaign: Any) -> None:
    suggestion = _suggestion(campaign, "Oak Lodge Care")
    entry("RXA", "Oak Trust")
    client = client_for(stranger)
    assert client.get(SUGGESTIONS).status_code in (302, 403)
    client.post(
        SUGGESTIONS,
        {"action": "map_to", "_selected_action": [str(suggestion.pk)], "confirm": "yes", "code": "RXA"},
    )
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.OPEN
