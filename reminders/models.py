from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from campaigns.models import Campaign
from pledges.models import Pledge, new_public_id


class Anchor(models.TextChoices):
    OPENING = "opening", "When pledging opens"
    CHANGE_DAY = "change-day", "Before Change Day"
    DEADLINE = "deadline", "Before the pledge deadline"
    # Follow-through moments ("did you do it?"), counted in days after.
    AFTER_CHANGE_DAY = "after-change-day", "After Change Day"
    AFTER_DEADLINE = "after-deadline", "After the pledge deadline"


REMINDER_ANCHORS: frozenset[str] = frozenset({Anchor.OPENING, Anchor.CHANGE_DAY, Anchor.DEADLINE})
FOLLOW_THROUGH_ANCHORS: frozenset[str] = frozenset({Anchor.AFTER_CHANGE_DAY, Anchor.AFTER_DEADLINE})


class Audience(models.TextChoices):
    EVERYONE = "everyone", "Everyone who asked: 'remind me' sign-ups and pledgers who opted in"
    SIGNUPS = "signups", "Only 'remind me' sign-ups who have not pledged yet"
    PLEDGERS = "pledgers", "Only pledgers who opted in"
    # Follow-through: each email lists the recipient's pledges that are in the audience.
    FOLLOW_ALL = "follow-all", "Every published pledge made by then"
    FOLLOW_NOT_ASKED = "follow-not-asked", "Published pledges not yet asked about"
    FOLLOW_UNFINISHED = "follow-unfinished", "Pledges whose pledger answered 'not yet' or 'started'"


REMINDER_AUDIENCES: frozenset[str] = frozenset({Audience.EVERYONE, Audience.SIGNUPS, Audience.PLEDGERS})
FOLLOW_THROUGH_AUDIENCES: frozenset[str] = frozenset(
    {Audience.FOLLOW_ALL, Audience.FOLLOW_NOT_ASKED, Audience.FOLLOW_UNFINISHED}
)


# The pledge form promises pledgers we ask at most three times how it went: each moment asks
# a pledge at most once, so a schedule holds at most three, and planning never lists a pledge
# that three sent emails have asked about, whatever the schedule says (a moment made by a script).
MAX_TIMES_ASKED = 3
MAX_FOLLOW_THROUGH_MOMENTS = MAX_TIMES_ASKED
TOO_MANY_FOLLOW_THROUGH = (
    f"A campaign has at most {MAX_FOLLOW_THROUGH_MOMENTS} follow-through moments: the pledge form "
    "promises pledgers we ask at most three times how it went."
)
SAME_MOMENT_TWICE = "This moment is in the schedule already: twice would send everyone the same email twice."
BEGUN_NOT_DELETED = (
    "'{label}' has begun sending, so it stays in the schedule: its deliveries are the record of "
    "whom it emailed, and without them people would be emailed again."
)
BEGUN_NOT_CHANGED = (
    "'{label}' has begun sending, so its day, time, what it counts from and whom it asks can no "
    "longer change (its message still can): the people it emailed were chosen by them."
)
# What makes a moment the moment it is: fixed once its run has started.
MOMENT_FIELDS = ("anchor", "days_before", "days_after", "send_time", "audience")


class Reminder(models.Model):
    """One entry of a campaign's schedule, relative to its dates, so moving the
    deadline in the admin moves the reminders with it.

    Two kinds share the table and the machinery that sends each exactly once (runs
    and deliveries): reminders to pledge, before the deadline, and follow-through
    moments asking pledgers how their promise went, from Change Day until outcomes
    close (FollowThrough, a proxy of the same rows)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reminders")
    anchor = models.CharField(max_length=16, choices=Anchor.choices, default=Anchor.DEADLINE)
    days_before = models.PositiveSmallIntegerField(
        default=1,
        validators=[MaxValueValidator(90)],
        help_text="Days before Change Day or the deadline (0 for on the day). Not used at opening.",
    )
    days_after = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(365)],
        help_text="Follow-through only: days after Change Day or the deadline.",
    )
    send_time = models.TimeField(
        default=time(9, 0), help_text="UK time of day it goes out. Not used at opening."
    )
    audience = models.CharField(max_length=24, choices=Audience.choices, default=Audience.EVERYONE)
    message = models.TextField(
        blank=True, max_length=1000, help_text="An optional paragraph from the organisers, plain text."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "anchor", "-days_before", "send_time"]
        constraints = [
            # The same moment twice in one schedule would mail everyone twice.
            models.UniqueConstraint(
                fields=["campaign", "anchor", "days_before", "days_after", "send_time"],
                name="reminder_unique_moment",
            ),
            models.CheckConstraint(
                condition=models.Q(anchor__in=Anchor.values), name="reminder_anchor_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(audience__in=Audience.values), name="reminder_audience_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def is_follow_through(self) -> bool:
        return self.anchor in FOLLOW_THROUGH_ANCHORS

    @property
    def label(self) -> str:
        if self.is_follow_through:
            target = "Change Day" if self.anchor == Anchor.AFTER_CHANGE_DAY else "the deadline"
            if self.days_after == 0:
                return f"Follow-through on the day of {target}"
            return f"Follow-through {self.days_after} day{'s' if self.days_after != 1 else ''} after {target}"
        if self.anchor == Anchor.OPENING:
            return "When pledging opens"
        if self.anchor == Anchor.CHANGE_DAY and self.days_before == 1:
            return "The eve of Change Day"
        target = "Change Day" if self.anchor == Anchor.CHANGE_DAY else "the deadline"
        if self.days_before == 0:
            return f"On the day of {target}"
        return f"{self.days_before} day{'s' if self.days_before != 1 else ''} before {target}"

    def due_at(self) -> datetime:
        campaign = self.campaign
        if self.anchor == Anchor.OPENING:
            return campaign.opens_at
        if self.anchor in (Anchor.CHANGE_DAY, Anchor.AFTER_CHANGE_DAY):
            day = campaign.change_day
        else:
            day = timezone.localtime(campaign.deadline).date()
        if self.is_follow_through:
            day += timedelta(days=self.days_after)
        else:
            day -= timedelta(days=self.days_before)
        return timezone.make_aware(datetime.combine(day, self.send_time))

    def ends_at(self) -> datetime:
        """Nothing of this kind is sent from then on: reminders stop at the pledge
        deadline, follow-through when outcomes close."""
        if self.is_follow_through:
            return self.campaign.outcomes_close_at
        return self.campaign.deadline

    def has_begun(self) -> bool:
        """Whether its run has started: from then on its deliveries say whom it emailed, so
        the moment can neither be deleted (the foreign keys restrict it) nor moved."""
        return self.pk is not None and ReminderRun.objects.filter(reminder_id=self.pk).exists()

    def clean(self) -> None:
        # The other kind's count of days means nothing for this row: kept at 0, so the unique
        # moment (campaign, anchor, days_before, days_after, send_time) compares like with like.
        if self.anchor in FOLLOW_THROUGH_ANCHORS:
            self.days_before = 0
        else:
            self.days_after = 0
        self._clean_begun()
        if self.anchor in FOLLOW_THROUGH_ANCHORS:
            self._clean_follow_through()
        else:
            self._clean_reminder()
        self._clean_same_moment()

    def _clean_begun(self) -> None:
        # Moved after its run started, a moment would keep that run (one per moment, finished)
        # and never send at its new time, or a "not yet asked" moment would ask everyone.
        if not self.has_begun():
            return
        saved = Reminder.objects.filter(pk=self.pk).values(*MOMENT_FIELDS).get()
        if any(saved[name] != getattr(self, name) for name in MOMENT_FIELDS):
            label = Reminder(campaign_id=self.campaign_id, **saved).label
            raise ValidationError(BEGUN_NOT_CHANGED.format(label=label))

    def _clean_same_moment(self) -> None:
        # Said here as well as by the unique constraint: the admin's inlines leave out the other
        # kind's days, and a constraint on a field a form leaves out is not checked by the form,
        # so a twin would otherwise reach the database as an IntegrityError.
        if self.campaign_id is None or self.send_time is None:
            return
        twins = Reminder.objects.filter(
            campaign_id=self.campaign_id,
            anchor=self.anchor,
            days_before=self.days_before,
            days_after=self.days_after,
            send_time=self.send_time,
        ).exclude(pk=self.pk)
        if twins.exists():
            raise ValidationError(SAME_MOMENT_TWICE)

    def _clean_reminder(self) -> None:
        if self.audience in FOLLOW_THROUGH_AUDIENCES:
            raise ValidationError({"audience": "Choose one of the reminder audiences for a reminder."})
        if self.anchor == Anchor.OPENING and self.days_before:
            raise ValidationError({"days_before": "A reminder at opening goes when pledging opens: use 0."})
        if self.campaign_id is None or self.days_before is None or self.send_time is None:
            return
        due = self.due_at()
        if due >= self.campaign.deadline:
            raise ValidationError(
                f"This reminder would go on {timezone.localtime(due):%-d %B %Y at %H:%M}, "
                "after the pledge deadline; no reminder is sent after the deadline."
            )

    def _clean_follow_through(self) -> None:
        if self.audience not in FOLLOW_THROUGH_AUDIENCES:
            raise ValidationError({"audience": "Choose one of the follow-through audiences."})
        if self.campaign_id is None or self.days_after is None or self.send_time is None:
            return
        others = FollowThrough.objects.filter(campaign_id=self.campaign_id).exclude(pk=self.pk)
        if others.count() >= MAX_FOLLOW_THROUGH_MOMENTS:
            raise ValidationError(TOO_MANY_FOLLOW_THROUGH)
        due = self.due_at()
        start_of_day = timezone.make_aware(datetime.combine(self.campaign.change_day, time(0, 0)))
        if due < start_of_day:
            raise ValidationError("No follow-through moment falls before Change Day.")
        if due >= self.campaign.outcomes_close_at:
            raise ValidationError(
                f"This follow-through would go on {timezone.localtime(due):%-d %B %Y at %H:%M}, "
                "after outcomes close; move the campaign's 'outcomes close' date or choose an earlier day."
            )


class FollowThroughManager(models.Manager["FollowThrough"]):
    def get_queryset(self) -> models.QuerySet[FollowThrough]:
        return super().get_queryset().filter(anchor__in=FOLLOW_THROUGH_ANCHORS)


class FollowThrough(Reminder):
    """The follow-through moments of a schedule: the same rows, runs and deliveries as
    reminders, edited in an admin section of their own."""

    objects = FollowThroughManager()

    class Meta:
        proxy = True
        verbose_name = "follow-through moment"


class SignupStatus(models.TextChoices):
    UNCONFIRMED = "unconfirmed", "Awaiting email confirmation"
    CONFIRMED = "confirmed", "Confirmed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


# The email asking a sign-up to confirm its address, sent through the outbox
# (services.signup_email_kinds_register), and forgotten with the sign-up (outbox_forget).
SIGNUP_CONFIRMATION_EMAIL = "signup-confirmation"
SIGNUP_EMAIL_KINDS = (SIGNUP_CONFIRMATION_EMAIL,)


class ReminderSignup(models.Model):
    """A visitor who left only an email to be reminded to pledge (double opt-in)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reminder_signups")
    # Unguessable id for signed links; database ids are never exposed.
    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    # The address as typed (trimmed): what we send to.
    email = models.EmailField(max_length=254)
    # changeday.lib.emailaddr.canonical_email(email): one sign-up per address per
    # campaign, and every lookup by address compares this exactly.
    email_canonical = models.CharField(max_length=320, editable=False)
    status = models.CharField(max_length=16, choices=SignupStatus.choices, default=SignupStatus.UNCONFIRMED)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "email_canonical"], name="signup_unique_email"),
            models.CheckConstraint(
                condition=models.Q(status__in=SignupStatus.values), name="signup_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Sign-up {self.public_id} ({self.get_status_display()})"


class ReminderRun(models.Model):
    """The one sending of one reminder: its recipients are planned once, as
    delivery rows, and every later pass only works through those rows."""

    # RESTRICT: a moment that began sending cannot be deleted on its own, which would take
    # with it the record of whom it emailed; deleting the whole campaign still can.
    reminder = models.OneToOneField(Reminder, on_delete=models.RESTRICT, related_name="run")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reminder_runs")
    due_at = models.DateTimeField()
    started_at = models.DateTimeField()
    planned_at = models.DateTimeField(null=True, blank=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-due_at"]

    def __str__(self) -> str:
        return f"{self.reminder.label} for {self.campaign}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


OPEN_DELIVERY_STATES = frozenset({DeliveryStatus.PENDING, DeliveryStatus.SENDING})


class ReminderDelivery(models.Model):
    """One reminder to one address, written before the send is attempted.

    The unique key (campaign, reminder, recipient) is what makes a reminder go
    to an address at most once, whatever crashes or repeats."""

    run = models.ForeignKey(ReminderRun, on_delete=models.CASCADE, related_name="deliveries")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    reminder = models.ForeignKey(Reminder, on_delete=models.RESTRICT, related_name="deliveries")
    # The canonical address (changeday.lib.emailaddr.canonical_email), so one
    # person is one recipient however they typed it; the email goes to the
    # pledge's or sign-up's address as typed. Deleting either deletes the row.
    recipient = models.CharField(max_length=320)
    pledge = models.ForeignKey(
        Pledge, null=True, blank=True, on_delete=models.CASCADE, related_name="reminder_deliveries"
    )
    signup = models.ForeignKey(
        ReminderSignup, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # A worker owns a "sending" row until then; past it, the worker is taken to have died.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    skip_reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "reminder deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "reminder", "recipient"], name="delivery_once_per_recipient"
            ),
            models.CheckConstraint(
                condition=models.Q(pledge__isnull=False, signup__isnull=True)
                | models.Q(pledge__isnull=True, signup__isnull=False),
                name="delivery_has_one_source",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values), name="delivery_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["run", "status", "id"], name="delivery_run_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reminder} to delivery {self.pk}: {self.get_status_display()}"


class FollowThroughListing(models.Model):
    """One pledge listed in one follow-through email, written just before the email goes.

    A pledge counts as asked "did you do it?" once a listing of it belongs to a delivery
    marked sent: not because some moment's run started after it was published, which
    would count as asked a pledge hidden at the time, or one whose address was suppressed.
    What was asked is kept while its moment is (a moment that began sending cannot be
    deleted), so no later moment asks a pledge more often than the pledge form promises."""

    delivery = models.ForeignKey(ReminderDelivery, on_delete=models.CASCADE, related_name="listings")
    pledge = models.ForeignKey(Pledge, on_delete=models.CASCADE, related_name="follow_through_listings")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delivery", "pledge"], name="listing_once_per_email"),
        ]

    def __str__(self) -> str:
        return f"Pledge {self.pledge_id} in delivery {self.delivery_id}"
