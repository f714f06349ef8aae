"""Bulk published pledges for benchmarks: `load_pledges --campaign SLUG --count N`.

`--organisations N` spreads the pledges that name an organisation over N directory entries
made for the benchmark (made if missing): new pledges get theirs as they are loaded, and
pledges already loaded without one get theirs by an UPDATE in batches, so a million loaded
before the directory existed need not be loaded again (`--count 0 --organisations 5000`).
The organisations' counters are then recounted, as the campaign's are.

One generator in Python draws every row, so --seed gives the same pledges on
either database. PostgreSQL takes them through COPY; SQLite, the local default,
through bulk_create. Rows bypass pledge_create on purpose: a million pledges
through the service would take hours, and benchmarks need the rows, not the
confirmation emails.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.text import slugify

from campaigns import services as campaign_services
from campaigns.models import Campaign, ModerationMode
from changeday.lib.emailaddr import canonical_email
from organisations.models import Organisation, OrganisationKind
from pledges import services as pledge_services
from pledges.models import (
    SECTOR_BITS,
    Kind,
    Pledge,
    Region,
    Sector,
    SectorSlug,
    Status,
    TaggedSector,
    new_public_id,
    sector_mask_for,
)
from pledges.services import pledge_dedupe_key

# Large enough that per-batch overhead vanishes, small enough that a failure
# loses one batch and memory stays flat. SQLite keeps model instances per
# batch, so it gets smaller ones.
DEFAULT_BATCH_SIZE = {"postgresql": 100_000}
DEFAULT_BATCH_SIZE_OTHER = 5_000

# --- The shape of a campaign ------------------------------------------------------
# The NHS dominates the 2013-14 pledges; the campaign wants social care and
# housing visible, so they get a fair share too.
SECTOR_WEIGHTS: dict[str, int] = {
    SectorSlug.NHS: 45,
    SectorSlug.SOCIAL_CARE: 25,
    SectorSlug.HOUSING: 15,
    SectorSlug.PATIENT_CARER: 15,
}
# "Integration" pledges name two or more sectors; the product wants them
# visible, so a third of the load has them, and some name three.
TWO_OR_MORE_SECTORS_SHARE = 0.35
THREE_SECTORS_SHARE = 0.10
ORGANISATIONAL_SHARE = 0.15
ANONYMOUS_SHARE = 0.12
NAMES_ORGANISATION_SHARE = 0.60
FIRST_NAME_ONLY_SHARE = 0.35
WANTS_REMINDERS_SHARE = 0.40
# Roughly where health and care staff live: the English regions carry most.
REGION_WEIGHTS: dict[str, int] = {
    Region.EAST_OF_ENGLAND: 11,
    Region.LONDON: 16,
    Region.MIDLANDS: 18,
    Region.NORTH_EAST_YORKSHIRE: 14,
    Region.NORTH_WEST: 13,
    Region.SOUTH_EAST: 15,
    Region.SOUTH_WEST: 10,
    Region.SCOTLAND: 5,
    Region.WALES: 4,
    Region.NORTHERN_IRELAND: 2,
    Region.ELSEWHERE: 2,
}
# Most people confirm within minutes of pledging, a few the next day.
CONFIRM_DELAY_MIN_SECONDS = 20.0
CONFIRM_DELAY_SPREAD_SECONDS = 6 * 3600.0
REVIEW_DELAY_MIN_SECONDS = 10 * 60.0
REVIEW_DELAY_SPREAD_SECONDS = 24 * 3600.0

# --- What people write ------------------------------------------------------------
# Actions are written without "I" or "my" so they read after a personal or an
# organisational opener alike.
OPENERS: dict[str, tuple[str, ...]] = {
    Kind.PERSONAL: (
        "I will",
        "I pledge to",
        "I promise to",
        "This year I will",
        "From Change Day on, I will",
        "Every week I will",
        "I am going to",
        "Starting today I will",
    ),
    Kind.ORGANISATIONAL: (
        "Our team will",
        "We will",
        "We pledge to",
        "As a team we will",
        "Everyone in our service will",
        "Our organisation promises to",
        "From Change Day on, we will",
        "Together we will",
    ),
}
ACTIONS: dict[str, tuple[str, ...]] = {
    SectorSlug.NHS: (
        "learn the name of every patient on the ward and use it",
        "introduce ourselves to every patient with 'hello, my name is'",
        "explain every new medicine in plain English before the first dose",
        "answer call bells within two minutes, day and night",
        "make sure no patient eats a meal alone if they want company",
        "check that every discharge letter reaches the GP the same day",
        "spend an hour a month working alongside the porters",
        "ask every patient what matters to them, not only what is the matter with them",
        "keep the ward quiet and the lights low after ten at night",
        "write every clinic letter to the patient, copied to the GP",
        "learn five words of British Sign Language",
        "share one thing that went well at every handover",
    ),
    SectorSlug.SOCIAL_CARE: (
        "sit and talk with a resident for ten minutes every day",
        "learn the life story of each person we support",
        "start every home visit with a cup of tea and a proper hello",
        "ask each person how they like their day to start, and write it down",
        "take residents outside for fresh air whenever the weather allows",
        "help every person we support to vote, if they want to",
        "check each morning that hearing aids and glasses are clean and working",
        "set up a monthly music afternoon for residents and their families",
        "write care plans with people, not about them",
        "call families with good news, not only when something goes wrong",
        "cover a shift in a different care home to learn how they work",
        "keep a photo board so everyone knows who is caring for them today",
    ),
    SectorSlug.HOUSING: (
        "check that every tenant leaving hospital has heating and food at home",
        "visit older tenants before winter to test their smoke alarms",
        "fit adaptations such as grab rails within a week of the request",
        "tell the district nurses when a tenant seems unwell",
        "make sure no one is discharged from hospital to a cold, damp flat",
        "learn the signs of self-neglect and who to call about them",
        "help every tenant with a long-term condition register with a GP",
        "knock on the doors of tenants nobody has heard from in a month",
        "answer every repair call about damp and mould within three days",
        "find a home for one more person sleeping rough this winter",
        "hand out a list of local support groups at every visit",
        "spend a day with the hospital discharge team to see how it works",
    ),
    SectorSlug.PATIENT_CARER: (
        "bring a written list of questions to every appointment",
        "tell staff when they get something right, not only when they get it wrong",
        "keep the care plan in one folder and take it to every appointment",
        "join the patient panel at the local hospital",
        "give an hour a week to the carers' cafe in town",
        "ask for help early, before caring becomes too much",
        "share our story with student nurses at the local university",
        "check on a neighbour who lives alone every Sunday",
        "learn first aid and keep the certificate up to date",
        "turn up to every appointment or cancel in good time",
        "tell the GP practice what works well in its new booking system",
        "walk for thirty minutes a day and tell the nurse how it goes",
    ),
}
# How an integration pledge names the other sector it reaches into.
JOINERS: tuple[str, ...] = (
    ", working with ",
    ", together with ",
    " alongside ",
    " and share what we learn with ",
)
PARTNERS: dict[str, tuple[str, ...]] = {
    SectorSlug.NHS: (
        "the GP practice",
        "the district nurses",
        "the hospital discharge team",
        "the community mental health team",
    ),
    SectorSlug.SOCIAL_CARE: (
        "the social workers",
        "the local care homes",
        "the home care team",
        "adult social care",
    ),
    SectorSlug.HOUSING: (
        "the housing officers",
        "the local housing association",
        "the council's housing team",
        "the tenancy support workers",
    ),
    SectorSlug.PATIENT_CARER: (
        "patients and their families",
        "unpaid carers",
        "the patient panel",
        "the carers' centre",
    ),
}
# Empty closings repeat so that most pledges end with the action itself.
CLOSINGS: tuple[str, ...] = (
    "",
    "",
    "",
    " on every shift",
    " before the end of March",
    " for the rest of the year",
    " and tell colleagues how it goes",
    " so nobody has to tell their story twice",
    " and report back on Change Day next year",
    " starting this week",
)
ROLES: dict[str, tuple[str, ...]] = {
    SectorSlug.NHS: (
        "Staff nurse",
        "Junior doctor",
        "Consultant",
        "Healthcare assistant",
        "Physiotherapist",
        "Paramedic",
        "Ward manager",
        "Receptionist",
    ),
    SectorSlug.SOCIAL_CARE: (
        "Care worker",
        "Social worker",
        "Home care assistant",
        "Registered manager",
        "Occupational therapist",
        "Support worker",
        "Activities coordinator",
        "Care home nurse",
    ),
    SectorSlug.HOUSING: (
        "Housing officer",
        "Tenancy support worker",
        "Housing manager",
        "Repairs coordinator",
        "Outreach worker",
        "Neighbourhood officer",
        "Caretaker",
        "Hostel manager",
    ),
    SectorSlug.PATIENT_CARER: (
        "Carer",
        "Patient",
        "Parent carer",
        "Young carer",
        "Volunteer",
        "Patient representative",
        "Expert by experience",
        "Governor",
    ),
}
# Made-up names, so benchmark screenshots never seem to speak for a real body.
ORGANISATIONS: dict[str, tuple[str, ...]] = {
    SectorSlug.NHS: (
        "Northfield General Hospital",
        "Riverside Community Health",
        "Elm Street Surgery",
        "Westmoor Ambulance Service",
        "St Anne's Hospital",
        "Kingsbridge Mental Health Trust",
        "Hillview Medical Practice",
        "Lakeside Children's Hospital",
    ),
    SectorSlug.SOCIAL_CARE: (
        "Oakwood Care Home",
        "Meadowbank Home Care",
        "Ashgrove Adult Social Care",
        "Willow House Nursing Home",
        "Brookside Day Centre",
        "Harbour Lights Care",
        "Larchfield Supported Living",
        "Beech Court Residential Home",
    ),
    SectorSlug.HOUSING: (
        "Northfield Housing Association",
        "Riverside Homes",
        "Greenway Housing Trust",
        "Castlegate Council Housing",
        "Hope Street Hostel",
        "Millbrook Tenancy Support",
        "Parkside Sheltered Housing",
        "Harbourside Homes",
    ),
    SectorSlug.PATIENT_CARER: (
        "Northfield Carers' Centre",
        "Riverside Patient Panel",
        "Parents Together",
        "Young Carers Network",
        "Hillview Patient Participation Group",
        "Friends of St Anne's",
        "Westmoor Carers' Cafe",
        "Lakeside Parents' Forum",
    ),
}
FIRST_NAMES: tuple[str, ...] = (
    "Aisha", "Tom", "Priya", "Joe", "Sarah", "Mo", "Chris", "Grace", "Olu", "Siobhan",
    "Rhys", "Fatima", "Callum", "Mei", "Dev", "Hannah", "Kwame", "Agnieszka", "Liam", "Nadia",
    "Eilidh", "Ravi", "Bethan", "Yusuf",
)  # fmt: skip
SURNAMES: tuple[str, ...] = (
    "Patel", "Jones", "Smith", "Khan", "Williams", "O'Neill", "Campbell", "Evans", "Okafor", "Chen",
    "Hughes", "Begum", "Murray", "Kowalski", "Taylor", "Ahmed", "Davies", "Singh", "Brown", "Mensah",
    "Walker", "Roberts", "Ali", "Wilson",
)  # fmt: skip


# --- The organisations ----------------------------------------------------------------
# Benchmark organisations' codes start with this, so a run finds the ones it made before.
ORGANISATION_CODE_PREFIX = "BENCH"
# A few organisations gather many pledges (a big trust pledging together), most a few dozen:
# organisation i of N is drawn with probability (i+1)^(1/k) - i^(1/k) over N^(1/k), k this.
# At 5,000 organisations and a million pledges the first gets tens of thousands.
ORGANISATION_SKEW = 3
ORGANISATION_KIND_WEIGHTS: dict[str, int] = {
    OrganisationKind.NHS_TRUST: 10,
    OrganisationKind.ICB: 1,
    OrganisationKind.GP_PRACTICE: 30,
    OrganisationKind.COUNCIL: 8,
    OrganisationKind.CARE_PROVIDER: 30,
    OrganisationKind.HOUSING_ASSOCIATION: 10,
    OrganisationKind.CHARITY: 8,
    OrganisationKind.OTHER: 3,
}
ORGANISATION_WORDS: dict[str, tuple[str, ...]] = {
    OrganisationKind.NHS_TRUST: (
        "Hospitals NHS Trust",
        "Community Health NHS Trust",
        "Mental Health NHS Trust",
    ),
    OrganisationKind.ICB: ("Integrated Care Board",),
    OrganisationKind.GP_PRACTICE: ("Medical Practice", "Surgery", "Health Centre", "Family Practice"),
    OrganisationKind.COUNCIL: ("Borough Council", "County Council", "City Council"),
    OrganisationKind.CARE_PROVIDER: ("Care Home", "Home Care", "Nursing Home", "Supported Living"),
    OrganisationKind.HOUSING_ASSOCIATION: ("Housing Association", "Homes", "Housing Trust"),
    OrganisationKind.CHARITY: ("Carers' Centre", "Mind", "Age Concern", "Food Bank"),
    OrganisationKind.OTHER: ("Hospice", "Pharmacy", "Ambulance Service"),
}
PLACES: tuple[str, ...] = (
    "Northfield", "Riverside", "Elmstead", "Westmoor", "Kingsbridge", "Hillview", "Lakeside", "Oakwood",
    "Meadowbank", "Ashgrove", "Willowby", "Brookside", "Harbourne", "Larchfield", "Beechcombe", "Greenway",
    "Castlegate", "Millbrook", "Parkside", "Stonebridge", "Fairhaven", "Redcliffe", "Thornbury", "Eastleigh",
)  # fmt: skip
# Headcount is known for most; a GP practice has tens of staff, a trust thousands.
HEADCOUNT_KNOWN_SHARE = 0.75
HEADCOUNT_RANGE: dict[str, tuple[int, int]] = {
    OrganisationKind.NHS_TRUST: (2_000, 20_000),
    OrganisationKind.ICB: (200, 1_000),
    OrganisationKind.GP_PRACTICE: (8, 80),
    OrganisationKind.COUNCIL: (1_000, 10_000),
    OrganisationKind.CARE_PROVIDER: (10, 300),
    OrganisationKind.HOUSING_ASSOCIATION: (50, 3_000),
    OrganisationKind.CHARITY: (5, 200),
    OrganisationKind.OTHER: (10, 500),
}
# Pledges given an organisation per UPDATE when assigning them to pledges already loaded.
ASSIGN_BATCH_SIZE = 100_000


def _organisation_code(n: int) -> str:
    return f"{ORGANISATION_CODE_PREFIX}{n:05d}"


def organisations_ensure(count: int, *, seed: int | None) -> list[int]:
    """The ids of benchmark organisations 0..count-1, made if missing, in their order."""
    rng = random.Random(seed)
    kinds, kind_weights = list(ORGANISATION_KIND_WEIGHTS), list(ORGANISATION_KIND_WEIGHTS.values())
    regions, region_weights = list(REGION_WEIGHTS), list(REGION_WEIGHTS.values())
    made = []
    for n in range(count):
        kind = rng.choices(kinds, kind_weights)[0]
        name = f"{PLACES[n % len(PLACES)]} {rng.choice(ORGANISATION_WORDS[kind])}"
        low, high = HEADCOUNT_RANGE[kind]
        # Log-uniform: small ones are as common as large ones within each kind's range.
        headcount = (
            round(low * (high / low) ** rng.random()) if rng.random() < HEADCOUNT_KNOWN_SHARE else None
        )
        made.append(
            Organisation(
                code=_organisation_code(n),
                name=name,
                slug=f"{slugify(name)}-{n}",
                kind=kind,
                region=rng.choices(regions, region_weights)[0],
                headcount=headcount,
            )
        )
    Organisation.objects.bulk_create(made, batch_size=1000, ignore_conflicts=True)
    ids = dict(
        Organisation.objects.filter(code__startswith=ORGANISATION_CODE_PREFIX).values_list("code", "pk")
    )
    return [ids[_organisation_code(n)] for n in range(count)]


class _Row(NamedTuple):
    """One pledge, field by field (attnames), in the order COPY sends them."""

    id: int
    campaign_id: int
    org_id: int | None
    public_id: str
    text: str
    display_name: str
    is_anonymous: bool
    role: str
    organisation: str
    region: str
    kind: str
    sector_mask: int
    email: str
    email_canonical: str
    consent_to_publish: bool
    wants_reminders: bool
    status: str
    rejection_reason: str
    submission_token: uuid.UUID
    dedupe_key: str
    created_at: datetime
    confirmed_at: datetime
    published_at: datetime
    status_changed_at: datetime


@dataclass(frozen=True)
class _Window:
    """When the loaded pledges were published: from opening until now or the deadline."""

    start: datetime
    seconds: float
    # Under post-moderation confirming publishes; under pre-moderation the
    # pledge then waits for an organiser.
    pre_moderated: bool

    @classmethod
    def for_campaign(cls, campaign: Campaign, now: datetime) -> _Window:
        end = min(now, campaign.deadline)
        start = min(campaign.opens_at, end)
        return cls(
            start=start,
            seconds=(end - start).total_seconds(),
            pre_moderated=campaign.moderation_mode == ModerationMode.PRE,
        )


class _PledgeMaker:
    """Draws pledges that look like a real campaign's."""

    def __init__(
        self, *, campaign: Campaign, window: _Window, seed: int | None, organisation_ids: list[int]
    ) -> None:
        self.campaign_id = campaign.pk
        self.window = window
        self.organisation_ids = organisation_ids
        # Its own generator, so the same seed writes the same pledges with or without organisations.
        self.organisation_rng = random.Random(None if seed is None else seed + 1)
        # The seed drives only what people wrote and when. Public ids and tokens
        # come from secrets and uuid4, so a second run with the same seed adds
        # rows instead of colliding with the first.
        self.rng = random.Random(seed)
        self.sectors = list(SECTOR_WEIGHTS)
        self.sector_weights = list(SECTOR_WEIGHTS.values())
        self.regions = list(REGION_WEIGHTS)
        self.region_weights = list(REGION_WEIGHTS.values())

    def row(self, pledge_id: int) -> tuple[_Row, list[str]]:
        """One pledge's row and the sector slugs to tag it with (its mask derives from them)."""
        rng = self.rng
        primary = rng.choices(self.sectors, self.sector_weights)[0]
        others = [slug for slug in self.sectors if slug != primary]
        sectors = {primary}
        link = ""
        spread = rng.random()
        if spread < TWO_OR_MORE_SECTORS_SHARE:
            partner = rng.choice(others)
            sectors.add(partner)
            link = rng.choice(JOINERS) + rng.choice(PARTNERS[partner])
        if spread < THREE_SECTORS_SHARE:
            sectors.add(rng.choice(others))

        kind = Kind.ORGANISATIONAL if rng.random() < ORGANISATIONAL_SHARE else Kind.PERSONAL
        text = f"{rng.choice(OPENERS[kind])} {rng.choice(ACTIONS[primary])}{link}{rng.choice(CLOSINGS)}."
        organisation = rng.choice(ORGANISATIONS[primary])
        is_anonymous = False
        if kind == Kind.ORGANISATIONAL:
            display_name = organisation
        elif rng.random() < ANONYMOUS_SHARE:
            display_name, is_anonymous = "", True
        elif rng.random() < FIRST_NAME_ONLY_SHARE:
            display_name = rng.choice(FIRST_NAMES)
        else:
            display_name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
        if kind == Kind.PERSONAL and rng.random() >= NAMES_ORGANISATION_SHARE:
            organisation = ""

        created, confirmed, published = self._moments()
        # The pledge's own id keeps addresses unique across runs and campaigns,
        # and so the dedupe key too.
        email = f"loadtest+{pledge_id}@example.invalid"
        slugs = sorted(sectors)
        org_id = None
        if organisation and self.organisation_ids:
            pick = len(self.organisation_ids) * self.organisation_rng.random() ** ORGANISATION_SKEW
            org_id = self.organisation_ids[int(pick)]
        row = _Row(
            id=pledge_id,
            campaign_id=self.campaign_id,
            org_id=org_id,
            public_id=new_public_id(),
            text=text,
            display_name=display_name,
            is_anonymous=is_anonymous,
            role=rng.choice(ROLES[primary]),
            organisation=organisation,
            region=rng.choices(self.regions, self.region_weights)[0],
            kind=kind,
            sector_mask=sector_mask_for(slugs),
            email=email,
            email_canonical=canonical_email(email),
            consent_to_publish=True,
            wants_reminders=rng.random() < WANTS_REMINDERS_SHARE,
            status=Status.PUBLISHED,
            rejection_reason="",
            submission_token=uuid.uuid4(),
            dedupe_key=pledge_dedupe_key(email=email, text=text),
            created_at=created,
            confirmed_at=confirmed,
            published_at=published,
            status_changed_at=published,
        )
        return row, slugs

    def _moments(self) -> tuple[datetime, datetime, datetime]:
        rng, window = self.rng, self.window
        # The square root makes pledges come faster as Change Day nears, as they
        # did in 2014, so the newest page of the wall is the busiest.
        published = window.start + timedelta(seconds=window.seconds * rng.random() ** 0.5)
        review = 0.0
        if window.pre_moderated:
            review = REVIEW_DELAY_MIN_SECONDS + REVIEW_DELAY_SPREAD_SECONDS * rng.random() ** 2
        # Nothing can predate the opening, whatever the delays say.
        confirmed = max(window.start, published - timedelta(seconds=review))
        delay = CONFIRM_DELAY_MIN_SECONDS + CONFIRM_DELAY_SPREAD_SECONDS * rng.random() ** 4
        created = max(window.start, confirmed - timedelta(seconds=delay))
        return created, confirmed, published


class Command(BaseCommand):
    help = "Bulk-load published pledges into a campaign, for benchmarks (safe to run again: adds more)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="Slug of the campaign to load into.")
        parser.add_argument("--count", required=True, type=int, help="How many pledges to add.")
        parser.add_argument(
            "--organisations",
            type=int,
            default=0,
            help=(
                "Spread the pledges that name an organisation over this many benchmark organisations "
                "(made if missing), the campaign's pledges already loaded included; with --count 0, "
                "only that."
            ),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Pledges per transaction (default 100,000 on PostgreSQL, 5,000 elsewhere).",
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="Repeat the same texts, names and times as an earlier run."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["count"]
        organisations: int = options["organisations"]
        if organisations < 0:
            raise CommandError(f"--organisations must be a number of organisations, not {organisations}.")
        if count < 1 and not (count == 0 and organisations):
            raise CommandError(
                f"--count must be a positive number of pledges, not {count} "
                "(or 0 with --organisations, to give pledges already loaded their organisations)."
            )
        batch_size: int = options["batch_size"] or DEFAULT_BATCH_SIZE.get(
            connection.vendor, DEFAULT_BATCH_SIZE_OTHER
        )
        if batch_size < 1:
            raise CommandError(f"--batch-size must be positive, not {batch_size}.")
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            known = ", ".join(Campaign.objects.order_by("slug").values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No campaign with the slug {options['campaign']!r} (campaigns: {known}).")

        window = _Window.for_campaign(campaign, timezone.now())
        if window.seconds <= 0:
            self.stdout.write(
                "The campaign has not opened yet: every pledge is stamped with the current time."
            )
        # A migration makes the four sector rows; a database flushed since (as test suites
        # do between transactional tests) gets them again, as the pledge form's path does.
        for slug, bit in SECTOR_BITS.items():
            Sector.objects.get_or_create(slug=slug, defaults={"name": SectorSlug(slug).label, "bit": bit})
        organisation_ids = organisations_ensure(organisations, seed=options["seed"]) if organisations else []
        if organisations:
            self.stdout.write(f"{len(organisation_ids):,} benchmark organisations in the directory.")
        maker = _PledgeMaker(
            campaign=campaign, window=window, seed=options["seed"], organisation_ids=organisation_ids
        )
        tag_ids = dict(Sector.objects.values_list("slug", "pk"))
        load_batch = (
            self._load_batch_postgresql if connection.vendor == "postgresql" else self._load_batch_orm
        )

        if organisation_ids:
            # Before the new rows, which get theirs as they are drawn.
            self._assign_organisations(campaign, organisation_ids, seed=options["seed"])
        if count == 0:
            self._analyse()
            self._recompute_totals(campaign)
            return
        self.stdout.write(
            f"Loading {count:,} published pledges into {campaign.name} "
            f"on {connection.vendor}, {batch_size:,} per transaction."
        )
        started = time.perf_counter()
        done = 0
        while done < count:
            size = min(batch_size, count - done)
            with transaction.atomic():
                load_batch(maker=maker, size=size, tag_ids=tag_ids)
            done += size
            elapsed = time.perf_counter() - started
            self.stdout.write(f"  {done:>12,} / {count:,}  {elapsed:8.1f} s")
        elapsed = time.perf_counter() - started

        self._analyse()
        self._recompute_totals(campaign)
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {count:,} pledges into {campaign.slug} in {elapsed:.1f} s "
                f"({count / max(elapsed, 1e-9):,.0f} pledges/s)."
            )
        )

    def _analyse(self) -> None:
        if connection.vendor == "postgresql":
            # Fresh statistics, or the first benchmark after a big load gets
            # planned for the table as it was before and measures the wrong plan.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Pledge._meta.db_table}, {TaggedSector._meta.db_table}")

    def _assign_organisations(
        self, campaign: Campaign, organisation_ids: list[int], *, seed: int | None
    ) -> None:
        """Give the campaign's loaded pledges that name an organisation and have none one of
        these, drawn as new rows' are, an UPDATE per ASSIGN_BATCH_SIZE ids (each its own
        transaction, so a stop loses one batch and a rerun carries on)."""
        pledges = Pledge.objects.filter(campaign=campaign, org__isnull=True).exclude(organisation="")
        bounds = pledges.aggregate(low=Min("pk"), high=Max("pk"))
        if bounds["low"] is None:
            return
        rng = random.Random(None if seed is None else seed + 2)
        started = time.perf_counter()
        assigned = 0
        table = Pledge._meta.db_table
        for low in range(bounds["low"], bounds["high"] + 1, ASSIGN_BATCH_SIZE):
            with transaction.atomic():
                ids = list(
                    pledges.filter(pk__gte=low, pk__lt=low + ASSIGN_BATCH_SIZE)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                if not ids:
                    continue
                picks = [
                    organisation_ids[int(len(organisation_ids) * rng.random() ** ORGANISATION_SKEW)]
                    for _ in ids
                ]
                with connection.cursor() as cursor:
                    if connection.vendor == "postgresql":
                        # One statement per batch: the ids and their organisations as two arrays.
                        cursor.execute(
                            f"UPDATE {table} AS p SET org_id = a.org_id "
                            "FROM unnest(%s::bigint[], %s::bigint[]) AS a(id, org_id) WHERE p.id = a.id",
                            [ids, picks],
                        )
                    else:
                        cursor.executemany(
                            f"UPDATE {table} SET org_id = %s WHERE id = %s",
                            list(zip(picks, ids, strict=True)),
                        )
            assigned += len(ids)
            self.stdout.write(
                f"  {assigned:>12,} pledges given an organisation  {time.perf_counter() - started:8.1f} s"
            )
        if connection.vendor == "postgresql" and assigned and not connection.in_atomic_block:
            # Every index of the table got a new entry per row: clear the old ones before
            # anything is measured on it (VACUUM cannot run inside a transaction: a test's).
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM {table}")

    def _recompute_totals(self, campaign: Campaign) -> None:
        # Counters get recomputed here once campaign_recompute_totals exists;
        # the rows above bypass the services that would move them one by one.
        for services in (pledge_services, campaign_services):
            recompute = getattr(services, "campaign_recompute_totals", None)
            if recompute is not None:
                recompute(campaign=campaign)
                self.stdout.write("Recomputed the campaign's totals.")
                return
        self.stdout.write("No campaign_recompute_totals service yet: totals left as they were.")

    def _load_batch_postgresql(self, *, maker: _PledgeMaker, size: int, tag_ids: dict[str, int]) -> None:
        pledges, tags = Pledge._meta.db_table, TaggedSector._meta.db_table
        defaults = _model_defaults()
        columns = ", ".join([*_Row._fields, *defaults])
        with connection.cursor() as cursor:
            # Ids come from the table's own sequence up front, so the tag rows can
            # point at their pledges without reading anything back.
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [pledges, size],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            links: list[tuple[int, int]] = []
            with cursor.copy(f"COPY {pledges} ({columns}) FROM STDIN") as copy:
                for row, slugs in _rows(maker, ids):
                    copy.write_row((*row, *defaults.values()))
                    links.extend((row.id, tag_ids[slug]) for slug in slugs)
            with cursor.copy(f"COPY {tags} (content_object_id, tag_id) FROM STDIN") as copy:
                for link in links:
                    copy.write_row(link)

    def _load_batch_orm(self, *, maker: _PledgeMaker, size: int, tag_ids: dict[str, int]) -> None:
        # Inside the batch's transaction SQLite holds the write lock (the
        # settings begin transactions IMMEDIATE), so no one else can take these
        # ids between reading the highest and inserting.
        first = (Pledge.objects.aggregate(top=Max("pk"))["top"] or 0) + 1
        drawn = list(_rows(maker, range(first, first + size)))
        rows = [row for row, _ in drawn]
        Pledge.objects.bulk_create([Pledge(**row._asdict()) for row in rows])
        # bulk_create stamps auto_now_add fields with the load time; put back the
        # times drawn for each pledge so created_at never follows published_at.
        # One prepared UPDATE run per row: bulk_update's CASE per field took
        # two thirds of the load time.
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {Pledge._meta.db_table} SET created_at = %s, status_changed_at = %s WHERE id = %s",
                [(adapt(row.created_at), adapt(row.status_changed_at), row.id) for row in rows],
            )
        TaggedSector.objects.bulk_create(
            TaggedSector(content_object_id=row.id, tag_id=tag_ids[slug])
            for row, slugs in drawn
            for slug in slugs
        )


def _rows(maker: _PledgeMaker, ids: Iterable[int]) -> Iterator[tuple[_Row, list[str]]]:
    return (maker.row(pk) for pk in ids)


def _model_defaults() -> dict[str, Any]:
    """Model defaults for Pledge fields added after this loader was written, so
    COPY keeps working as the model grows (bulk_create fills them by itself)."""
    return {
        field.column: field.get_default()
        for field in Pledge._meta.concrete_fields
        if field.attname not in _Row._fields
    }
