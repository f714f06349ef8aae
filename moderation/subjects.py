"""What organisers moderate, seen through one small protocol.

A decision is the same steps whatever it is about: validate the request, lock the
things decided on in id order, apply the move each one's own app defines, record
it in the audit, and queue what follows on commit. A kind of subject supplies the
parts that differ. Pledges are the first kind; stories of what people did will
register as a second, with their own states and moves, without changing the steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from django.db.models import F

from moderation.models import Action, Subject
from outbox.services import outbox_queue_many
from pledges import services as pledge_services
from pledges.models import STORY_TRANSITIONS, TRANSITIONS, EmailKind, Pledge, Status, Story, StoryStatus
from pledges.outcomes import ANSWERABLE_STATES, stories_move


class Moderatable(Protocol):
    """One thing decided on: a row with a public id and a status."""

    pk: Any
    public_id: str
    status: str

    def get_status_display(self) -> str: ...


class ModerationSubject(Protocol):
    """A kind of thing organisers decide about."""

    kind: str
    # action -> (the statuses it may start from, the status it leads to)
    transitions: Mapping[str, tuple[frozenset[str], str]]

    def lock(self, ids: Sequence[int]) -> list[Moderatable]:
        """The rows, locked for the caller's transaction, in id order (so two bulk
        decisions never wait on each other in opposite orders)."""
        ...

    def apply(self, items: Sequence[Moderatable], *, action: str, reason: str, now: datetime) -> None:
        """Move every item by `action` in the caller's transaction; `reason` is the
        organiser's reason for a rejection, as the subject keeps it."""
        ...

    def audit_target(self, item: Moderatable) -> dict[str, Any]:
        """The ModerationEvent fields that name the item."""
        ...

    def version(self, item: Moderatable) -> str:
        """What the organiser saw of the item, beyond its status, that someone else may
        change meanwhile ("" when nothing can): a decision on other words is skipped."""
        ...

    def refusal(self, item: Moderatable, *, action: str) -> str:
        """Why the item may not make this move although its status allows it ("" if
        nothing stops it), in words for the organiser."""
        ...

    def after_decision(self, items: Sequence[Moderatable], *, action: str, was: Mapping[Any, str]) -> None:
        """Queue what follows a decision (emails) to happen on commit."""
        ...


class PledgeSubject:
    """Pledges: their status machine and counters live in pledges (pledges_move)."""

    kind = "pledge"
    transitions = TRANSITIONS

    def lock(self, ids: Sequence[int]) -> list[Pledge]:
        return list(
            Pledge.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .filter(pk__in=list(ids))
            .order_by("pk")
        )

    def apply(self, items: Sequence[Pledge], *, action: str, reason: str, now: datetime) -> None:
        fields = {"rejection_reason": reason} if action == Action.REJECT else {}
        pledge_services.pledges_move(pledges=items, transition=action, now=now, **fields)

    def audit_target(self, item: Pledge) -> dict[str, Any]:
        return {"pledge": item, "subject": Subject.PLEDGE}

    def version(self, item: Pledge) -> str:
        # A pledge's words never change once made.
        return ""

    def refusal(self, item: Pledge, *, action: str) -> str:
        return ""

    def after_decision(self, items: Sequence[Pledge], *, action: str, was: Mapping[Any, str]) -> None:
        owed: list[tuple[str, int]] = []
        for pledge in items:
            if not pledge.email_canonical:
                # A paper pledge entered without an address: nobody to tell.
                continue
            if action == Action.REJECT and was[pledge.pk] != Status.UNCONFIRMED:
                owed.append((EmailKind.REJECTED, pledge.pk))
            elif action == Action.PUBLISH and was[pledge.pk] == Status.PENDING:
                owed.append((EmailKind.PUBLISHED, pledge.pk))
        # One INSERT, and the emails handed to the workers on commit.
        outbox_queue_many(emails=owed)


def story_version(text: str) -> str:
    """A short digest of a story's words, carried by its card in the queue."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class StorySubject:
    """Stories of what changed: their states and moves live in pledges.outcomes
    (stories_move, which also refuses to publish a story its pledger kept private).

    A story is named by its pledge's public id, annotated on the row: it has none of
    its own, and database ids never reach a page."""

    kind = Subject.STORY.value
    transitions = STORY_TRANSITIONS

    def lock(self, ids: Sequence[int]) -> list[Story]:
        return list(
            Story.objects.select_for_update(of=("self",))
            # The pledge is read, not locked: the pledger's answer locks the pledge and
            # then its story, so locking both here, story first, could deadlock with it.
            .annotate(public_id=F("pledge__public_id"), pledge_status=F("pledge__status"))
            .filter(pk__in=list(ids))
            .order_by("pk")
        )

    def apply(self, items: Sequence[Story], *, action: str, reason: str, now: datetime) -> None:
        fields = {"rejection_reason": reason} if action == Action.REJECT else {}
        stories_move(stories=items, transition=action, now=now, **fields)

    def audit_target(self, item: Story) -> dict[str, Any]:
        return {"pledge_id": item.pledge_id, "subject": self.kind}

    def version(self, item: Story) -> str:
        # The pledger may rewrite a waiting story from their link while an organiser
        # reads it: publishing must apply to the words the organiser read.
        return story_version(item.text)

    def refusal(self, item: Story, *, action: str) -> str:
        # A story goes up only beside its pledge: not for one its pledger withdrew or
        # an organiser rejected (hiding or rejecting such a story stays possible).
        going_up = STORY_TRANSITIONS[action][1] == StoryStatus.PUBLISHED
        if going_up and item.pledge_status not in ANSWERABLE_STATES:  # type: ignore[attr-defined]
            return f"Its pledge is {Status(item.pledge_status).label.lower()}."  # type: ignore[attr-defined]
        return ""

    def after_decision(self, items: Sequence[Story], *, action: str, was: Mapping[Any, str]) -> None:
        # No email: the pledger sees their story's state on their outcome page, and
        # one more message after the follow-through's own would be one too many.
        return None


PLEDGES = PledgeSubject()
STORIES = StorySubject()

_subjects: dict[str, ModerationSubject] = {PLEDGES.kind: PLEDGES}


def subject_register(subject: ModerationSubject) -> None:
    """A new kind of subject joins the queue's decisions (from its AppConfig.ready)."""
    _subjects[subject.kind] = subject


def subject_get(kind: str) -> ModerationSubject:
    return _subjects[kind]
