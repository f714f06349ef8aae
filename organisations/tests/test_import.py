from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from organisations.models import Organisation, OrganisationDomain, OrganisationKind
from organisations.services import organisations_import

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "organisations.csv"
HEADER = "code,name,kind,region,postcode,domains,headcount\n"


def imported(text: str):  # noqa: ANN201 - ImportResult
    return organisations_import(csv_file=text)


def problems(text: str) -> list[str]:
    result = imported(text)
    assert not result.ok
    return [str(problem) for problem in result.problems]


@pytest.mark.django_db
def test_a_directory_is_imported_with_values_labels_domains_and_headcounts() -> None:
    result = imported(
        HEADER
        + "rxr,Riverside Homes Ltd,Housing association,north west,l3 1aa,"
        + '"riversidehomes.org.uk; @RiverSide.example ","1,840"\n'
        + "B82001,Beech  Lane Surgery,gp-practice,North East and Yorkshire,,,\n"
    )
    assert (result.created, result.updated, result.unchanged, result.problems) == (2, 0, 0, [])
    homes = Organisation.objects.get(code="RXR")
    assert (homes.name, homes.kind, homes.region, homes.postcode, homes.headcount, homes.slug) == (
        "Riverside Homes Ltd",
        OrganisationKind.HOUSING_ASSOCIATION,
        "north-west",
        "L3 1AA",
        1840,
        "riverside-homes-ltd",
    )
    assert list(homes.domains.values_list("domain", flat=True)) == [
        "riverside.example",
        "riversidehomes.org.uk",
    ]
    surgery = Organisation.objects.get(code="B82001")
    assert (surgery.name, surgery.headcount, surgery.postcode) == ("Beech Lane Surgery", None, "")
    assert not surgery.domains.exists()


@pytest.mark.django_db
def test_a_row_whose_code_is_known_updates_that_organisation_and_keeps_its_slug() -> None:
    imported(
        HEADER
        + "RXR,Riverside Homes,housing-association,north-west,L3 1AA,riversidehomes.org.uk old.example,100\n"
    )
    result = imported(HEADER + "RXR,Riverside Homes Group,charity,london,E1 6AN,riversidehomes.org.uk,120\n")
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    homes = Organisation.objects.get(code="RXR")
    assert (homes.name, homes.kind, homes.region, homes.headcount, homes.slug) == (
        "Riverside Homes Group",
        "charity",
        "london",
        120,
        "riverside-homes",
    )
    # The row's domains replace the organisation's: old.example is gone.
    assert list(homes.domains.values_list("domain", flat=True)) == ["riversidehomes.org.uk"]
    again = imported(HEADER + "RXR,Riverside Homes Group,charity,london,E1 6AN,riversidehomes.org.uk,120\n")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


@pytest.mark.django_db
def test_optional_columns_left_out_keep_what_the_directory_holds() -> None:
    imported(HEADER + "RXR,Riverside Homes,housing-association,north-west,L3 1AA,riversidehomes.org.uk,100\n")
    result = imported("Name,CODE,Kind,Region\nRiverside Homes,RXR,housing-association,north-west\n")
    assert result.ok and result.unchanged == 1
    homes = Organisation.objects.get(code="RXR")
    assert (homes.postcode, homes.headcount, homes.domains.count()) == ("L3 1AA", 100, 1)


@pytest.mark.django_db
def test_two_organisations_with_one_name_get_different_slugs() -> None:
    Organisation.objects.create(
        code="X1", name="Oak Surgery", slug="oak-surgery", kind="gp-practice", region="london"
    )
    imported(HEADER + "X2,Oak Surgery,gp-practice,london,,,\nX3,Oak  Surgery,gp-practice,wales,,,\n")
    assert sorted(Organisation.objects.values_list("slug", flat=True)) == [
        "oak-surgery",
        "oak-surgery-2",
        "oak-surgery-3",
    ]


@pytest.mark.django_db
def test_every_kind_of_bad_row_is_reported_by_line_and_nothing_is_imported() -> None:
    Organisation.objects.create(code="OWN", name="Owner", slug="owner", kind="charity", region="london")
    OrganisationDomain.objects.create(
        organisation=Organisation.objects.get(code="OWN"), domain="taken.org.uk"
    )
    text = (
        HEADER
        + "GOOD1,Good Trust,nhs-trust,london,E1 6AN,good.nhs.uk,3000\n"  # line 2 is fine
        + ",No Code,nhs-trust,london,,,\n"  # 3
        + "BAD4,,nhs-trust,london,,,\n"  # 4
        + "BAD5,Wrong Kind,hospital,london,,,\n"  # 5
        + "BAD6,Wrong Region,nhs-trust,Atlantis,,,\n"  # 6
        + "BAD7,Bad Postcode,nhs-trust,london,12345,,\n"  # 7
        + "BAD8,Bad Headcount,nhs-trust,london,,,-4\n"  # 8
        + "BAD9,Zero Headcount,nhs-trust,london,,,0\n"  # 9
        + "BAD10,Words Headcount,nhs-trust,london,,,about 40\n"  # 10
        + "BAD11,Shared Domain,nhs-trust,london,,nhs.net,\n"  # 11
        + "BAD12,Not A Domain,nhs-trust,london,,not_a domain!,\n"  # 12
        + "BAD13,Taken Domain,nhs-trust,london,,taken.org.uk,\n"  # 13
        + "GOOD1,Same Code Again,nhs-trust,london,,,\n"  # 14
        + "BAD15,Too Few Cells,nhs-trust\n"  # 15
        + '"BAD 16!",Bad Code,nhs-trust,london,,,\n'  # 16
        + "BAD17,Second Good,charity,london,,good.nhs.uk,\n"  # 17: domain also on line 2
        + "BAD18,Free Mail,charity,london,,gmail.com,\n"  # 18
    )
    found = problems(text)
    lines = [int(problem.split(":")[0].removeprefix("Line ")) for problem in found]
    assert lines == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    assert "Line 5: Kind 'hospital' is not one we know" in found[2]
    assert "NHS trust" in found[2]  # the sentence lists what would do
    assert "Line 14: Code GOOD1 is already on line 2." == found[11]
    assert "belongs to another organisation (OWN)" in found[10]
    assert Organisation.objects.count() == 1
    assert OrganisationDomain.objects.count() == 1
    assert found[14] == "Line 17: Domain good.nhs.uk is also on line 2."
    only_domains = (
        HEADER + "GOOD1,Good Trust,nhs-trust,london,,good.nhs.uk,\nG2,Other,charity,london,,good.nhs.uk,\n"
    )
    assert problems(only_domains) == ["Line 3: Domain good.nhs.uk is also on line 2."]
    assert Organisation.objects.count() == 1


@pytest.mark.django_db
def test_a_bad_row_late_in_the_file_leaves_earlier_updates_undone() -> None:
    imported(HEADER + "RXR,Riverside Homes,housing-association,north-west,,,100\n")
    found = problems(
        HEADER + "RXR,Renamed,housing-association,north-west,,,200\nNEW,New One,charity,nowhere,,,\n"
    )
    assert found[0].startswith("Line 3: Region 'nowhere'")
    homes = Organisation.objects.get(code="RXR")
    assert (homes.name, homes.headcount) == ("Riverside Homes", 100)
    assert not Organisation.objects.filter(code="NEW").exists()


@pytest.mark.django_db
def test_a_line_number_counts_lines_inside_quoted_cells_and_skips_blank_ones() -> None:
    text = (
        HEADER
        + '"A1","Two\nline name",charity,london,,,\n\nA2,Fine,charity,london,,,\nA3,Bad,charity,mars,,,\n'
    )
    assert problems(text) == [
        "Line 6: Region 'mars' is not one we know; use one of: East of England, London, Midlands, "
        "North East and Yorkshire, North West, South East, South West, Scotland, Wales, Northern Ireland, "
        "Elsewhere."
    ]


@pytest.mark.django_db
def test_a_wrong_header_an_empty_file_and_other_encodings_are_refused_with_a_sentence() -> None:
    assert problems("") == ["Line 1: The file is empty; the first line names the columns."]
    header = problems("code,name,kind,headcont\nX,Y,charity,3\n")[0]
    assert "lacks the column(s) region" in header and "'headcont'" in header
    assert "names name twice" in problems("code,name,name,kind,region\n")[0]
    latin1 = (HEADER + "X1,Caf\xe9 Care,charity,london,,,\n").encode("latin-1")
    assert problems(latin1) == ["Line 1: The file is not UTF-8 text; save it as 'CSV UTF-8'."]
    with_bom = ("\ufeff" + HEADER + "X1,Caf\xe9 Care,charity,london,,,\n").encode("utf-8")
    assert organisations_import(csv_file=with_bom).created == 1


@pytest.mark.django_db
def test_a_domain_moves_between_two_organisations_the_file_rewrites() -> None:
    imported(HEADER + "A,Alpha,charity,london,,shared-team.org.uk,\nB,Beta,charity,london,,,\n")
    result = imported(HEADER + "A,Alpha,charity,london,,,\nB,Beta,charity,london,,shared-team.org.uk,\n")
    assert result.ok and result.updated == 2
    assert OrganisationDomain.objects.get().organisation.code == "B"


@pytest.mark.django_db
def test_a_campaigns_shared_staff_domain_cannot_belong_to_one_organisation(campaign) -> None:  # noqa: ANN001
    campaign.staff_domains = "nhs.net\nhscni.example"
    campaign.save()
    found = problems(HEADER + "A,Alpha,nhs-trust,northern-ireland,,hscni.example,\n")
    assert found[0].startswith("Line 2: 'hscni.example' is shared by many organisations' staff")


@pytest.mark.django_db
def test_markup_in_a_name_is_kept_as_text() -> None:
    result = imported(HEADER + 'X1,"<script>alert(1)</script> Care",care-provider,london,,,\n')
    assert result.ok
    organisation = Organisation.objects.get(code="X1")
    assert organisation.name == "<script>alert(1)</script> Care"
    assert organisation.slug == "scriptalert1script-care"


@pytest.mark.django_db
def test_the_sample_directory_imports_cleanly_across_every_kind_and_region() -> None:
    result = organisations_import(csv_file=SAMPLE.read_bytes())
    assert result.problems == []
    assert result.created >= 300
    assert set(Organisation.objects.values_list("kind", flat=True)) == set(OrganisationKind.values)
    from campaigns.models import Region

    assert set(Organisation.objects.values_list("region", flat=True)) == set(Region.values)
    assert OrganisationDomain.objects.count() > 150
    assert Organisation.objects.filter(headcount__isnull=False).count() > 150
    again = organisations_import(csv_file=SAMPLE.read_bytes())
    assert (again.created, again.updated, again.unchanged) == (0, 0, result.created)


@pytest.mark.django_db
def test_the_command_imports_a_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "X1,Alpha Care,care-provider,london,,,\n")
    out = StringIO()
    call_command("import_organisations", str(good), stdout=out)
    assert "1 created, 0 updated, 0 unchanged" in out.getvalue()
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "X2,Beta Care,care-provider,london,,,\nX3,Gamma,care-provider,moon,,,\n")
    err = StringIO()
    with pytest.raises(CommandError, match="1 bad row"):
        call_command("import_organisations", str(bad), stderr=err)
    assert "Line 3: Region 'moon'" in err.getvalue()
    assert not Organisation.objects.filter(code="X2").exists()
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_organisations", str(tmp_path / "missing.csv"))


@pytest.mark.django_db
def test_an_import_makes_as_many_queries_for_a_hundred_rows_as_for_ten() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(prefix: str, rows: int) -> int:
        text = HEADER + "".join(
            f"{prefix}{n},{prefix} Care {n},care-provider,london,E1 6AN,{prefix.lower()}{n}.org.uk,{n + 1}\n"
            for n in range(rows)
        )
        with CaptureQueriesContext(connection) as captured:
            assert organisations_import(csv_file=text).created == rows
        return len(captured)

    # (Past a hundred, SQLite's limit on parameters splits the inserts into more batches.)
    assert queries("A", 10) == queries("B", 100)
