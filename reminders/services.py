"""Every write to reminders goes through here: sign-ups, unsubscribes, and the
runs that send each scheduled reminder exactly once.

A run has three steps, each safe to repeat and to interrupt:
1. plan: one ReminderDelivery row per recipient, written before anything is
   sent; the unique key (campaign, reminder, recipient) makes a second plan a no-op;
2. fan out: the open rows go to the workers in batches of ids;
3. send: a worker claims its rows with a conditional UPDATE, and marks each one
   sent in the same breath as the mail server accepts it (outbox/mailsession.py).
A worker killed at any point leaves rows pending or with a lapsed claim; the
next dispatch hands them out again, and no row marked sent is ever sent again.

Follow-through moments ("did you do it?") are runs of the same kind: one delivery per
canonical address, whose email lists each of that person's pledges the moment asks
about (selectors.follow_through_pledges), asked again at sending. Each kind has its
own end (Reminder.ends_at): no reminder after the pledge deadline, no follow-through
after outcomes close.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from time import monotonic
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from campaigns.models import OUTCOMES_OPEN_DAYS, Campaign, Phase
from changeday.lib.emailaddr import canonical_email
from changeday.lib.mail import Links, render_email
from changeday.lib.tokens import make_token
from outbox.kinds import EmailKindSpec, email_kind_register
from outbox.mailsession import (
    ClaimLost,
    MailSession,
    Throttle,
    is_permanent_refusal,
    mail_error_text,
    record_sent,
)
from outbox.models import OutboxEmail, SuppressionReason
from outbox.selectors import suppressed
from outbox.services import outbox_forget, outbox_queue, suppression_add, suppression_add_refused
from pledges.models import Pledge, Status
from pledges.outcomes import outcome_url
from pledges.screening import email_quote
from reminders.models import (
    FOLLOW_THROUGH_ANCHORS,
    REMINDER_ANCHORS,
    SIGNUP_CONFIRMATION_EMAIL,
    SIGNUP_EMAIL_KINDS,
    Anchor,
    Audience,
    DeliveryStatus,
    FollowThroughListing,
    Reminder,
    ReminderDelivery,
    ReminderRun,
    ReminderSignup,
    SignupStatus,
)
from reminders.selectors import (
    Recipient,
    addresses_that_pledged,
    deliveries_open,
    follow_through_pledges_by_address,
    reminder_recipient_chunks,
)

logger = logging.getLogger(__name__)

SIGNUP_CONFIRM_PURPOSE = "reminder-signup-confirm"
UNSUBSCRIBE_PURPOSE = "reminders-unsubscribe"
STOP_ALL_PURPOSE = "reminders-stop-all"
SUPPRESSED = "Suppressed"
MAX_SIGNUP_CONFIRMATION_EMAILS = 5
PAST_DEADLINE = "The pledge deadline had passed"
FOLLOW_THROUGH_STOP_PURPOSE = "follow-through-stop"
OUTCOMES_CLOSED = "Outcomes had closed"
FOLLOW_THROUGH_STOPPED = "Follow-through stopped by the pledger"
NOTHING_TO_ASK = "No pledge left to ask (withdrawn, rejected, hidden or answered)"


class ReminderError(Exception):
    """A reminder request that cannot be carried out; the message is for people."""


# --- Sign-ups and unsubscribing -----------------------------------------------------


def reminder_signup_create(
    *, campaign: Campaign, email: str, send_confirmation: bool = True, now: datetime | None = None
) -> ReminderSignup:
    """Sign an address up for a campaign's reminders, pending its confirmation.

    Whatever the address's history, the caller shows the same page; what differs
    goes by email (a confirmation link, or nothing for an address already in)."""
    now = now or timezone.now()
    if campaign.phase(now) is Phase.CLOSED:
        raise ReminderError(
            f"Pledging for {campaign.name} has closed, so there is nothing left to remind you of."
        )
    # One sign-up per address, however it is typed: the first typing is kept.
    email, canonical = email.strip(), canonical_email(email)
    with transaction.atomic():
        try:
            with transaction.atomic():
                signup, _ = ReminderSignup.objects.get_or_create(
                    campaign=campaign, email_canonical=canonical, defaults={"email": email}
                )
        except IntegrityError:
            # Two submissions raced to create it: the other one won.
            signup = ReminderSignup.objects.get(campaign=campaign, email_canonical=canonical)
        signup = ReminderSignup.objects.select_for_update().get(pk=signup.pk)
        if signup.status == SignupStatus.CONFIRMED:
            return signup
        if signup.status == SignupStatus.UNSUBSCRIBED:
            # Signing up again is a new opt-in, and is confirmed again.
            signup.status = SignupStatus.UNCONFIRMED
            signup.unsubscribed_at = None
            signup.save(update_fields=["status", "unsubscribed_at"])
        # Bounded, so the form cannot be used to flood someone's inbox.
        sent = OutboxEmail.objects.filter(kind=SIGNUP_CONFIRMATION_EMAIL, subject_id=signup.pk).count()
        if send_confirmation and sent < MAX_SIGNUP_CONFIRMATION_EMAILS:
            outbox_queue(kind=SIGNUP_CONFIRMATION_EMAIL, subject_id=signup.pk)
    return signup


def reminder_signup_confirm(*, signup: ReminderSignup, now: datetime | None = None) -> ReminderSignup:
    """Safe to repeat; an unsubscribed address stays unsubscribed (an old link
    clicked again must not undo an unsubscribe)."""
    now = now or timezone.now()
    ReminderSignup.objects.filter(pk=signup.pk, status=SignupStatus.UNCONFIRMED).update(
        status=SignupStatus.CONFIRMED, confirmed_at=now
    )
    signup.refresh_from_db()
    return signup


def reminders_unsubscribe(*, campaign: Campaign, email: str, now: datetime | None = None) -> None:
    """Stop every reminder of a campaign to an address, whichever way it asked:
    its sign-up and each of its pledges. Safe to repeat.

    The address comes from a signed link: each row is checked in Python to be
    exactly this canonical address, not only by the database (CVE-2019-19844)."""
    now = now or timezone.now()
    wanted = canonical_email(email)
    with transaction.atomic():
        signups = ReminderSignup.objects.filter(campaign=campaign, email_canonical=wanted).exclude(
            status=SignupStatus.UNSUBSCRIBED
        )
        ReminderSignup.objects.filter(
            pk__in=[row.pk for row in signups.only("pk", "email_canonical") if row.email_canonical == wanted]
        ).update(status=SignupStatus.UNSUBSCRIBED, unsubscribed_at=now)
        pledges = Pledge.objects.filter(campaign=campaign, email_canonical=wanted, wants_reminders=True)
        Pledge.objects.filter(
            pk__in=[row.pk for row in pledges.only("pk", "email_canonical") if row.email_canonical == wanted]
        ).update(wants_reminders=False)


def reminders_stop_all(*, email: str) -> None:
    """Stop every reminder and follow-through from every campaign to an address: it goes on
    the outbox's suppression list, which every campaign's planning reads. Safe to repeat."""
    suppression_add(email=email, reason=SuppressionReason.UNSUBSCRIBED)


def follow_through_stop(*, campaign: Campaign, email: str) -> int:
    """Stop every follow-through email of a campaign to an address: each of its pledges
    there stops asking "did you do it?". Safe to repeat; returns how many pledges changed.
    Reminders and the suppression list are left as they are.

    The address comes from a signed link: each row is checked in Python to be
    exactly this canonical address, not only by the database (CVE-2019-19844)."""
    wanted = canonical_email(email)
    pledges = Pledge.objects.filter(campaign=campaign, email_canonical=wanted, wants_follow_through=True)
    ids = [row.pk for row in pledges.only("pk", "email_canonical") if row.email_canonical == wanted]
    return Pledge.objects.filter(pk__in=ids).update(wants_follow_through=False)


def follow_through_stop_token(*, pledge: Pledge) -> str:
    # A public id, never the address: the link stops follow-through for every pledge of the
    # address in that pledge's campaign. A purpose of its own, so it replays as no other link.
    return make_token(purpose=FOLLOW_THROUGH_STOP_PURPOSE, value=pledge.public_id)


def stop_all_token(*, pledge: Pledge | None = None, signup: ReminderSignup | None = None) -> str:
    # The same public ids as unsubscribe_token, under a purpose of its own, so neither link
    # can be replayed as the other and no address appears in the link.
    value = f"p.{pledge.public_id}" if pledge is not None else f"s.{signup.public_id}"  # type: ignore[union-attr]
    return make_token(purpose=STOP_ALL_PURPOSE, value=value)


def unsubscribe_token(*, pledge: Pledge | None = None, signup: ReminderSignup | None = None) -> str:
    # Public ids, never database ids; the prefix says which table.
    value = f"p.{pledge.public_id}" if pledge is not None else f"s.{signup.public_id}"  # type: ignore[union-attr]
    return make_token(purpose=UNSUBSCRIBE_PURPOSE, value=value)


def signup_confirmation_url(*, signup: ReminderSignup, links: Links | None = None) -> str:
    token = make_token(purpose=SIGNUP_CONFIRM_PURPOSE, value=signup.public_id)
    return (links or Links()).url("reminders:confirm", token=token)


def signup_confirmation_email(
    *, signup: ReminderSignup, links: Links | None = None
) -> EmailMultiAlternatives:
    links = links or Links()
    context = {
        "campaign": signup.campaign,
        "confirm_url": signup_confirmation_url(signup=signup, links=links),
        "valid_days": settings.PLEDGE_CONFIRMATION_MAX_AGE.days,
        "campaign_url": links.url("pages:campaign_detail", slug=signup.campaign.slug),
    }
    return render_email(template="reminder_signup_confirmation", context=context, to=signup.email)


def signup_email_kinds_register() -> None:
    """Tell the outbox how to build a sign-up's confirmation email (RemindersConfig.ready)."""
    email_kind_register(
        EmailKindSpec(
            kind=SIGNUP_CONFIRMATION_EMAIL,
            label="Confirm your reminder sign-up",
            load=lambda ids: ReminderSignup.objects.select_related("campaign").in_bulk(ids),
            build=lambda signup, links: signup_confirmation_email(signup=signup, links=links),
            campaign_subjects=lambda campaign_id: ReminderSignup.objects.filter(
                campaign_id=campaign_id
            ).values("pk"),
        )
    )


# --- Runs: plan, fan out, send -----------------------------------------------------


# Takes a run and (first id, last id) ranges of its deliveries to send.
BatchHandler = Callable[[ReminderRun, list[tuple[int, int]]], None]


@dataclass
class DispatchResult:
    run: ReminderRun
    # (first id, last id) of each batch of deliveries to hand to a worker.
    batches: list[tuple[int, int]] = field(default_factory=list)


def reminders_due(*, now: datetime, campaign: Campaign | None = None) -> list[Reminder]:
    """Reminders and follow-through moments whose moment has come and whose kind has not
    ended (Reminder.ends_at: reminders at the pledge deadline, follow-through when
    outcomes close), that have not finished their run."""
    outcomes_open = Q(campaign__outcomes_close__gt=now) | Q(
        campaign__outcomes_close__isnull=True, campaign__deadline__gt=now - timedelta(days=OUTCOMES_OPEN_DAYS)
    )
    reminders = (
        Reminder.objects.filter(
            Q(anchor__in=REMINDER_ANCHORS, campaign__deadline__gt=now)
            | (Q(anchor__in=FOLLOW_THROUGH_ANCHORS) & outcomes_open)
        )
        .exclude(run__finished_at__isnull=False)
        .select_related("campaign")
        .order_by("campaign_id", "id")
    )
    if campaign is not None:
        reminders = reminders.filter(campaign=campaign)
    # The query only narrows; ends_at() is the rule.
    return [reminder for reminder in reminders if reminder.due_at() <= now < reminder.ends_at()]


def reminder_run_start(*, reminder: Reminder, now: datetime) -> ReminderRun:
    run, _ = ReminderRun.objects.get_or_create(
        reminder=reminder,
        defaults={"campaign": reminder.campaign, "due_at": reminder.due_at(), "started_at": now},
    )
    return run


def reminder_run_plan(
    *, run: ReminderRun, now: datetime, batch_size: int, hand_out: BatchHandler | None = None
) -> None:
    """Write a pending delivery for every recipient not yet planned. Repeatable:
    a plan cut off half way is finished by the next one, with no duplicates.

    With hand_out, each chunk's deliveries go to the workers as soon as they
    are written, so sending starts while the rest of a large run is planned."""
    chunks = reminder_recipient_chunks(
        reminder=run.reminder, chunk_size=settings.REMINDER_CHUNK_SIZE, as_of=run.started_at
    )
    for chunk in chunks:
        rows = [_delivery(run=run, recipient=recipient, now=now) for recipient in chunk]
        # ignore_conflicts: the unique key drops a recipient planned before.
        ReminderDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        if hand_out is not None:
            ids = list(
                ReminderDelivery.objects.filter(
                    run=run, recipient__in=[row.recipient for row in rows], status=DeliveryStatus.PENDING
                )
                .order_by("id")
                .values_list("id", flat=True)
            )
            hand_out(run, [(part[0], part[-1]) for part in _slices(ids, batch_size)])
    ReminderRun.objects.filter(pk=run.pk, planned_at__isnull=True).update(planned_at=now)
    run.planned_at = run.planned_at or now


def _slices(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _delivery(*, run: ReminderRun, recipient: Recipient, now: datetime) -> ReminderDelivery:
    return ReminderDelivery(
        run=run,
        campaign_id=run.campaign_id,
        reminder_id=run.reminder_id,
        recipient=recipient.email_canonical,
        pledge_id=recipient.pledge_id,
        signup_id=recipient.signup_id,
        next_attempt_at=now,
    )


def reminder_count_unplanned(*, reminder: Reminder, now: datetime | None = None) -> int:
    """How many recipients a run would add now (the dry run's answer)."""
    run = ReminderRun.objects.filter(reminder=reminder).first()
    as_of = run.started_at if run is not None else (now or timezone.now())
    count = 0
    chunks = reminder_recipient_chunks(
        reminder=reminder, chunk_size=settings.REMINDER_CHUNK_SIZE, as_of=as_of
    )
    for chunk in chunks:
        emails = [recipient.email_canonical for recipient in chunk]
        known = set(
            ReminderDelivery.objects.filter(reminder=reminder, recipient__in=emails).values_list(
                "recipient", flat=True
            )
        )
        count += sum(1 for email in emails if email not in known)
    return count


def _claimable(now: datetime) -> Q:
    # Pending and due, or claimed by a worker whose claim has lapsed (it died).
    return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=DeliveryStatus.SENDING, claimed_until__lt=now
    )


def _batches(*, run: ReminderRun, now: datetime, batch_size: int) -> Iterator[tuple[int, int]]:
    ids = ReminderDelivery.objects.filter(run=run).filter(_claimable(now)).order_by("id")
    after = 0
    while True:
        chunk = list(ids.filter(id__gt=after).values_list("id", flat=True)[:batch_size])
        if not chunk:
            return
        after = chunk[-1]
        yield chunk[0], chunk[-1]


def _run_finish_if_done(*, run: ReminderRun, now: datetime) -> bool:
    if deliveries_open(run=run).exists():
        return False
    ReminderRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(finished_at=now)
    return True


def _end_reason(reminder: Reminder) -> str:
    return OUTCOMES_CLOSED if reminder.is_follow_through else PAST_DEADLINE


def _runs_past_end_close(*, now: datetime) -> None:
    """No reminder after the deadline, no follow-through after outcomes close: what is still
    waiting when its kind's end has passed is skipped, saying which end."""
    # Few runs are unfinished at any time (each finishes once its rows are done).
    for run in ReminderRun.objects.filter(finished_at__isnull=True).select_related("reminder__campaign"):
        if now < run.reminder.ends_at():
            continue
        deliveries_open(run=run).filter(Q(status=DeliveryStatus.PENDING) | Q(claimed_until__lt=now)).update(
            status=DeliveryStatus.SKIPPED, skip_reason=_end_reason(run.reminder), claimed_until=None
        )
        _run_finish_if_done(run=run, now=now)


def reminders_dispatch(
    *,
    now: datetime | None = None,
    campaign: Campaign | None = None,
    batch_size: int | None = None,
    hand_out: BatchHandler | None = None,
) -> list[DispatchResult]:
    """Start, plan and fan out every reminder that is due. What the beat task
    and `send_reminders` run; safe to run again at any moment, even twice at once.

    Batches are returned in each result, or, with hand_out, given to it as soon
    as they exist (the beat task queues them for the workers)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.REMINDER_BATCH_SIZE
    requeue_after = timedelta(seconds=settings.REMINDER_REQUEUE_SECONDS)
    _runs_past_end_close(now=now)
    results = []
    for reminder in reminders_due(now=now, campaign=campaign):
        run = reminder_run_start(reminder=reminder, now=now)
        result = DispatchResult(run=run)
        handed_out = False
        if run.planned_at is None:
            reminder_run_plan(run=run, now=now, hand_out=hand_out, batch_size=batch_size)
            handed_out = hand_out is not None
        # Hand the batches out once; again only if they have sat unsent for a
        # while (their worker died with the messages unacknowledged).
        stale = run.fanned_out_at is None or run.fanned_out_at <= now - requeue_after
        if handed_out:
            ReminderRun.objects.filter(pk=run.pk).update(fanned_out_at=now)
        elif stale and not _run_finish_if_done(run=run, now=now):
            result.batches = list(_batches(run=run, now=now, batch_size=batch_size))
            ReminderRun.objects.filter(pk=run.pk).update(fanned_out_at=now)
            if hand_out is not None:
                hand_out(run, result.batches)
        results.append(result)
    return results


def _claim(*, run_id: int, first_id: int, last_id: int, now: datetime) -> tuple[list[int], datetime]:
    claimed_until = now + timedelta(seconds=settings.REMINDER_CLAIM_SECONDS)
    with transaction.atomic():
        # skip_locked: two workers given overlapping batches (a re-queue after a
        # crash) take disjoint rows instead of waiting on each other; the
        # conditional filter stops a row being claimed twice.
        ids = list(
            ReminderDelivery.objects.filter(run_id=run_id, id__gte=first_id, id__lte=last_id)
            .filter(_claimable(now))
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)
        )
        ReminderDelivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.SENDING, claimed_until=claimed_until, attempts=F("attempts") + 1
        )
    return ids, claimed_until


class _Lease:
    """A batch's hold on its claimed rows, renewed while the worker lives.

    A claim lapses after REMINDER_CLAIM_SECONDS so that a dead worker's rows come
    back; a living worker on a slow machine must not lose its own rows half-way
    through a batch, so it renews the hold once half of it has gone. Time is
    counted from the batch's `now` plus the wall time spent, so a batch run at a
    given `now` (the tests, `send_reminders --now`) renews as one run live."""

    def __init__(self, *, ids: list[int], claimed_until: datetime, now: datetime) -> None:
        self.until = claimed_until
        self._held = set(ids)
        self._now = now
        self._started = monotonic()
        self._seconds = settings.REMINDER_CLAIM_SECONDS

    def holds(self, delivery_id: int) -> bool:
        """Whether the row is still ours to send, renewing the hold when it is due."""
        elapsed = monotonic() - self._started
        if self.until - (self._now + timedelta(seconds=elapsed)) < timedelta(seconds=self._seconds / 2):
            self._renew(until=self._now + timedelta(seconds=elapsed + self._seconds))
        return delivery_id in self._held

    def _renew(self, *, until: datetime) -> None:
        with transaction.atomic():
            # Rows another worker took over once the hold lapsed (a stalled worker) are
            # no longer ours: only those still held as we left them are renewed.
            held = list(
                ReminderDelivery.objects.filter(
                    pk__in=self._held, status=DeliveryStatus.SENDING, claimed_until=self.until
                )
                .select_for_update()
                .values_list("id", flat=True)
            )
            ReminderDelivery.objects.filter(pk__in=held).update(claimed_until=until)
        self._held = set(held)
        self.until = until


@dataclass
class _BatchFacts:
    """What a batch's deliveries are checked against just before sending, read once a batch."""

    ended: bool
    blocked: set[str]
    # Reminders: sign-ups' addresses that have pledged since.
    pledged: set[str] = field(default_factory=set)
    # Follow-through: the pledges each address is asked about, and the addresses whose
    # only pledges left to ask about have stopped follow-through.
    asked: dict[str, list[Pledge]] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)


def _batch_facts(*, run: ReminderRun, deliveries: list[ReminderDelivery], now: datetime) -> _BatchFacts:
    reminder = run.reminder
    recipients = [delivery.recipient for delivery in deliveries]
    facts = _BatchFacts(ended=now >= reminder.ends_at(), blocked=suppressed(recipients))
    if reminder.is_follow_through:
        facts.asked = follow_through_pledges_by_address(
            reminder=reminder, as_of=run.started_at, emails=recipients
        )
        unasked = [email for email in recipients if email not in facts.asked]
        facts.stopped = set(
            follow_through_pledges_by_address(
                reminder=reminder, as_of=run.started_at, emails=unasked, stopped_too=True
            )
        )
    else:
        facts.pledged = addresses_that_pledged(
            campaign_id=run.campaign_id, emails=[d.recipient for d in deliveries if d.signup_id is not None]
        )
    return facts


def _listings_write(deliveries: list[ReminderDelivery], *, reminder: Reminder, facts: _BatchFacts) -> None:
    """Write which pledges each email of this batch lists, before any of them goes. They
    count as asked once their delivery is marked sent (selectors.follow_through_pledges),
    so an email that fails or is skipped asks nothing; a retry lists afresh what it sends."""
    ids = [delivery.pk for delivery in deliveries]
    rows = [
        FollowThroughListing(delivery_id=delivery.pk, pledge_id=pledge.pk)
        for delivery in deliveries
        if not _skip_reason(delivery, reminder=reminder, facts=facts)
        for pledge in facts.asked[delivery.recipient]
    ]
    with transaction.atomic():
        FollowThroughListing.objects.filter(delivery_id__in=ids).delete()
        FollowThroughListing.objects.bulk_create(rows)


def _skip_reason(delivery: ReminderDelivery, *, reminder: Reminder, facts: _BatchFacts) -> str:
    if facts.ended:
        return _end_reason(reminder)
    if delivery.recipient in facts.blocked:
        # Suppressed since the run was planned (a refusal in another run, a "stop all" click).
        return SUPPRESSED
    if reminder.is_follow_through:
        if delivery.recipient in facts.asked:
            return ""
        return FOLLOW_THROUGH_STOPPED if delivery.recipient in facts.stopped else NOTHING_TO_ASK
    pledged = facts.pledged
    if delivery.signup is not None:
        if delivery.signup.status != SignupStatus.CONFIRMED:
            return "Unsubscribed"
        if delivery.recipient in pledged:
            return "Pledged since signing up"
        return ""
    pledge = delivery.pledge
    if not pledge.wants_reminders:
        return "Unsubscribed"
    if pledge.status != Status.PUBLISHED:
        return f"The pledge is {pledge.get_status_display().lower()}"
    return ""


def _message_id(delivery: ReminderDelivery, *, kind: str = "reminder") -> str:
    # The same id on any resend (only possible after an SMTP error): mail
    # systems treat two copies with one Message-ID as one message.
    host = urlsplit(settings.SITE_URL).hostname or "changeday.invalid"
    return f"<{kind}-{delivery.reminder_id}-{delivery.pk}@{host}>"


def _list_unsubscribe(message: EmailMultiAlternatives, *, url: str, message_id: str) -> None:
    message.extra_headers.update(
        {
            # RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe
            # that POSTs "List-Unsubscribe=One-Click" to this address.
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": message_id,
        }
    )


def reminder_email(
    *, delivery: ReminderDelivery, now: datetime, links: Links | None = None
) -> EmailMultiAlternatives:
    """links: shared by the emails of a batch, so each URL name is reversed once."""
    links = links or Links()
    campaign = delivery.campaign
    token = unsubscribe_token(pledge=delivery.pledge, signup=delivery.signup)
    unsubscribe_url = links.url("reminders:unsubscribe", token=token)
    context = {
        "campaign": campaign,
        "reminder": delivery.reminder,
        "days_left": campaign.days_left(now),
        "change_day_passed": timezone.localdate(now) > campaign.change_day,
        "campaign_url": links.url("pages:campaign_detail", slug=campaign.slug),
        "pledge_url": links.url("pledges:create", slug=campaign.slug),
        "unsubscribe_url": unsubscribe_url,
        "stop_all_url": links.url(
            "reminders:stop-all", token=stop_all_token(pledge=delivery.pledge, signup=delivery.signup)
        ),
    }
    if delivery.pledge is not None:
        context["pledge_text"] = email_quote(text=delivery.pledge.text, flags=delivery.pledge.flags)
        context["permalink"] = links.url("pledges:detail", public_id=delivery.pledge.public_id)
        template = "reminder_pledger"
    else:
        template = "reminder_signup"
    # Sent to the address as typed; `recipient` is its canonical form, the key.
    typed = delivery.pledge.email if delivery.pledge is not None else delivery.signup.email  # type: ignore[union-attr]
    message = render_email(template=template, context=context, to=typed)
    _list_unsubscribe(message, url=unsubscribe_url, message_id=_message_id(delivery))
    return message


def follow_through_email(
    *, delivery: ReminderDelivery, pledges: list[Pledge], links: Links | None = None
) -> EmailMultiAlternatives:
    """One address's "did you do it?" for one moment: each of its pledges the moment asks
    about, each with its own signed link to say how it went. A flagged pledge is listed
    by its link only, never quoted (pledges.screening.email_quote)."""
    links = links or Links()
    campaign = delivery.campaign
    # Any of the pledges identifies the address in the campaign; never the address itself.
    stop_url = links.url("reminders:follow-through-stop", token=follow_through_stop_token(pledge=pledges[0]))
    context = {
        "campaign": campaign,
        "reminder": delivery.reminder,
        "pledges": [
            {
                "text": email_quote(text=pledge.text, flags=pledge.flags),
                "outcome": pledge.get_outcome_display() if pledge.outcome else "",
                "outcome_url": outcome_url(pledge=pledge, links=links),
                "permalink": links.url("pledges:detail", public_id=pledge.public_id),
            }
            for pledge in pledges
        ],
        "outcomes_close_at": campaign.outcomes_close_at,
        "stop_url": stop_url,
        "stop_all_url": links.url("reminders:stop-all", token=stop_all_token(pledge=pledges[0])),
    }
    # To the address as typed on the pledge the run was planned with; `recipient` is its
    # canonical form, the key.
    message = render_email(template="follow_through", context=context, to=delivery.pledge.email)  # type: ignore[union-attr]
    _list_unsubscribe(message, url=stop_url, message_id=_message_id(delivery, kind="follow-through"))
    return message


def _delivery_email(
    delivery: ReminderDelivery, *, reminder: Reminder, facts: _BatchFacts, now: datetime, links: Links
) -> EmailMultiAlternatives:
    if reminder.is_follow_through:
        return follow_through_email(delivery=delivery, pledges=facts.asked[delivery.recipient], links=links)
    return reminder_email(delivery=delivery, now=now, links=links)


def _retry_at(attempts: int, now: datetime) -> datetime:
    base = settings.REMINDER_RETRY_BASE_SECONDS
    return now + timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def _record_failure(delivery: ReminderDelivery, *, error: Exception, permanent: bool, now: datetime) -> None:
    failed = permanent or delivery.attempts >= settings.REMINDER_MAX_ATTEMPTS
    status = DeliveryStatus.FAILED if failed else DeliveryStatus.PENDING
    # From "sending", or from "sent" when the server refused after the final dot.
    ReminderDelivery.objects.filter(
        pk=delivery.pk, status__in=[DeliveryStatus.SENDING, DeliveryStatus.SENT]
    ).update(
        status=status,
        sent_at=None,
        claimed_until=None,
        next_attempt_at=_retry_at(delivery.attempts, now),
        last_error=mail_error_text(error),
    )


def reminder_send_batch(
    *,
    run_id: int,
    first_id: int,
    last_id: int,
    now: datetime | None = None,
    throttle: Throttle | None = None,
) -> int:
    """Send the claimable deliveries of one batch; returns how many went.
    Idempotent: a repeated or overlapping batch finds its rows sent or claimed
    and skips them."""
    now = now or timezone.now()
    sent = 0
    ids, claimed_until = _claim(run_id=run_id, first_id=first_id, last_id=last_id, now=now)
    if not ids:
        return 0
    deliveries = list(
        ReminderDelivery.objects.filter(pk__in=ids)
        .select_related("campaign", "reminder", "pledge", "signup")
        .order_by("id")
    )
    run = ReminderRun.objects.select_related("reminder__campaign").get(pk=run_id)
    reminder = run.reminder
    facts = _batch_facts(run=run, deliveries=deliveries, now=now)
    if reminder.is_follow_through:
        _listings_write(deliveries, reminder=reminder, facts=facts)
    links = Links()
    lease = _Lease(ids=ids, claimed_until=claimed_until, now=now)
    with MailSession() as session:
        for index, delivery in enumerate(deliveries):
            if not lease.holds(delivery.pk):
                continue
            reason = _skip_reason(delivery, reminder=reminder, facts=facts)
            if reason:
                ReminderDelivery.objects.filter(pk=delivery.pk, claimed_until=lease.until).update(
                    status=DeliveryStatus.SKIPPED, skip_reason=reason, claimed_until=None
                )
                continue
            if throttle is not None:
                throttle.wait()
            try:
                session.send(
                    _delivery_email(delivery, reminder=reminder, facts=facts, now=now, links=links),
                    on_accepting=lambda send_dot, d=delivery, held=lease.until: _mark_sent(d, held, send_dot),
                )
            except ClaimLost:
                continue
            except smtplib.SMTPException as exc:
                if isinstance(exc, smtplib.SMTPServerDisconnected):
                    _batch_release(deliveries[index:], error=exc, now=now)
                    break
                permanent = is_permanent_refusal(exc)
                if permanent:
                    # A 5xx to RCPT TO: the mailbox is not there, for any campaign's reminders.
                    suppression_add_refused(error=exc)
                _record_failure(delivery, error=exc, permanent=permanent, now=now)
                continue
            except OSError as exc:
                # SMTPException is an OSError too, hence the order of these clauses.
                _batch_release(deliveries[index:], error=exc, now=now)
                break
            sent += 1
    _run_finish_if_done(run=ReminderRun(pk=run_id), now=now)
    return sent


def _batch_release(deliveries: list[ReminderDelivery], *, error: Exception, now: datetime) -> None:
    """The mail server is unreachable: this delivery and the rest of the batch
    wait for a retry rather than each failing against a dead connection."""
    logger.warning("Mail server unreachable during a reminder batch: %s", error)
    for delivery in deliveries:
        _record_failure(delivery, error=error, permanent=False, now=now)


def _mark_sent(delivery: ReminderDelivery, claimed_until: datetime, send_dot: Callable[[], None]) -> None:
    """Record the delivery as sent, while the claim is still ours, and release
    SMTP's final dot in the same breath (outbox/mailsession.py)."""
    sent_at = timezone.now()
    record_sent(
        model=ReminderDelivery,
        pk=delivery.pk,
        claim={"status": DeliveryStatus.SENDING, "claimed_until": claimed_until},
        values={"status": DeliveryStatus.SENT, "sent_at": sent_at, "claimed_until": None},
        send_dot=send_dot,
        what=f"Delivery {delivery.pk}",
    )


# --- Schedules -----------------------------------------------------------------------


DEFAULT_SCHEDULE: list[tuple[str, int, time, str]] = [
    (Anchor.OPENING, 0, time(9, 0), Audience.SIGNUPS),
    (Anchor.DEADLINE, 7, time(9, 0), Audience.EVERYONE),
    (Anchor.CHANGE_DAY, 1, time(18, 0), Audience.EVERYONE),
    (Anchor.DEADLINE, 1, time(9, 0), Audience.EVERYONE),
]


# Follow-through: a first ask two weeks after Change Day, those not yet asked a week after
# the deadline, and "not yet" or "started" once more: at most three emails (the pledge form
# promises it).
DEFAULT_FOLLOW_THROUGH: list[tuple[str, int, str]] = [
    (Anchor.AFTER_CHANGE_DAY, 14, Audience.FOLLOW_ALL),
    (Anchor.AFTER_DEADLINE, 7, Audience.FOLLOW_NOT_ASKED),
    (Anchor.AFTER_DEADLINE, 45, Audience.FOLLOW_UNFINISHED),
]
FOLLOW_THROUGH_SEND_TIME = time(10, 0)


def reminder_schedule_default(*, campaign: Campaign, now: datetime | None = None) -> list[Reminder]:
    """The usual schedule, for each kind the campaign has none of yet (a schedule an
    organiser entered is kept): reminders at opening (for sign-ups), a week before the
    deadline, the eve of Change Day and the day before the deadline; follow-through
    (DEFAULT_FOLLOW_THROUGH) at 10:00 UK time. Only moments still ahead are added, so a
    campaign set up late does not mail everyone at once; none that Reminder.clean refuses
    (a reminder after the deadline, a follow-through before Change Day or once outcomes close)."""
    now = now or timezone.now()
    anchors = set(Reminder.objects.filter(campaign=campaign).values_list("anchor", flat=True))
    moments = []
    if not anchors & REMINDER_ANCHORS:
        moments += [
            Reminder(
                campaign=campaign,
                anchor=anchor,
                days_before=days_before,
                send_time=send_time,
                audience=audience,
            )
            for anchor, days_before, send_time, audience in DEFAULT_SCHEDULE
        ]
    if not anchors & FOLLOW_THROUGH_ANCHORS:
        moments += [
            Reminder(
                campaign=campaign,
                anchor=anchor,
                days_before=0,
                days_after=days_after,
                send_time=FOLLOW_THROUGH_SEND_TIME,
                audience=audience,
            )
            for anchor, days_after, audience in DEFAULT_FOLLOW_THROUGH
        ]
    made = []
    for moment in moments:
        if moment.due_at() <= now:
            continue
        try:
            moment.clean()
        except ValidationError:
            continue
        moment.save()
        made.append(moment)
    return made


def reminder_signup_purge_unconfirmed(*, now: datetime | None = None) -> int:
    """Delete sign-ups never confirmed once no confirmation link for them can
    still work (as pledge_purge_unconfirmed does for pledges): an address we
    were never allowed to keep. Returns how many went."""
    now = now or timezone.now()
    cutoff = now - settings.PLEDGE_CONFIRMATION_MAX_AGE
    recent = OutboxEmail.objects.filter(kind__in=SIGNUP_EMAIL_KINDS, subject_id=OuterRef("pk")).filter(
        Q(created_at__gte=cutoff) | Q(sent_at__gte=cutoff)
    )
    stale = ReminderSignup.objects.filter(status=SignupStatus.UNCONFIRMED, created_at__lt=cutoff).exclude(
        Exists(recent)
    )
    with transaction.atomic():
        # Locked, and the status checked under the lock: a sign-up confirmed at this moment stays.
        ids = list(
            stale.select_for_update(skip_locked=True)
            .filter(status=SignupStatus.UNCONFIRMED)
            .values_list("pk", flat=True)
        )
        outbox_forget(kinds=SIGNUP_EMAIL_KINDS, subject_ids=ids)
        _, by_model = ReminderSignup.objects.filter(pk__in=ids).delete()
    return by_model.get(ReminderSignup._meta.label, 0)


def reminder_signups_erase(*, email_canonical: str, pledge_ids: list[int]) -> None:
    """A pledger who erased their data loses their "remind me" sign-up from that address
    too. Registered with pledges.privacy at start-up (reminders.apps); runs in the
    erasing transaction."""
    signups = ReminderSignup.objects.filter(email_canonical=email_canonical).only("pk", "email_canonical")
    # Each row checked in Python to be exactly this address (CVE-2019-19844).
    ids = [signup.pk for signup in signups if signup.email_canonical == email_canonical]
    outbox_forget(kinds=SIGNUP_EMAIL_KINDS, subject_ids=ids)
    ReminderSignup.objects.filter(pk__in=ids).delete()
