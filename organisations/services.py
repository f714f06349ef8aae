"""Every write to the directory and to organisations' counters."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TypeVar

from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils.text import slugify

from campaigns.models import Region
from changeday.lib.csvimport import CsvNotText, ImportProblem, csv_rows, csv_text
from changeday.lib.emailaddr import canonical_domain
from organisations.models import (
    ORGANISATION_TOTAL_SHARDS,
    TOTAL_FIELDS,
    Organisation,
    OrganisationDomain,
    OrganisationKind,
    OrganisationSuggestion,
    OrganisationTotal,
    suggestion_name_key,
)
from organisations.selectors import SHARED_DOMAINS, shared_domains

T = TypeVar("T")


def organisation_totals_apply(*, campaign_id: int, deltas: Mapping[int, Mapping[str, int]]) -> None:
    """Add {organisation id: {field: delta}} to the counters, in the caller's transaction
    (a pledge's move): one random shard per organisation, locked in id order as the
    campaign's counters are, so two moves never wait on each other in opposite orders."""
    for organisation_id in sorted(deltas):
        changes = {field: delta for field, delta in deltas[organisation_id].items() if delta}
        if not changes:
            continue
        shard = random.randrange(ORGANISATION_TOTAL_SHARDS)
        row = OrganisationTotal.objects.filter(
            campaign_id=campaign_id, organisation_id=organisation_id, shard=shard
        )
        values = {field: F(field) + delta for field, delta in changes.items()}
        if not row.update(**values):
            # The organisation's first pledge on this shard; a racing first one makes the
            # same row, and both then add to it.
            OrganisationTotal.objects.bulk_create(
                [OrganisationTotal(campaign_id=campaign_id, organisation_id=organisation_id, shard=shard)],
                ignore_conflicts=True,
            )
            row.update(**values)


def organisation_totals_replace(*, campaign_id: int, exact: Mapping[int, Mapping[str, int]]) -> int:
    """Rewrite a campaign's organisation counters from counts made from the pledges (the
    recount); returns how many organisations' counters were wrong. The caller holds the
    campaign's counter rows locked, so no move commits between its count and this."""
    with transaction.atomic():
        rows = (
            OrganisationTotal.objects.select_for_update()
            .filter(campaign_id=campaign_id)
            .order_by("organisation_id", "shard")
        )
        current: dict[int, dict[str, int]] = {}
        for row in rows:
            sums = current.setdefault(row.organisation_id, dict.fromkeys(TOTAL_FIELDS, 0))
            for field in TOTAL_FIELDS:
                sums[field] += getattr(row, field)
        wrong = 0
        for organisation_id in sorted(set(current) | set(exact)):
            want = {field: exact.get(organisation_id, {}).get(field, 0) for field in TOTAL_FIELDS}
            if current.get(organisation_id, dict.fromkeys(TOTAL_FIELDS, 0)) == want:
                continue
            wrong += 1
            OrganisationTotal.objects.filter(
                campaign_id=campaign_id, organisation_id=organisation_id
            ).delete()
            if any(want.values()):
                OrganisationTotal.objects.create(
                    campaign_id=campaign_id, organisation_id=organisation_id, shard=0, **want
                )
    return wrong


# --- The directory, imported from a CSV file -------------------------------------------------

IMPORT_MAX_ROWS = 50_000
HEADCOUNT_MAX = 2_000_000
IMPORT_COLUMNS = ("code", "name", "kind", "region", "postcode", "domains", "headcount")
IMPORT_REQUIRED_COLUMNS = ("code", "name", "kind", "region")

# A UK postcode's shape (not whether it exists): outward code, then sector digit and unit.
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9./-]{0,31}$")
_HEADCOUNT = re.compile(r"^(\d+|\d{1,3}(,\d{3})+)$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class ImportResult:
    """What an import did: nothing at all when `problems` is not empty."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[ImportProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Row:
    line: int
    code: str
    values: dict[str, object]
    domains: list[str] | None  # None: the file has no domains column, keep them


class _BadRow(ValueError):
    pass


def _choice(raw: str, choices: type[models.TextChoices], what: str) -> str:
    wanted = " ".join(raw.split()).casefold()
    for value, label in choices.choices:
        if wanted in (value.casefold(), str(label).casefold()):
            return value
    known = ", ".join(str(label) for _, label in choices.choices)
    raise _BadRow(f"{what} '{raw}' is not one we know; use one of: {known}.")


def code_normalise(raw: str) -> str:
    """' rx1 ' → 'RX1'. Raises ValueError with a sentence for an empty or strange code."""
    code = "".join(raw.split()).upper()
    if not code:
        raise ValueError("The code is empty; every organisation needs its own code.")
    if not _CODE.match(code):
        raise ValueError(
            f"Code '{raw.strip()}' may hold only letters, digits, '.', '/' and '-', at most 32 of them."
        )
    return code


def postcode_normalise(raw: str) -> str:
    """'ls1 4ap' → 'LS1 4AP'; '' stays ''. Raises ValueError on anything not shaped like one."""
    compact = "".join(raw.split()).upper()
    if not compact:
        return ""
    match = _POSTCODE.match(compact)
    if match is None:
        raise ValueError(f"Postcode '{raw}' is not shaped like a UK postcode (for example LS1 4AP).")
    return f"{match.group(1)} {match.group(2)}"


def domain_normalise(raw: str, *, shared: frozenset[str] | set[str] = SHARED_DOMAINS) -> str:
    """A staff email domain as OrganisationDomain stores it (canonical_domain's form);
    raises ValueError with a sentence for anything that is not one organisation's domain."""
    domain = canonical_domain(raw.strip().removeprefix("@"))
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise ValueError(f"'{raw}' is not an email domain (for example riversidehomes.org.uk).")
    if domain in shared:
        raise ValueError(
            f"'{domain}' is shared by many organisations' staff, so it cannot verify anyone "
            "as staff of one (a campaign lists shared domains such as nhs.net instead)."
        )
    return domain


def _headcount(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not _HEADCOUNT.match(raw):
        raise _BadRow(f"Headcount '{raw}' is not a whole number of staff; leave it blank when not known.")
    value = int(raw.replace(",", ""))
    if not 1 <= value <= HEADCOUNT_MAX:
        raise _BadRow(
            f"Headcount {value} is not between 1 and {HEADCOUNT_MAX:,}; leave it blank when not known."
        )
    return value


def _parse_row(line: int, cells: dict[str, str], shared: frozenset[str]) -> _Row:
    try:
        code = code_normalise(cells["code"])
    except ValueError as error:
        raise _BadRow(str(error)) from error
    name = " ".join(cells["name"].split())
    if not name:
        raise _BadRow("The name is empty.")
    if len(name) > Organisation._meta.get_field("name").max_length:
        raise _BadRow("The name is longer than 200 characters.")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        raise _BadRow("The name holds invisible control characters.")
    values: dict[str, object] = {
        "name": name,
        "kind": _choice(cells["kind"], OrganisationKind, "Kind"),
        "region": _choice(cells["region"], Region, "Region"),
    }
    try:
        if "postcode" in cells:
            values["postcode"] = postcode_normalise(cells["postcode"])
        domains = None
        if "domains" in cells:
            domains = []
            for raw in re.split(r"[\s;,]+", cells["domains"]):
                if raw and (domain := domain_normalise(raw, shared=shared)) not in domains:
                    domains.append(domain)
    except ValueError as error:
        raise _BadRow(str(error)) from error
    if "headcount" in cells:
        values["headcount"] = _headcount(cells["headcount"])
    return _Row(line=line, code=code, values=values, domains=domains)


def _read_rows(text: str, problems: list[ImportProblem]) -> list[_Row]:
    read = csv_rows(
        text,
        columns=IMPORT_COLUMNS,
        required=IMPORT_REQUIRED_COLUMNS,
        max_rows=IMPORT_MAX_ROWS,
        problems=problems,
    )
    shared = shared_domains()
    rows: list[_Row] = []
    first_line: dict[str, int] = {}
    for raw in read:
        try:
            row = _parse_row(raw.line, raw.cells, shared)
            if row.code in first_line:
                raise _BadRow(f"Code {row.code} is already on line {first_line[row.code]}.")
            first_line[row.code] = raw.line
            rows.append(row)
        except _BadRow as error:
            problems.append(ImportProblem(raw.line, str(error)))
    return rows


def organisations_import(*, csv_file: str | bytes | IO[str] | IO[bytes]) -> ImportResult:
    """Create and update directory entries from a CSV file; all or nothing.

    The first line names the columns, in any order, case-insensitive:

    - code (required): the organisation's own code (ODS code for NHS bodies, a council's GSS
      code, a CQC location or charity number); rows are matched on it, so a row whose code
      is in the directory updates that organisation. Letters, digits, '.', '/', '-'; up to
      32; upper-cased.
    - name (required): up to 200 characters, spaces collapsed. A new organisation's slug
      (its page address) is made from it, with -2, -3... when taken; an update keeps the
      slug, so shared links keep working.
    - kind (required): nhs-trust, icb, gp-practice, council, care-provider,
      housing-association, charity, other, or their labels ("NHS trust", "Integrated care
      board", "GP practice"...), any case.
    - region (required): one of the seven NHS England regions, Scotland, Wales, Northern
      Ireland or Elsewhere, by value (north-east-and-yorkshire) or label (North East and
      Yorkshire), any case.
    - postcode: blank, or shaped like a UK postcode; stored as "LS1 4AP".
    - domains: the email domains its staff use, separated by spaces, semicolons or commas
      (riversidehomes.org.uk; riverside.example). The row's list replaces the organisation's
      domains; blank removes them. A domain another organisation keeps, a domain many people
      share (nhs.net, gmail.com, nhs.uk, a campaign's shared staff domains) or one named by
      two rows is a bad row.
    - headcount: blank (not known) or a whole number of staff from 1 to 2,000,000 (1,200 is fine).

    A missing optional column leaves that field as it is on updated organisations. Blank
    lines are skipped. Every bad row is reported by its line number (where the row starts)
    with a sentence, and then nothing is written.
    """
    try:
        text = csv_text(csv_file)
    except CsvNotText as error:
        return ImportResult(problems=[ImportProblem(1, str(error))])
    problems: list[ImportProblem] = []
    rows = _read_rows(text, problems)
    if rows and not (problems and problems[0].line == 1):
        problems.extend(_domain_problems(rows))
    if problems:
        return ImportResult(problems=sorted(problems, key=lambda problem: problem.line))
    try:
        with transaction.atomic():
            return _import_rows(rows)
    except IntegrityError:
        # Another import or an organiser's edit took a code, slug or domain between our
        # reading the directory and writing it.
        return ImportResult(
            problems=[
                ImportProblem(1, "The directory changed while importing; nothing was imported. Try again.")
            ]
        )


# Values per IN (...) list: SQLite allows a limited number of parameters in one statement.
IN_BATCH = 2000


def _batches(values: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), IN_BATCH):
        yield values[start : start + IN_BATCH]


def _domain_problems(rows: list[_Row]) -> list[ImportProblem]:
    """A domain named by two rows, or kept by an organisation the file does not rewrite."""
    problems: list[ImportProblem] = []
    rewritten = {row.code for row in rows if row.domains is not None}
    listed_on: dict[str, _Row] = {}
    for row in rows:
        for domain in row.domains or []:
            if domain in listed_on:
                problems.append(
                    ImportProblem(row.line, f"Domain {domain} is also on line {listed_on[domain].line}.")
                )
            else:
                listed_on[domain] = row
    # Who keeps a domain afterwards: the row that lists it, unless its present owner
    # stays as it is (not in the file, or in it without a domains column).
    owners = {
        domain: code
        for batch in _batches(list(listed_on))
        for domain, code in OrganisationDomain.objects.filter(domain__in=batch).values_list(
            "domain", "organisation__code"
        )
    }
    for domain, row in listed_on.items():
        owner = owners.get(domain, row.code)
        if owner != row.code and owner not in rewritten:
            problems.append(
                ImportProblem(row.line, f"Domain {domain} belongs to another organisation ({owner}).")
            )
    return problems


def _import_rows(rows: list[_Row]) -> ImportResult:
    existing = {
        organisation.code: organisation
        for batch in _batches([row.code for row in rows])
        for organisation in Organisation.objects.select_for_update().filter(code__in=batch)
    }
    created = updated = unchanged = 0
    taken_slugs = (
        set(Organisation.objects.values_list("slug", flat=True)) if len(rows) > len(existing) else set()
    )
    new: list[Organisation] = []
    changed: list[Organisation] = []
    changed_fields: set[str] = set()
    for row in rows:
        organisation = existing.get(row.code)
        if organisation is None:
            new.append(Organisation(code=row.code, slug=_free_slug(row, taken_slugs), **row.values))
            continue
        differs = [name for name, value in row.values.items() if getattr(organisation, name) != value]
        for name in differs:
            setattr(organisation, name, row.values[name])
        changed_fields.update(differs)
        if differs:
            changed.append(organisation)
    Organisation.objects.bulk_create(new, batch_size=500)
    if changed:
        Organisation.objects.bulk_update(changed, [*sorted(changed_fields), "updated_at"], batch_size=500)
    by_code = {
        **existing,
        **{
            organisation.code: organisation
            for batch in _batches([organisation.code for organisation in new])
            for organisation in Organisation.objects.filter(code__in=batch)
        },
    }

    current: dict[int, set[str]] = {}
    for batch in _batches([organisation.pk for organisation in by_code.values()]):
        for organisation_id, domain in OrganisationDomain.objects.filter(
            organisation_id__in=batch
        ).values_list("organisation_id", "domain"):
            current.setdefault(organisation_id, set()).add(domain)
    # Everyone's releases first, so a domain moving between two rows never meets itself.
    domains_changed: set[int] = set()
    for row in rows:
        if row.domains is None:
            continue
        organisation_id = by_code[row.code].pk
        gone = current.get(organisation_id, set()) - set(row.domains)
        if gone:
            OrganisationDomain.objects.filter(organisation_id=organisation_id, domain__in=gone).delete()
            domains_changed.add(organisation_id)
    additions: list[OrganisationDomain] = []
    for row in rows:
        organisation_id = by_code[row.code].pk
        for domain in row.domains or []:
            if domain not in current.get(organisation_id, set()):
                additions.append(OrganisationDomain(organisation_id=organisation_id, domain=domain))
                domains_changed.add(organisation_id)
    OrganisationDomain.objects.bulk_create(additions, batch_size=500)

    changed_ids = {organisation.pk for organisation in changed}
    for row in rows:
        organisation = by_code[row.code]
        if row.code not in existing:
            created += 1
        elif organisation.pk in changed_ids or organisation.pk in domains_changed:
            updated += 1
        else:
            unchanged += 1
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def _free_slug(row: _Row, taken: set[str] | None = None) -> str:
    """A slug no organisation has and no earlier row of this file took (`taken` holds both;
    None: ask the directory)."""
    max_length = Organisation._meta.get_field("slug").max_length
    base = (
        slugify(str(row.values["name"]))[: max_length - 8].strip("-") or slugify(row.code) or "organisation"
    )
    if taken is None:
        taken = set(Organisation.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


class OrganisationInvalid(ValueError):
    """What an organiser typed cannot make a directory entry; the message says why."""


def organisation_create(
    *,
    code: str,
    name: str,
    kind: str,
    region: str,
    postcode: str = "",
    headcount: int | None = None,
    domains: Sequence[str] = (),
) -> Organisation:
    """One new directory entry, checked as an import row is (organisations_import); the
    caller's transaction, if any, holds it. Raises OrganisationInvalid with a sentence."""
    cells = {
        "code": code,
        "name": name,
        "kind": kind,
        "region": region,
        "postcode": postcode,
        "domains": " ".join(domains),
        "headcount": "" if headcount is None else str(headcount),
    }
    try:
        row = _parse_row(0, cells, shared_domains())
    except _BadRow as error:
        raise OrganisationInvalid(str(error)) from error
    taken = Organisation.objects.filter(code=row.code).first()
    if taken is not None:
        raise OrganisationInvalid(f"Code {row.code} is already {taken.name}'s.")
    if row.domains:
        owned = (
            OrganisationDomain.objects.filter(domain__in=row.domains).select_related("organisation").first()
        )
        if owned is not None:
            raise OrganisationInvalid(f"Domain {owned.domain} belongs to {owned.organisation.name}.")
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(code=row.code, slug=_free_slug(row), **row.values)
            OrganisationDomain.objects.bulk_create(
                [OrganisationDomain(organisation=organisation, domain=domain) for domain in row.domains or []]
            )
    except IntegrityError as error:
        raise OrganisationInvalid(
            "The directory changed meanwhile (a code, page address or domain); try again."
        ) from error
    return organisation


def organisation_suggestion_get_or_create(*, name: str) -> OrganisationSuggestion:
    """The suggestion for a name typed on the form that the directory does not hold, made
    the first time anyone types it; later pledges naming it join the same one (a racing
    first one finds the row the other made: name_key is unique)."""
    name = " ".join(name.split())
    suggestion, _ = OrganisationSuggestion.objects.get_or_create(
        name_key=suggestion_name_key(name)[:200], defaults={"name": name[:200]}
    )
    return suggestion
