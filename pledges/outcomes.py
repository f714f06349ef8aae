"""How promises went: the pledger's outcome and story, and the moves organisers make on
stories. Every write to them goes through here.

An outcome of "done" or "started" on a published pledge is counted by the live
counters (outcome:done, outcome:started), moved in the same transaction as the
answer, as a pledge's own status change moves the others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from campaigns.models import ModerationMode
from changeday.lib.mail import Links
from changeday.lib.tokens import make_token
from pledges.models import (
    CHANGE_OUTCOMES,
    PUBLIC_STATES,
    STORY_MAX_LENGTH,
    STORY_TRANSITIONS,
    Outcome,
    Pledge,
    Status,
    Story,
    StoryStatus,
    outcome_total_key,
)
from pledges.screening import parse_blocked_words, screen_pledge
from pledges.selectors import wall_changed
from pledges.services import InvalidTransition, PledgeError, counters_apply

OUTCOME_PURPOSE = "pledge-outcome"

# A pledge whose pledger may say how it went: confirmed and not taken back or refused.
ANSWERABLE_STATES: frozenset[str] = frozenset({Status.PUBLISHED, Status.PENDING, Status.HIDDEN})


class OutcomeError(PledgeError):
    """An outcome that cannot be recorded; the message is for people."""


def outcome_url(*, pledge: Pledge, links: Links | None = None) -> str:
    """The follow-through's link for one pledge: no account, no password. The token
    carries the public id only; it works until the campaign's outcomes close."""
    token = make_token(purpose=OUTCOME_PURPOSE, value=pledge.public_id)
    return (links or Links()).url("pledges:outcome", token=token)


@dataclass(frozen=True)
class OutcomeRecorded:
    pledge: Pledge
    story: Story | None


def _outcome_deltas(pledge: Pledge, *, was: str, now_outcome: str) -> dict[str, int]:
    if pledge.status not in PUBLIC_STATES:
        return {}
    deltas: dict[str, int] = {}
    for key, sign in ((outcome_total_key(was), -1), (outcome_total_key(now_outcome), 1)):
        if key:
            deltas[key] = deltas.get(key, 0) + sign
    return deltas


def _story_status(*, story: Story | None, text: str, public: bool, pledge: Pledge, flags: list[str]) -> str:
    if not public:
        return StoryStatus.PRIVATE
    unchanged = story is not None and story.text == text and story.public
    if unchanged:
        # The same words again: an organiser's decision on them stands.
        return story.status  # type: ignore[union-attr]
    if story is not None and story.status in (StoryStatus.REJECTED, StoryStatus.HIDDEN):
        # New words after a refusal go to an organiser, never straight back up.
        return StoryStatus.PENDING
    if flags or pledge.campaign.moderation_mode == ModerationMode.PRE:
        return StoryStatus.PENDING
    return StoryStatus.PUBLISHED


def pledge_outcome_record(
    *,
    pledge: Pledge,
    outcome: str,
    story_text: str = "",
    story_public: bool = False,
    now: datetime | None = None,
) -> OutcomeRecorded:
    """Record (or change) how a promise went, with an optional story of what changed.

    Safe to repeat: the same answer twice changes nothing. A story is screened as a
    pledge is (the patient-data guard included): in a post-moderated campaign a clean
    public story goes live at once, anything flagged waits for an organiser. An empty
    story removes the one told before."""
    now = now or timezone.now()
    if outcome not in Outcome.values:
        raise OutcomeError("Choose one of the answers: done, started, not yet, or it didn't work out.")
    story_text = story_text.strip()
    if len(story_text) > STORY_MAX_LENGTH:
        raise OutcomeError(f"Keep your story to {STORY_MAX_LENGTH} characters ({len(story_text)} now).")
    with transaction.atomic():
        pledge = Pledge.objects.select_for_update().select_related("campaign").get(pk=pledge.pk)
        campaign = pledge.campaign
        if not campaign.outcomes_open(now):
            raise OutcomeError(
                f"{campaign.name} stopped collecting outcomes on "
                f"{timezone.localtime(campaign.outcomes_close_at):%-d %B %Y}. Thank you all the same."
            )
        if pledge.status not in ANSWERABLE_STATES:
            raise OutcomeError(
                f"This pledge is {pledge.get_status_display().lower()}, so it has no outcome to record."
            )
        was = pledge.outcome
        if was != outcome:
            Pledge.objects.filter(pk=pledge.pk).update(outcome=outcome, outcome_at=now)
            by_organisation: dict[int, dict[str, int]] = {}
            if pledge.org_id is not None and pledge.status in PUBLIC_STATES:
                changes = {key: sign for key, sign in ((was, -1), (outcome, 1)) if key in CHANGE_OUTCOMES}
                by_organisation = {pledge.org_id: changes}
            counters_apply(
                campaign_id=pledge.campaign_id,
                deltas=_outcome_deltas(pledge, was=was, now_outcome=outcome),
                organisation_deltas=by_organisation,
            )
            pledge.outcome, pledge.outcome_at = outcome, now
            if pledge.status in PUBLIC_STATES:
                # The badge on the wall's shared cards changes with the answer, even when
                # no counter does (not yet → it didn't work out).
                campaign_id = pledge.campaign_id
                transaction.on_commit(lambda: wall_changed(campaign_id=campaign_id))
        story = _story_save(pledge=pledge, text=story_text, public=story_public, now=now)
    return OutcomeRecorded(pledge=pledge, story=story)


def _story_save(*, pledge: Pledge, text: str, public: bool, now: datetime) -> Story | None:
    story = Story.objects.select_for_update().filter(pledge=pledge).first()
    if not text:
        if story is not None:
            was_public = story.is_public
            story.delete()
            if was_public:
                _wall_changed_now_and_on_commit(pledge.campaign_id)
        return None
    # No count of identical stories: a story is about one pledge, and "we did it!" twice is no spam.
    flags = screen_pledge(text=text, blocked_words=parse_blocked_words(pledge.campaign.blocked_words))
    status = _story_status(story=story, text=text, public=public, pledge=pledge, flags=flags)
    if story is None:
        story = Story(pledge=pledge, campaign_id=pledge.campaign_id, created_at=now)
    changed_status = story.status != status or story.pk is None
    story.text, story.public, story.flags = text, public, flags
    if changed_status:
        story.status = status
        story.status_changed_at = now
    if status == StoryStatus.PUBLISHED and story.published_at is None:
        story.published_at = now
    story.save()
    _wall_changed_now_and_on_commit(pledge.campaign_id)
    return story


def _wall_changed_now_and_on_commit(campaign_id: int) -> None:
    # Now, and again once committed: a wall page cached between the two from the old
    # rows would otherwise show the old story for the cache's lifetime.
    wall_changed(campaign_id=campaign_id)
    transaction.on_commit(lambda: wall_changed(campaign_id=campaign_id))


def stories_move(*, stories: Sequence[Story], transition: str, now: datetime, **fields: object) -> None:
    """Make one named move (STORY_TRANSITIONS) for stories the caller has locked, in its
    transaction. A story whose status the move cannot start from is refused."""
    from_states, to = STORY_TRANSITIONS[transition]
    for story in stories:
        if story.status not in from_states:
            raise InvalidTransition(f"A {story.get_status_display().lower()} story cannot {transition}.")
        if story.status == StoryStatus.PRIVATE:
            raise InvalidTransition("The pledger kept this story private.")
    # One UPDATE per (status, first publication) group, not one per story: a bulk decision
    # on a page of the queue is a few statements, as it is for pledges (_pledges_move).
    groups: dict[tuple[str, bool], list[Story]] = defaultdict(list)
    for story in stories:
        first_publication = to == StoryStatus.PUBLISHED and story.published_at is None
        groups[(story.status, first_publication)].append(story)
    for (was, first_publication), group in groups.items():
        values = {"status": to, "status_changed_at": now, **fields}
        if first_publication:
            values["published_at"] = now
        updated = Story.objects.filter(pk__in=[story.pk for story in group], status=was).update(**values)
        if updated != len(group):
            raise InvalidTransition("This story was changed by someone else a moment ago.")
        for story in group:
            for name, value in values.items():
                setattr(story, name, value)
    for campaign_id in {story.campaign_id for story in stories}:
        _wall_changed_now_and_on_commit(campaign_id)
