"""A demo campaign with pledges and an organiser, for `make run` and trials."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, ModerationMode
from campaigns.services import campaign_create, organiser_group_ensure
from organisations.models import Organisation, OrganisationKind
from organisations.services import organisations_import
from pledges.models import Kind, Outcome, Region, Status
from pledges.organisation_moves import pledge_organisation_set
from pledges.outcomes import pledge_outcome_record
from pledges.services import campaign_recompute_totals, pledge_confirm, pledge_create
from reminders.models import Anchor, Audience, Reminder
from reminders.services import (
    follow_through_stop,
    reminder_schedule_default,
    reminder_signup_confirm,
    reminder_signup_create,
)

LONDON = ZoneInfo("Europe/London")
DEMO_SLUG = "change-day-demo"
DEMO_ORGANISER = "organiser@changeday.local"
DEMO_REMINDER_MINUTES = 3

DEMO_PLEDGES: list[tuple[str, str, str, str, list[str]]] = [
    ("learn the name of every patient I care for on each shift", "Aisha", "Staff nurse", "london", ["nhs"]),
    (
        "sit with a resident for ten minutes every day just to talk",
        "Tom",
        "Care worker",
        "north-west",
        ["social-care"],
    ),
    (
        "call the district nurse before every discharge of a tenant I support",
        "Priya",
        "Housing officer",
        "midlands",
        ["housing", "nhs"],
    ),
    (
        "tell my GP practice what worked well, not only what went wrong",
        "",
        "Carer",
        "south-west",
        ["patient-carer"],
    ),
    (
        "introduce myself with 'hello my name is' to every patient",
        "Dr Jones",
        "Junior doctor",
        "wales",
        ["nhs"],
    ),
    (
        "share our ward's falls data with the care homes we discharge to",
        "Ward 12 team",
        "Ward manager",
        "east-of-england",
        ["nhs", "social-care"],
    ),
    (
        "check that every person I visit has a working smoke alarm and heating",
        "Mo",
        "Housing support worker",
        "scotland",
        ["housing", "social-care"],
    ),
    (
        "ask the carers I meet how they are, and mean it",
        "",
        "Social worker",
        "south-east",
        ["social-care", "patient-carer"],
    ),
    (
        "spend a day shadowing a colleague in adult social care",
        "Chris",
        "Practice manager",
        "north-east-and-yorkshire",
        ["nhs", "social-care"],
    ),
    (
        "make sure every tenant leaving hospital has food in the fridge on day one",
        "Leeds Housing",
        "Team leader",
        "north-east-and-yorkshire",
        ["housing", "nhs", "social-care"],
    ),
    ("answer every patient letter in plain English", "Sarah", "Consultant", "northern-ireland", ["nhs"]),
    (
        "bring my mum's care plan to every appointment so no one starts from scratch",
        "Joe",
        "Carer",
        "london",
        ["patient-carer", "nhs"],
    ),
    # Screening flags these three, so the demo's moderation queue has work in it.
    (
        "get everyone to read our blog at www.example.com about carers",
        "Ben",
        "Blogger",
        "south-east",
        ["patient-carer"],
    ),
    ("SMILE AT EVERY SINGLE PATIENT WHO COMES THROUGH THE DOOR", "Ray", "Receptionist", "midlands", ["nhs"]),
    (
        "call me on 07700 900123 if your tenancy is at risk after a hospital stay",
        "Kay",
        "Housing officer",
        "wales",
        ["housing"],
    ),
]
# Demo pledges made on behalf of a team or organisation rather than a person.
ORGANISATIONS = {"Ward 12 team", "Leeds Housing"}
# The sample directory (organisations/data/organisations.csv, a few hundred invented
# organisations), and which kind of employer a demo pledger's role points at in it.
SAMPLE_DIRECTORY = Path(settings.BASE_DIR) / "organisations" / "data" / "organisations.csv"
EMPLOYER_KINDS = {
    "Staff nurse": OrganisationKind.NHS_TRUST,
    "Junior doctor": OrganisationKind.NHS_TRUST,
    "Ward manager": OrganisationKind.NHS_TRUST,
    "Consultant": OrganisationKind.NHS_TRUST,
    "Care worker": OrganisationKind.CARE_PROVIDER,
    "Housing officer": OrganisationKind.HOUSING_ASSOCIATION,
    "Housing support worker": OrganisationKind.HOUSING_ASSOCIATION,
    "Team leader": OrganisationKind.HOUSING_ASSOCIATION,
    "Social worker": OrganisationKind.COUNCIL,
    "Practice manager": OrganisationKind.GP_PRACTICE,
    "Receptionist": OrganisationKind.GP_PRACTICE,
}
# So the demo shows both verified badges: pledgers at NHS employers confirm from the campaign's
# shared staff domain ("verified: NHS staff"), and the others from their employer's own domain
# when the directory lists one ("verified: staff at <organisation>"). These addresses are made
# up on domains that take mail, so they never ask for reminders or follow-through.
SHARED_STAFF_DOMAIN = "nhs.net"
NHS_ROLES = {"Staff nurse", "Junior doctor", "Ward manager", "Consultant"}


# (outcome, story) for the first demo pledges.
DEMO_OUTCOMES: list[tuple[str, str]] = [
    (Outcome.DONE, "We now learn every new starter's name on their first shift, and they say it shows."),
    (Outcome.STARTED, ""),
    (Outcome.DONE, ""),
    (Outcome.NOT_YET, ""),
]


class Command(BaseCommand):
    help = "Create the demo campaign, some pledges and an organiser login (safe to run again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organiser-email", default=DEMO_ORGANISER)
        parser.add_argument(
            "--organiser-password",
            default="",
            help="Password for the organiser; a new random one is made and printed when left out.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._directory()
        campaign = Campaign.objects.filter(slug=DEMO_SLUG).first()
        if campaign is None:
            campaign = self._make_campaign()
            self.stdout.write(f"Made the demo campaign {campaign.name} at /campaigns/{campaign.slug}/")
        else:
            self.stdout.write(f"The demo campaign {campaign.name} is already there.")
            # A database made by an older version may lack counters: recount.
            campaign_recompute_totals(campaign=campaign)
        self._organiser(options["organiser_email"], options["organiser_password"])

    def _make_campaign(self) -> Campaign:
        now = timezone.now()
        # Change Day is on 3 March and pledging stays open to 31 March, as in 2014;
        # the next such dates from today keep the demo open whenever it is run.
        year = now.year + 1 if (now.month, now.day) > (3, 3) else now.year
        campaign = campaign_create(
            name=f"Change Day {year}",
            slug=DEMO_SLUG,
            hashtag=f"ChangeDay{year}",
            description=(
                "Everyone who works in or uses the NHS, social care and housing makes one "
                "promise, no matter how big or small, to make things better.\n"
                "This year we want social care and housing to be as visible as the NHS, and "
                "pledges that join them up."
            ),
            opens_at=now - timedelta(days=14),
            change_day=date(year, 3, 3),
            deadline=datetime.combine(date(year, 3, 31), time(23, 59), tzinfo=LONDON),
            target=500_000,
            moderation_mode=ModerationMode.POST,
            staff_domains=SHARED_STAFF_DOMAIN,
            organiser_name="The Change Day demo team",
            contact_email="team@changeday.invalid",
        )
        regions = set(Region.values)
        with transaction.atomic():
            for n, (text, name, role, region, sectors) in enumerate(DEMO_PLEDGES):
                assert region in regions
                employer = self._employer(role, region)
                email = self._email(n, role, employer)
                verifiable = not email.endswith(".invalid")
                result = pledge_create(
                    campaign=campaign,
                    text=text,
                    display_name=name,
                    is_anonymous=not name,
                    role=role,
                    organisation=employer.name if employer else "",
                    region=region,
                    kind=Kind.ORGANISATIONAL if name in ORGANISATIONS else Kind.PERSONAL,
                    sectors=sectors,
                    email=email,
                    consent_to_publish=True,
                    wants_reminders=n % 3 == 0 and not verifiable,
                    submission_token=uuid.uuid4(),
                    # Demo addresses cannot receive mail; the pledges are confirmed here.
                    send_confirmation=False,
                )
                if employer is not None:
                    pledge_organisation_set(pledge=result.pledge, organisation=employer)
                pledge = pledge_confirm(pledge=result.pledge)
                if verifiable:
                    follow_through_stop(campaign=campaign, email=email)
                # A few have already said how it went, so the wall's outcomes, "promises
                # kept" and the stats' funnel have something to show.
                if n < len(DEMO_OUTCOMES) and pledge.status == Status.PUBLISHED:
                    outcome, story = DEMO_OUTCOMES[n]
                    pledge_outcome_record(
                        pledge=pledge, outcome=outcome, story_text=story, story_public=bool(story)
                    )
        self._reminders(campaign, now)
        return campaign

    def _directory(self) -> None:
        """The sample directory, once: an organiser's later edits are left alone."""
        if Organisation.objects.exists():
            return
        result = organisations_import(csv_file=SAMPLE_DIRECTORY.read_bytes())
        if not result.ok:
            raise CommandError(f"The sample directory does not import: {result.problems[0]}")
        self.stdout.write(f"Loaded the sample directory: {result.created} organisations.")

    def _employer(self, role: str, region: str) -> Organisation | None:
        """A directory entry of the kind the role works for, in the pledge's region: one
        listing a staff domain when there is one, so its badge can show."""
        kind = EMPLOYER_KINDS.get(role)
        if kind is None:
            return None
        found = Organisation.objects.filter(kind=kind, region=region).order_by("code")
        return found.filter(domains__isnull=False).first() or found.first()

    def _email(self, n: int, role: str, employer: Organisation | None) -> str:
        """The address a demo pledge is confirmed from (see SHARED_STAFF_DOMAIN)."""
        if role in NHS_ROLES:
            return f"demo.{n}@{SHARED_STAFF_DOMAIN}"
        domain = employer.domains.values_list("domain", flat=True).first() if employer else None
        return f"demo.{n}@{domain}" if domain else f"demo+{n}@changeday.invalid"

    def _reminders(self, campaign: Campaign, now: datetime) -> None:
        reminder_schedule_default(campaign=campaign, now=now)
        # One reminder due a few minutes from now, so `make run` shows a run:
        # the beat task sends it into var/mail/ without anyone waiting weeks.
        soon = timezone.localtime(now + timedelta(minutes=DEMO_REMINDER_MINUTES))
        Reminder.objects.create(
            campaign=campaign,
            anchor=Anchor.DEADLINE,
            days_before=(timezone.localtime(campaign.deadline).date() - soon.date()).days,
            send_time=soon.time().replace(second=0, microsecond=0),
            audience=Audience.EVERYONE,
            message="This is the demo campaign's reminder, sent a few minutes after the demo was made.",
        )
        for n in range(3):
            # Demo addresses cannot receive mail; the sign-ups are confirmed here.
            signup = reminder_signup_create(
                campaign=campaign, email=f"remind-me+{n}@changeday.invalid", now=now, send_confirmation=False
            )
            reminder_signup_confirm(signup=signup, now=now)
        self.stdout.write(
            f"Reminders: the demo's first one goes out about {DEMO_REMINDER_MINUTES} minutes from now, "
            "into var/mail/ (python manage.py send_reminders --dry-run counts them)."
        )

    def _organiser(self, email: str, password: str) -> None:
        password = password or secrets.token_urlsafe(12)
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=email, defaults={"email": email, "is_staff": True}
        )
        user.is_staff = True
        user.set_password(password)
        user.save()
        user.groups.add(organiser_group_ensure())
        self.stdout.write(
            self.style.SUCCESS(
                f"Organiser login: {email} / {password}  "
                f"(sign in at {settings.SITE_URL}/accounts/login/ for moderation, or /admin/)"
            )
        )
