"""Every write of moderation: organisers' decisions, visitors' reports, and the audit
of the moves nobody signed in made (the pledger withdrawing, the reports rule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from moderation.models import (
    ORGANISER_ACTIONS,
    Action,
    ModerationEvent,
    RejectionReason,
    Report,
    ReportReason,
    Subject,
)
from moderation.subjects import PLEDGES, STORIES, Moderatable, ModerationSubject
from pledges.models import PUBLIC_STATES, Pledge, Status, Transition
from pledges.paper import PaperEntered, organiser_name
from pledges.services import PledgeError, PledgeMoved, pledge_transition

REASON_MAX = 500


class ModerationError(PledgeError):
    """A decision or report that cannot be carried out; the message is for people."""


@dataclass(frozen=True)
class Decision:
    """One organiser decision, checked: what to do, and why (for a rejection)."""

    action: str
    reason_code: str = ""
    reason_text: str = ""

    @property
    def reason(self) -> str:
        """The reason as the subject keeps it, shown to the person it was about."""
        if self.action != Action.REJECT:
            return ""
        label = RejectionReason(self.reason_code).label
        return f"{label}: {self.reason_text}" if self.reason_text else label


@dataclass(frozen=True)
class ModerationResult:
    done: list[Any]
    # (public id, why) for each item the action did not apply to.
    skipped: list[tuple[str, str]]


def decision_validate(*, action: str, reason_code: str = "", reason_text: str = "") -> Decision:
    """The decision as it will be applied, or ModerationError saying what is wrong."""
    if action not in ORGANISER_ACTIONS:
        raise ModerationError("Choose publish, reject, hide or restore.")
    reason_text = reason_text.strip()
    if len(reason_text) > REASON_MAX:
        raise ModerationError(f"Keep the reason to {REASON_MAX} characters or fewer.")
    if action != Action.REJECT:
        return Decision(action=action, reason_text=reason_text)
    if reason_code not in RejectionReason.values:
        raise ModerationError("Choose a reason for rejecting from the list.")
    return Decision(action=action, reason_code=reason_code, reason_text=reason_text)


CHANGED_MEANWHILE = "It was changed since you saw it."


def _decidable(
    subject: ModerationSubject,
    items: list[Moderatable],
    *,
    action: str,
    expected_status: str | None,
    seen: Mapping[Any, str] | None,
) -> tuple[list[Moderatable], list[tuple[str, str]]]:
    """The locked items the action applies to, and why each other one is skipped: another
    organiser decided first (not the status this organiser saw), its words changed since
    (not the version seen), or the move is not allowed (by its status or the subject's rule)."""
    from_states, _ = subject.transitions[action]
    done: list[Moderatable] = []
    skipped: list[tuple[str, str]] = []
    for item in items:
        if seen is not None and seen.get(item.pk, "") != subject.version(item):
            skipped.append((item.public_id, CHANGED_MEANWHILE))
        elif (expected_status and item.status != expected_status) or item.status not in from_states:
            skipped.append((item.public_id, f"It is already {item.get_status_display().lower()}."))
        elif refusal := subject.refusal(item, action=action):
            skipped.append((item.public_id, refusal))
        else:
            done.append(item)
    return done, skipped


def _decision_record(
    subject: ModerationSubject,
    items: Sequence[Moderatable],
    *,
    decision: Decision,
    actor: AbstractBaseUser | None,
    was: dict[Any, str],
) -> None:
    _, to = subject.transitions[decision.action]
    ModerationEvent.objects.bulk_create(
        [
            ModerationEvent(
                **subject.audit_target(item),
                actor=actor,
                action=decision.action,
                from_status=was[item.pk],
                to_status=to,
                reason_code=decision.reason_code,
                reason_text=decision.reason_text,
            )
            for item in items
        ]
    )


def subject_decide(
    *,
    subject: ModerationSubject,
    ids: Sequence[int],
    decision: Decision,
    actor: AbstractBaseUser | None,
    expected_status: str | None = None,
    seen: Mapping[Any, str] | None = None,
    now: datetime | None = None,
) -> ModerationResult:
    """Apply one checked decision to one or many items of a subject, recording each.

    The items are locked for the whole decision, so two organisers acting at once are
    serialised and the second one's decision is skipped (expected_status is the status
    the organiser saw) rather than made twice. `seen` ({id: subject.version}), when
    given, skips an item whose words changed after the organiser read them: checked
    under the lock, so nobody can slip new words in between."""
    now = now or timezone.now()
    with transaction.atomic():
        items = subject.lock(ids)
        done, skipped = _decidable(
            subject, items, action=decision.action, expected_status=expected_status, seen=seen
        )
        was = {item.pk: item.status for item in done}
        if done:
            subject.apply(done, action=decision.action, reason=decision.reason, now=now)
            _decision_record(subject, done, decision=decision, actor=actor, was=was)
            subject.after_decision(done, action=decision.action, was=was)
    found = {item.pk for item in items}
    skipped += [(str(pk), "It no longer exists.") for pk in ids if pk not in found]
    return ModerationResult(done=done, skipped=skipped)


def subject_moderate(
    *,
    subject: ModerationSubject,
    ids: Sequence[int],
    action: str,
    actor: AbstractBaseUser | None,
    reason_code: str = "",
    reason_text: str = "",
    expected_status: str | None = None,
    seen: Mapping[Any, str] | None = None,
    now: datetime | None = None,
) -> ModerationResult:
    """Check an organiser's decision as they sent it, then apply it to one or many
    items of a subject, recording each."""
    decision = decision_validate(action=action, reason_code=reason_code, reason_text=reason_text)
    return subject_decide(
        subject=subject,
        ids=ids,
        decision=decision,
        actor=actor,
        expected_status=expected_status,
        seen=seen,
        now=now,
    )


def pledge_moderate(
    *,
    pledge_ids: Sequence[int],
    action: str,
    actor: AbstractBaseUser | None,
    reason_code: str = "",
    reason_text: str = "",
    expected_status: str | None = None,
    now: datetime | None = None,
) -> ModerationResult:
    """Apply one organiser decision to one or many pledges, recording each: the only
    way an organiser decides about pledges."""
    return subject_moderate(
        subject=PLEDGES,
        ids=pledge_ids,
        action=action,
        actor=actor,
        reason_code=reason_code,
        reason_text=reason_text,
        expected_status=expected_status,
        now=now,
    )


def story_moderate(
    *,
    story_ids: Sequence[int],
    action: str,
    actor: AbstractBaseUser | None,
    reason_code: str = "",
    reason_text: str = "",
    expected_status: str | None = None,
    seen: Mapping[int, str] | None = None,
    now: datetime | None = None,
) -> ModerationResult:
    """The same for stories of what changed: publish, reject with a reason, hide,
    restore. A story its pledger kept private is never published (pledges.outcomes).
    `seen` is {story id: story_version of the words the organiser read}."""
    return subject_moderate(
        subject=STORIES,
        ids=story_ids,
        action=action,
        actor=actor,
        reason_code=reason_code,
        reason_text=reason_text,
        expected_status=expected_status,
        seen=seen,
        now=now,
    )


def pledge_moved_record(moved: PledgeMoved) -> None:
    """A move made outside the queue in the audit: by the pledger (withdrawing) or the reports
    rule, with nobody named, or by an organiser at the pledger's request, named with their
    note of how the pledger asked. Registered with pledges at start-up (moderation.apps)."""
    _, to = PLEDGES.transitions[moved.transition]
    ModerationEvent.objects.create(
        pledge=moved.pledge,
        actor=moved.actor,
        action=moved.transition,
        from_status=moved.was,
        to_status=to,
        reason_text=moved.note[:REASON_MAX],
    )


def paper_entry_record(entered: PaperEntered) -> None:
    """Each pledge an organiser typed in from a paper card, in the audit as collected on
    paper: who entered it, from which card, that they saw the pledger's consent on it, and
    where it went (published, or waiting).
    Registered with pledges.paper at start-up (moderation.apps)."""
    ModerationEvent.objects.bulk_create(
        [
            ModerationEvent(
                pledge=pledge,
                subject=Subject.PLEDGE,
                actor=entered.organiser,
                action=Action.PAPER_ENTRY,
                from_status=Status.UNCONFIRMED,
                to_status=pledge.status,
                # The organiser's word, given by ticking the form's box, that the pledger's own
                # tick was on the card: the consent the pledge is published on. "Collected on
                # paper" is the action's own name, shown beside this.
                reason_text=(
                    f"Card {pledge.paper_reference}, "
                    f"consent to publish seen by {organiser_name(entered.organiser)}"
                )[:REASON_MAX],
            )
            for pledge in entered.pledges
        ]
    )


def pledge_report(
    *,
    pledge: Pledge,
    reporter_key: str,
    network_key: str,
    reason: str,
    detail: str = "",
    now: datetime | None = None,
) -> bool:
    """Record a visitor's report; hide the pledge once reports from the campaign's
    report_threshold of distinct client networks came in.

    Every report is stored for the organisers, a repeated one too; only the first
    from its network counts. Returns whether this one counted.
    """
    if reason not in ReportReason.values:
        raise ModerationError("Choose why you are reporting this pledge.")
    detail = detail.strip()
    if len(detail) > REASON_MAX:
        raise ModerationError(f"Keep the details to {REASON_MAX} characters or fewer.")
    if pledge.status not in PUBLIC_STATES:
        raise ModerationError("This pledge is not on the wall any more.")
    fields = {"pledge": pledge, "reporter_key": reporter_key, "network_key": network_key}
    with transaction.atomic():
        try:
            # The partial unique constraint decides which report of a network counts:
            # a second one sent at the same moment waits for this one and is refused.
            with transaction.atomic():
                Report.objects.create(**fields, reason=reason, detail=detail, counted=True)
        except IntegrityError:
            Report.objects.create(**fields, reason=reason, detail=detail, counted=False)
            return False
        # The UPDATE holds the pledge row until commit, so of two networks reporting at
        # once the later one reads the count with both in it.
        Pledge.objects.filter(pk=pledge.pk).update(report_count=F("report_count") + 1)
        pledge.refresh_from_db(fields=["report_count", "status"])
        if pledge.report_count >= pledge.campaign.report_threshold:
            _reports_hide(pledge=pledge, now=now)
    return True


def _reports_hide(*, pledge: Pledge, now: datetime | None) -> None:
    """The reports rule: a published pledge enough networks reported leaves the wall
    until an organiser looks (the audit records it through pledge_moved_record)."""
    pledge_transition(pledge=pledge, transition=Transition.AUTO_HIDE, now=now)


def pledger_audit_forget(*, email_canonical: str, pledge_ids: list[int]) -> None:
    """An erased pledger's decisions stay in the audit, without the pledge and
    without the organiser's reason, which may quote it. Registered with
    pledges.privacy at start-up (moderation.apps)."""
    ModerationEvent.objects.filter(pledge_id__in=pledge_ids).update(pledge=None, reason_text="")
