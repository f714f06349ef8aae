"""Every write to the outbox: emails owed, handed to the workers, sent exactly once.

The apps that owe emails queue them here (outbox_queue, outbox_queue_many, or a row of their own
statement handed over with outbox_hand_over) and register at start-up what each kind needs
(outbox.kinds); deleting a subject deletes its emails through outbox_forget.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from changeday.lib.emailaddr import canonical_email
from changeday.lib.mail import Links
from outbox import publisher
from outbox.kinds import email_kind
from outbox.mailsession import (
    MAIL_REFUSALS,
    TEMPORARY_MAIL_ERRORS,
    ClaimLost,
    MailSession,
    is_permanent_refusal,
    mail_error_text,
    record_sent,
)
from outbox.models import OutboxEmail, Suppression, SuppressionReason

logger = logging.getLogger(__name__)

OUTBOX_MAX_ATTEMPTS = 12


class OutboxBatchPaused(Exception):
    """The mail server could not take some of a batch for now; those wait for a retry."""

    def __init__(self, outbox_ids: list[int]) -> None:
        super().__init__(f"{len(outbox_ids)} emails wait for a retry")
        self.outbox_ids = outbox_ids


def outbox_queue(*, kind: str, subject_id: int, not_before: datetime | None = None) -> OutboxEmail:
    """Owe an email in the caller's transaction; it is handed to the workers once that commits.

    One with a not_before (a confirmation the cap holds back) is not handed over: the drain
    (outbox_claim_overdue) queues it once due."""
    outbox = OutboxEmail.objects.create(kind=kind, subject_id=subject_id, not_before=not_before)
    if not_before is None:
        transaction.on_commit(lambda: outbox_hand_over([outbox.pk]))
    return outbox


def outbox_hand_over(outbox_ids: list[int]) -> None:
    """Give committed emails to this process's publisher (outbox.publisher), which queues them
    for the workers a moment later with any others owed meanwhile. For rows written by a
    caller's own statement (a pledge's one-statement insert); call it on commit."""
    publisher.publisher.hand_over(outbox_ids)


def outbox_queue_many(*, emails: Iterable[tuple[str, int]]) -> None:
    """outbox_queue for a bulk decision, given (kind, subject id) pairs: one INSERT, and a
    task per chunk of emails on commit."""
    rows = [OutboxEmail(kind=kind, subject_id=subject_id) for kind, subject_id in emails]
    if not rows:
        return
    ids = [row.pk for row in OutboxEmail.objects.bulk_create(rows)]
    transaction.on_commit(lambda: publisher.outbox_enqueue(ids))


def outbox_forget(*, kinds: Iterable[str], subject_ids: Iterable[int]) -> int:
    """Delete the emails of these kinds about these subjects, sent or owed: their subjects
    are being deleted (an erasure, a purge), in the caller's transaction. How many went."""
    ids = list(subject_ids)
    if not ids:
        return 0
    deleted, _ = OutboxEmail.objects.filter(kind__in=list(kinds), subject_id__in=ids).delete()
    return deleted


def outbox_send(*, outbox_id: int, now: datetime | None = None) -> bool:
    """Send one owed email, as a batch of one. Returns True if this call sent it.

    Raises the transport's exception on a temporary mail error so the task can
    retry; the row stays unsent and the drain picks it up again later.
    """
    try:
        return outbox_send_many(outbox_ids=[outbox_id], now=now) == 1
    except OutboxBatchPaused as paused:
        assert paused.__cause__ is not None  # always raised from the mail error
        raise paused.__cause__ from None


def outbox_send_many(*, outbox_ids: Sequence[int], now: datetime | None = None) -> int:
    """Send owed emails over one mail connection. Returns how many this call sent.

    One claim for the batch keeps a drain-queued copy of an email, or another
    batch holding it, from sending it twice; each is marked sent as the mail
    server takes it (_outbox_mark_sent). One that fails for good (a 5xx refusal,
    or its last attempt) is recorded failed and the rest still go. Raises
    OutboxBatchPaused (from the mail error) naming the emails a temporary mail
    error held back, for the task to retry later.
    """
    claimed, locked_until = _outbox_claim(outbox_ids, now=now or timezone.now())
    subjects = _outbox_subjects(claimed)
    links = Links()
    sent = 0
    held: list[int] = []
    error: Exception | None = None
    untried: list[OutboxEmail] = []
    with MailSession() as session:
        for index, outbox in enumerate(claimed):
            subject = subjects.get((outbox.kind, outbox.subject_id), _UNKNOWN)
            if subject is None:
                # Its pledge, sign-up or account was deleted without it (as a foreign key's
                # CASCADE would have deleted the row): nobody is owed this email any more.
                _outbox_drop(outbox, locked_until=locked_until)
                continue
            try:
                session.send(
                    email_kind(outbox.kind).build(subject, links),
                    on_accepting=lambda send_dot, o=outbox: _outbox_mark_sent(o, locked_until, send_dot),
                )
            except ClaimLost:
                continue
            except DatabaseError:
                # The database is away: the task fails and the drain sends the rest later.
                raise
            except Exception as exc:
                permanent = is_permanent_refusal(exc)
                if permanent:
                    # A confirmation refused with a 550 at RCPT TO: the mailbox is not there, and
                    # no reminder should knock on that door again either.
                    suppression_add_refused(error=exc)
                _outbox_record_failure(outbox, locked_until=locked_until, error=exc, permanent=permanent)
                if permanent:
                    # Given up at once, neither retried nor re-queued by the drain. A refusal that
                    # dropped the connection leaves the next email to open a new one.
                    logger.warning("Outbox email %s was refused for good", outbox.pk)
                    continue
                if not isinstance(exc, TEMPORARY_MAIL_ERRORS):
                    # Not a mail error, so a retry in seconds would not help; the
                    # drain tries again until OUTBOX_MAX_ATTEMPTS.
                    logger.exception("Outbox email %s could not be sent", outbox.pk)
                    continue
                held.append(outbox.pk)
                error = exc
                if isinstance(exc, MAIL_REFUSALS) and session.connected:
                    # Only this message was refused (a full mailbox, "try again
                    # later"): the others need not wait for its retry.
                    continue
                # The connection is gone: every later email would fail against it.
                untried = claimed[index + 1 :]
                break
            sent += 1
    if untried:
        _outbox_release(untried, locked_until=locked_until)
        held += [outbox.pk for outbox in untried]
    if held:
        raise OutboxBatchPaused(held) from error
    return sent


def _outbox_claim(outbox_ids: Sequence[int], *, now: datetime) -> tuple[list[OutboxEmail], datetime]:
    """Claim the emails of a batch still owed and free, and read them in the same
    statement. Returns them in the batch's order, and the claim's lock.

    A conditional UPDATE as the claim: the task queued at submission, a copy
    queued by the drain and a retried batch may run at once, and only one of them
    may send each email. Raw SQL for RETURNING, which the ORM's update() lacks; through
    raw() so each column comes back as its field's Python value on every database.
    An email held back by the confirmation cap is not claimed before its not_before.
    """
    locked_until = now + settings.OUTBOX_LOCK
    ids = list(dict.fromkeys(outbox_ids))
    if not ids:
        return [], locked_until
    adapt = connection.ops.adapt_datetimefield_value
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in OutboxEmail._meta.concrete_fields)
    claimed = OutboxEmail.objects.raw(
        f"UPDATE {quote(OutboxEmail._meta.db_table)} SET locked_until = %s, attempts = attempts + 1"
        f" WHERE id IN ({', '.join(['%s'] * len(ids))})"
        " AND sent_at IS NULL AND failed_at IS NULL AND (locked_until IS NULL OR locked_until < %s)"
        " AND (not_before IS NULL OR not_before <= %s)"
        f" RETURNING {columns}",
        [adapt(locked_until), *ids, adapt(now), adapt(now)],
    )
    rows = {row.pk: row for row in claimed}
    return [rows[pk] for pk in ids if pk in rows], locked_until


# The subject of an email whose kind no app registered: building it fails and is recorded.
_UNKNOWN = object()


def _outbox_subjects(rows: list[OutboxEmail]) -> dict[tuple[str, int], object]:
    """What each claimed email is about, read with one query per kind through the kind's
    registered loader (outbox.kinds); None for a subject that no longer exists."""
    wanted: dict[str, list[int]] = {}
    for row in rows:
        wanted.setdefault(row.kind, []).append(row.subject_id)
    subjects: dict[tuple[str, int], object] = {}
    for kind, ids in wanted.items():
        try:
            spec = email_kind(kind)
        except LookupError:
            continue
        found = spec.load(ids)
        subjects.update({(kind, pk): found.get(pk) for pk in ids})
    return subjects


def _outbox_drop(outbox: OutboxEmail, *, locked_until: datetime) -> None:
    OutboxEmail.objects.filter(pk=outbox.pk, locked_until=locked_until).delete()


def _outbox_mark_sent(outbox: OutboxEmail, locked_until: datetime, send_dot: Callable[[], None]) -> None:
    """Record the email as sent, while the claim is still ours, and release
    SMTP's final dot in the same breath (outbox/mailsession.py): a worker killed
    between the server's acceptance and this record cannot send it twice."""
    # Kept on the row: a refusal after the final dot takes this record back.
    outbox.sent_at = sent_at = timezone.now()
    record_sent(
        model=OutboxEmail,
        pk=outbox.pk,
        claim={"sent_at__isnull": True, "locked_until": locked_until},
        values={"sent_at": sent_at, "locked_until": None},
        send_dot=send_dot,
        what=f"Outbox email {outbox.pk}",
    )


def _outbox_record_failure(
    outbox: OutboxEmail, *, locked_until: datetime, error: Exception, permanent: bool = False
) -> None:
    """An attempt that did not deliver: free the email for its retry and keep
    the error for the admin; a permanent refusal, or the attempt that reaches
    OUTBOX_MAX_ATTEMPTS, gives it up."""
    ours = Q(locked_until=locked_until)
    if outbox.sent_at is not None:
        # Refused after the final dot, or the dot never left: our "sent" is undone.
        ours |= Q(sent_at=outbox.sent_at)
    OutboxEmail.objects.filter(ours, pk=outbox.pk).update(
        sent_at=None,
        locked_until=None,
        last_error=mail_error_text(error),
        # Read after the claim, so this attempt is counted.
        failed_at=timezone.now() if permanent or outbox.attempts >= OUTBOX_MAX_ATTEMPTS else None,
    )


def _outbox_release(rows: list[OutboxEmail], *, locked_until: datetime) -> None:
    """Free emails the batch claimed but never tried (its mail connection died
    first), taking back the attempt the claim counted for each."""
    OutboxEmail.objects.filter(pk__in=[row.pk for row in rows], locked_until=locked_until).update(
        locked_until=None, attempts=F("attempts") - 1
    )


def outbox_claim_overdue(
    *, now: datetime | None = None, older_than: timedelta = timedelta(minutes=1), limit: int = 500
) -> list[int]:
    """Ids of owed emails whose first task never ran, marked as re-queued now; and
    of those the confirmation cap held back (never handed over), once due."""
    now = now or timezone.now()
    stale = now - older_than
    due = (
        OutboxEmail.objects.filter(sent_at__isnull=True, failed_at__isnull=True, created_at__lt=stale)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - settings.OUTBOX_LOCK))
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    ids = list(due)
    if ids:
        OutboxEmail.objects.filter(pk__in=ids).update(enqueued_at=now)
    return ids


# --- The suppression list ---------------------------------------------------------------


class SuppressionError(Exception):
    """A change to the suppression list that cannot be made; the message is for people."""


def suppression_add(*, email: str, reason: str, detail: str = "") -> Suppression:
    """Put an address on the list, or return its entry if it is on already (the first
    reason stays). Safe to repeat and to race: the partial unique constraint keeps one
    active entry an address."""
    canonical = canonical_email(email)
    existing = Suppression.objects.filter(email_canonical=canonical, lifted_at__isnull=True).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Suppression.objects.create(email_canonical=canonical, reason=reason, detail=detail[:2000])
    except IntegrityError:
        # Another worker or click added it between our read and our insert.
        return Suppression.objects.get(email_canonical=canonical, lifted_at__isnull=True)


def suppression_add_refused(*, error: BaseException) -> list[Suppression]:
    """Suppress each recipient a mail server refused for good at RCPT TO (a 5xx).

    Only that refusal says the mailbox is not there: a 5xx to MAIL FROM or to DATA is about
    us or the message, and says nothing about the address."""
    if not isinstance(error, smtplib.SMTPRecipientsRefused):
        return []
    added = []
    for address, (code, reply) in error.recipients.items():
        if code >= 500:
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            added.append(
                suppression_add(email=address, reason=SuppressionReason.REFUSED, detail=f"{code} {text}")
            )
    return added


def suppression_lift(*, suppression: Suppression, by: AbstractBaseUser, reason: str) -> Suppression:
    """Take an address off the list, saying why; the entry stays as history. Lifting one
    already lifted changes nothing."""
    reason = reason.strip()
    if not reason:
        raise SuppressionError("Say why the address may be mailed again.")
    Suppression.objects.filter(pk=suppression.pk, lifted_at__isnull=True).update(
        lifted_at=timezone.now(), lifted_by=by, lift_reason=reason
    )
    suppression.refresh_from_db()
    return suppression
