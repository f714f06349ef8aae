from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone


class Region(models.TextChoices):
    """Where a pledger works or lives, and where an organisation is: the NHS England
    regions and the three other nations."""

    EAST_OF_ENGLAND = "east-of-england", "East of England"
    LONDON = "london", "London"
    MIDLANDS = "midlands", "Midlands"
    NORTH_EAST_YORKSHIRE = "north-east-and-yorkshire", "North East and Yorkshire"
    NORTH_WEST = "north-west", "North West"
    SOUTH_EAST = "south-east", "South East"
    SOUTH_WEST = "south-west", "South West"
    SCOTLAND = "scotland", "Scotland"
    WALES = "wales", "Wales"
    NORTHERN_IRELAND = "northern-ireland", "Northern Ireland"
    ELSEWHERE = "elsewhere", "Elsewhere"


class ModerationMode(models.TextChoices):
    POST = "post", "Post-moderation: confirmed pledges go live unless screening flags them"
    PRE = "pre", "Pre-moderation: every pledge waits for an organiser"


class Phase(models.TextChoices):
    UPCOMING = "upcoming", "Not open yet"
    OPEN = "open", "Open for pledges"
    CLOSED = "closed", "Closed"


hashtag_validator = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_]{0,99}$",
    "A hashtag is letters, digits and underscores, starting with a letter, without the #.",
)


# How long after the pledge deadline outcomes stay open unless a campaign says otherwise.
OUTCOMES_OPEN_DAYS = 90

# How long after outcomes close pledgers' addresses are kept unless a campaign says otherwise:
# long enough for a last "your data" request or complaint about the follow-through.
RETENTION_DAYS = 180


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    hashtag = models.CharField(
        max_length=100, validators=[hashtag_validator], help_text="Without the #, e.g. ChangeDay"
    )
    description = models.TextField(help_text="What the campaign is about, shown on its page.")
    opens_at = models.DateTimeField(help_text="When the pledge form opens.")
    change_day = models.DateField(help_text="The day itself.")
    deadline = models.DateTimeField(help_text="When the pledge form closes.")
    # Follow-through goes on after the form closes: pledgers say how their promise went
    # until this moment (outcomes_close_at), and no follow-through email goes after it.
    outcomes_close = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            f"Until when pledgers can say how their promise went. "
            f"Empty for {OUTCOMES_OPEN_DAYS} days after the pledge deadline."
        ),
    )
    target = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    moderation_mode = models.CharField(
        max_length=4, choices=ModerationMode.choices, default=ModerationMode.POST
    )
    report_threshold = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1)],
        help_text="A published pledge reported by this many different visitors is hidden until reviewed.",
    )
    blocked_words = models.TextField(
        blank=True,
        help_text=(
            "Words or phrases that send a pledge to the moderation queue, one per line or comma-separated."
        ),
    )
    staff_domains = models.TextField(
        blank=True,
        help_text=(
            "Email domains shared by the staff of many organisations (for example nhs.net), one per line "
            "or comma-separated: a pledge confirmed from one shows 'verified: NHS staff' without naming "
            "an organisation."
        ),
    )
    staff_domains_label = models.CharField(
        max_length=60,
        default="NHS staff",
        help_text="What the badge says of a pledge confirmed from one of those domains.",
    )
    # Pages people trust: who runs the campaign and how to reach them. The team's own
    # contact is public by design; a pledger's address never is.
    organiser_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="Who runs this campaign and holds its data, e.g. 'NHS Change Day team'.",
    )
    contact_email = models.EmailField(blank=True, help_text="The campaign team's public contact address.")
    contact_url = models.URLField(blank=True, help_text="Or a contact page, if the team prefers one.")
    # Plain text shown with line breaks (escaped); empty means the site-wide default text.
    privacy_notice = models.TextField(
        blank=True, help_text="Plain text. Empty: the site-wide privacy notice, with this campaign's dates."
    )
    accessibility_statement = models.TextField(
        blank=True, help_text="Plain text. Empty: the site-wide accessibility statement."
    )
    cookies_note = models.TextField(blank=True, help_text="Plain text. Empty: the site-wide note on cookies.")
    retention_days = models.PositiveIntegerField(
        default=RETENTION_DAYS,
        validators=[MinValueValidator(1)],
        help_text=(
            "Days after outcomes close when pledgers' addresses, report network hashes, reminder "
            "sign-ups and unpublished stories are erased. The privacy notice states the date."
        ),
    )
    # Set by the retention job (pages.retention) once this campaign's personal data is erased.
    personal_data_erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deadline__gt=models.F("opens_at")),
                name="campaign_deadline_after_opening",
                violation_error_message="The pledge deadline must be after the opening time.",
            ),
            models.CheckConstraint(condition=models.Q(target__gte=1), name="campaign_target_positive"),
            models.CheckConstraint(
                condition=models.Q(outcomes_close__isnull=True)
                | models.Q(outcomes_close__gt=models.F("deadline")),
                name="campaign_outcomes_close_after_deadline",
                violation_error_message="Outcomes must close after the pledge deadline.",
            ),
            models.CheckConstraint(
                condition=models.Q(moderation_mode__in=ModerationMode.values),
                name="campaign_moderation_mode_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Said on the field too, so the admin shows it next to the deadline.
        if self.opens_at and self.deadline and self.deadline <= self.opens_at:
            raise ValidationError({"deadline": "The pledge deadline must be after the opening time."})
        if self.deadline and self.outcomes_close and self.outcomes_close <= self.deadline:
            raise ValidationError({"outcomes_close": "Outcomes must close after the pledge deadline."})

    @property
    def outcomes_close_at(self) -> datetime:
        """The moment pledgers can no longer record how their promise went."""
        return self.outcomes_close or self.deadline + timedelta(days=OUTCOMES_OPEN_DAYS)

    @property
    def personal_data_erase_at(self) -> datetime:
        """When the retention job erases this campaign's personal data (the privacy notice says so)."""
        return self.outcomes_close_at + timedelta(days=self.retention_days)

    def outcomes_open(self, now: datetime | None = None) -> bool:
        """Whether pledgers may still record how their promise went. There is no start:
        someone who kept their promise early may say so as soon as they like."""
        now = now or timezone.now()
        return now < self.outcomes_close_at

    def phase(self, now: datetime | None = None) -> Phase:
        now = now or timezone.now()
        if now < self.opens_at:
            return Phase.UPCOMING
        if now >= self.deadline:
            return Phase.CLOSED
        return Phase.OPEN

    def days_left(self, now: datetime | None = None) -> int:
        """Whole calendar days (UK time) until the deadline; 0 on its last day."""
        now = now or timezone.now()
        if now >= self.deadline:
            return 0
        today = timezone.localtime(now).date()
        # The last day is the day of the last open moment: a deadline of 00:00 on
        # 1 April means "pledge until 31 March".
        last_day = timezone.localtime(self.deadline - timedelta(microseconds=1)).date()
        return (last_day - today).days
