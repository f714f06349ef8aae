"""A decision is the same steps whatever it is about: a kind of subject supplies how
to lock, move and name its rows, and what follows; the audit has a word for every move."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest

from conftest import create_pledge
from moderation.models import Action, ModerationEvent
from moderation.services import decision_validate, subject_decide
from moderation.subjects import PLEDGES, PledgeSubject
from pledges.models import Pledge, Status, Transition

pytestmark = pytest.mark.django_db


def test_every_move_a_pledge_can_make_has_its_word_in_the_audit() -> None:
    # Beside the moves, the audit has one line that is not a move: a pledge typed in from a
    # paper card (pledges.paper), its first line as a confirmation is an online pledge's.
    assert set(Action.values) - set(Transition.values) == {Action.PAPER_ENTRY}
    assert set(Transition.values) <= set(Action.values)
    assert set(PLEDGES.transitions) == set(Transition.values)


class _FeaturedPledges(PledgeSubject):
    """A stand-in for a second kind of subject (stories are next): its own move,
    from pending straight to published, and its own record of what followed."""

    kind = "featured"
    transitions = {Action.PUBLISH: (frozenset({Status.PENDING}), Status.PUBLISHED)}

    def __init__(self) -> None:
        self.locked: list[int] = []
        self.followed: list[tuple[str, dict[Any, str]]] = []

    def lock(self, ids: Sequence[int]) -> list[Pledge]:
        rows = super().lock(ids)
        self.locked = [row.pk for row in rows]
        return rows

    def apply(self, items: Sequence[Pledge], *, action: str, reason: str, now: datetime) -> None:
        super().apply(items, action=Transition.PUBLISH, reason=reason, now=now)

    def after_decision(self, items: Sequence[Pledge], *, action: str, was: Mapping[Any, str]) -> None:
        self.followed.append((action, dict(was)))


def test_a_second_kind_of_subject_is_decided_through_the_same_steps(
    pre_campaign: Any, organiser: Any
) -> None:
    subject = _FeaturedPledges()
    waiting = [create_pledge(pre_campaign, n) for n in (2, 1)]
    decided = subject_decide(
        subject=subject,
        ids=[pledge.pk for pledge in waiting] + [987654321],
        decision=decision_validate(action=Action.PUBLISH),
        actor=organiser,
    )

    assert subject.locked == sorted(pledge.pk for pledge in waiting)
    assert {pledge.pk for pledge in decided.done} == {pledge.pk for pledge in waiting}
    assert decided.skipped == [("987654321", "It no longer exists.")]
    assert subject.followed == [(Action.PUBLISH, {pledge.pk: Status.PENDING for pledge in waiting})]
    events = ModerationEvent.objects.filter(actor=organiser, action=Action.PUBLISH)
    assert [event.to_status for event in events] == [Status.PUBLISHED] * 2
    assert set(Pledge.objects.values_list("status", flat=True)) == {Status.PUBLISHED}
