"""Every write to pledges goes through here."""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from campaigns.models import Campaign, ModerationMode, Phase
from changeday.lib.emailaddr import canonical_email
from changeday.lib.mail import Links, render_email
from changeday.lib.tokens import make_token
from organisations.models import Organisation, OrganisationSuggestion, SuggestionStatus
from organisations.selectors import domain_listed, organisation_has_domain, organisation_named
from organisations.services import (
    organisation_suggestion_get_or_create,
    organisation_totals_apply,
    organisation_totals_replace,
)
from outbox.kinds import EmailKindSpec, email_kind_register
from outbox.models import OutboxEmail
from outbox.services import outbox_hand_over, outbox_queue
from pledges.models import (
    CHANGE_OUTCOMES,
    PLEDGE_EMAIL_KINDS,
    PUBLIC_STATES,
    SECTOR_BITS,
    TOTAL_SHARDS,
    TRANSITIONS,
    Channel,
    EmailKind,
    Kind,
    Pledge,
    Region,
    Sector,
    SectorSlug,
    Status,
    TaggedSector,
    TotalShard,
    Transition,
    Verified,
    all_total_keys,
    new_public_id,
    sector_mask_for,
    sector_slugs_for,
    total_keys_for,
)
from pledges.screening import (
    DUPLICATE_THRESHOLD,
    FlagReason,
    email_quote,
    flags_with,
    parse_blocked_words,
    screen_pledge,
    without_contact_details,
)
from pledges.selectors import wall_changed
from pledges.sources import source_looks_made

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

CONFIRM_PURPOSE = "pledge-confirm"
WITHDRAW_PURPOSE = "pledge-withdraw"
DATA_PURPOSE = "pledger-data"
MAX_CONFIRMATION_EMAILS = 5
# At most this many pledge confirmations go to one address in any hour, however
# many pledges (in however many campaigns) name it: the form cannot be turned
# into a way to flood someone's inbox. Further ones wait in the outbox.
CONFIRMATIONS_PER_ADDRESS_PER_HOUR = 3
CONFIRMATION_CAP_WINDOW = timedelta(hours=1)
# First key of the advisory locks that serialise confirmations per address
# (_confirmations_serialise); the second is a hash of the address.
CONFIRMATION_LOCK_SPACE = 15_004


# The form's label reads "I pledge to…", and every page shows a pledge after those words, so a
# pledge typed the natural way ("I pledge to listen") would read "I pledge to I pledge to listen".
# Only this opening is removed, in any case and with any punctuation or ellipsis around "to"
# ("I pledge to…", "i pledge: to", "I PLEDGE - TO"); "I will pledge to" and "I pledge that"
# stay as typed, since taking them off could change what was meant.
_PLEDGE_OPENING = re.compile(r"\A\s*i\s+pledge[\s:;,.…\-–—]*to\b[\s:;,.…\-–—]*", re.IGNORECASE)
# As the form's limit (pledges.forms.TEXT_MIN): a pledge must still say something once the
# opening is gone.
PLEDGE_TEXT_MIN = 10


def pledge_text_clean(text: str) -> str:
    """The promise as stored: spaces trimmed and any typed "I pledge to" opening removed."""
    text = text.strip()
    while True:
        shorter = _PLEDGE_OPENING.sub("", text, count=1)
        if shorter == text:
            return text
        text = shorter


class PledgeError(Exception):
    """A pledge request that cannot be carried out; the message is for people."""


class CampaignNotOpen(PledgeError):
    pass


class PledgeFieldError(PledgeError):
    """A pledge field that breaks a rule (pledge_fields_check); `field` names it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidTransition(PledgeError):
    pass


@dataclass(frozen=True)
class PledgeCreateResult:
    pledge: Pledge
    created: bool


def pledge_dedupe_key(*, email: str, text: str) -> str:
    normalised = f"{canonical_email(email)}\n{' '.join(text.split()).lower()}"
    return hashlib.sha256(normalised.encode()).hexdigest()


def pledge_email_queue(*, pledge: Pledge, kind: str) -> OutboxEmail | None:
    """Owe an email about a pledge in the caller's transaction; it is sent once that commits.

    A pledge confirmation obeys the cap per address (_confirmation_not_before): it
    may wait in the outbox, or, if it could not go within a link's lifetime, is not
    owed at all (None). A pledge without an address (a paper card without one) is owed
    nothing, ever (None)."""
    if not pledge.email_canonical:
        return None
    if kind != EmailKind.CONFIRMATION:
        return outbox_queue(kind=kind, subject_id=pledge.pk)
    with transaction.atomic():
        _confirmations_serialise(email_canonical=pledge.email_canonical)
        now = timezone.now()
        not_before = _confirmation_not_before(email_canonical=pledge.email_canonical, now=now)
        if not_before is not None and not_before > now + settings.PLEDGE_CONFIRMATION_MAX_AGE:
            return None
        # One that waits is not handed over: outbox_claim_overdue queues it once due.
        return outbox_queue(kind=kind, subject_id=pledge.pk, not_before=not_before)


def _confirmations_serialise(*, email_canonical: str) -> None:
    """Hold this address's confirmation slots until the caller's transaction ends.

    The race: two pledges naming one address at the same moment each count two
    confirmations in the past hour and each take the third slot. On PostgreSQL a
    transaction-scoped advisory lock on the address makes the second wait until the
    first commits; its next statement then counts afresh (READ COMMITTED: a statement
    sees what committed before it began, so the count is never in the statement that
    takes the lock). SQLite's write transactions begin IMMEDIATE (settings): one
    writer at a time already."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(email_canonical.encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [CONFIRMATION_LOCK_SPACE, int.from_bytes(digest[:4], "big", signed=True)],
        )


def _confirmation_not_before(*, email_canonical: str, now: datetime) -> datetime | None:
    """When a new confirmation to this address may go: None for at once, else an
    hour after the third latest of those due within the past hour, so no hour ever
    holds more than CONFIRMATIONS_PER_ADDRESS_PER_HOUR of them. The caller holds
    _confirmations_serialise. _PLEDGE_INSERT_SQL's `paced` is this rule in SQL."""
    due = (
        OutboxEmail.objects.filter(
            kind=EmailKind.CONFIRMATION,
            subject_id__in=Pledge.objects.filter(email_canonical=email_canonical).values("pk"),
        )
        .annotate(due=Coalesce("not_before", "created_at"))
        .filter(due__gt=now - CONFIRMATION_CAP_WINDOW)
        .order_by("-due")
        .values_list("due", flat=True)
    )
    third = list(due[CONFIRMATIONS_PER_ADDRESS_PER_HOUR - 1 : CONFIRMATIONS_PER_ADDRESS_PER_HOUR])
    return third[0] + CONFIRMATION_CAP_WINDOW if third else None


def pledge_create(
    *,
    campaign: Campaign,
    text: str,
    display_name: str,
    is_anonymous: bool,
    role: str,
    organisation: str,
    region: str,
    kind: str,
    sectors: list[str],
    email: str,
    consent_to_publish: bool,
    wants_reminders: bool,
    submission_token: uuid.UUID,
    send_confirmation: bool = True,
    now: datetime | None = None,
    org: Organisation | None = None,
    source: str = "",
) -> PledgeCreateResult:
    """Store a pledge awaiting email confirmation and queue its confirmation email.

    `org` is the organisation chosen from the directory; without one, a typed
    `organisation` is linked to the directory by its exact name or kept as a suggestion
    (_organisation_link). `source` is the tag of the poster or card that brought the pledger
    (pledges.sources): one the site makes, or "".

    A second submission of the same form, or of the same promise from the same
    address, returns the pledge already stored (created=False) and stores nothing.
    """
    now = now or timezone.now()
    pledge_campaign_open(campaign=campaign, now=now)
    text = pledge_fields_check(text=text, sectors=sectors, region=region, kind=kind)
    if not consent_to_publish:
        raise PledgeError("We can only take pledges we may publish.")
    if source != source_looks_made(source):
        # The form drops any other; a caller passing one is a mistake, not a pledger's.
        raise ValueError(f"Not a source tag the site makes: {source!r}")
    dedupe_key = pledge_dedupe_key(email=email, text=text)
    pledge, sectors = pledge_build(
        campaign=campaign,
        text=text,
        display_name=display_name,
        is_anonymous=is_anonymous,
        role=role,
        organisation=organisation,
        org=org,
        region=region,
        kind=kind,
        sectors=sectors,
        email=email,
        wants_reminders=wants_reminders,
        submission_token=submission_token,
        dedupe_key=dedupe_key,
        source=source,
    )
    for _ in range(3):
        stored = pledge_insert(pledge, sectors=sectors, send_confirmation=send_confirmation)
        if stored:
            return PledgeCreateResult(pledge=pledge, created=True)
        existing = (
            Pledge.objects.filter(campaign=campaign)
            .filter(Q(submission_token=submission_token) | Q(dedupe_key=dedupe_key))
            .first()
        )
        if existing is not None:
            _resend_confirmation_if_owed(
                pledge=existing,
                same_form=existing.submission_token == submission_token,
                enabled=send_confirmation,
            )
            return PledgeCreateResult(pledge=existing, created=False)
        # Only the public id collided (about one chance in 2**59 a pledge): draw another.
        pledge.public_id = new_public_id()
    raise IntegrityError("Could not store the pledge under a fresh public id")


def pledge_campaign_open(*, campaign: Campaign, now: datetime) -> None:
    """CampaignNotOpen, saying when, unless the campaign takes pledges at `now`."""
    phase = campaign.phase(now)
    if phase is Phase.UPCOMING:
        raise CampaignNotOpen(
            f"Pledging for {campaign.name} opens on "
            f"{timezone.localtime(campaign.opens_at):%-d %B %Y at %H:%M}."
        )
    if phase is Phase.CLOSED:
        raise CampaignNotOpen(f"Pledging for {campaign.name} has closed. Thank you to everyone who pledged.")


def pledge_fields_check(*, text: str, sectors: list[str], region: str, kind: str) -> str:
    """The rules every pledge meets however it reached us (the form, a paper card): the
    promise as stored (pledge_text_clean), or PledgeError saying what is wrong."""
    text = pledge_text_clean(text)
    if not text:
        raise PledgeFieldError("Write your pledge.", field="text")
    if len(text) < PLEDGE_TEXT_MIN:
        raise PledgeFieldError(
            f'Your pledge needs at least {PLEDGE_TEXT_MIN} characters after "I pledge to": '
            "say what you will do.",
            field="text",
        )
    if not sectors or any(slug not in SECTOR_BITS for slug in sectors):
        raise PledgeFieldError("Choose at least one of the listed sectors.", field="sectors")
    if region not in Region.values:
        raise PledgeFieldError("Choose a region and a kind of pledge from the lists.", field="region")
    if kind not in Kind.values:
        raise PledgeFieldError("Choose a region and a kind of pledge from the lists.", field="kind")
    return text


def pledge_build(
    *,
    campaign: Campaign,
    text: str,
    display_name: str,
    is_anonymous: bool,
    role: str,
    organisation: str,
    org: Organisation | None,
    region: str,
    kind: str,
    sectors: list[str],
    email: str,
    wants_reminders: bool,
    submission_token: uuid.UUID,
    dedupe_key: str,
    **extra: object,
) -> tuple[Pledge, list[str]]:
    """A new pledge, not yet stored, screened, with its organisation linked, and the sector
    slugs to tag it with (sorted). `text` has passed pledge_fields_check. `extra` sets other
    fields (a paper pledge's channel, card reference and who entered it)."""
    org, suggestion, organisation = _organisation_link(org=org, typed=organisation)
    # The tags are the record of a pledge's sectors; sector_mask is derived from the very
    # slugs the insert tags it with, by the one function every write path calls.
    sectors = sorted(set(sectors))
    pledge = Pledge(
        campaign=campaign,
        public_id=new_public_id(),
        text=text,
        display_name="" if is_anonymous else display_name.strip(),
        is_anonymous=is_anonymous,
        role=role.strip(),
        organisation=organisation,
        org=org,
        org_suggestion=suggestion,
        region=region,
        kind=kind,
        sector_mask=sector_mask_for(sectors),
        email=email.strip(),
        email_canonical=canonical_email(email),
        consent_to_publish=True,
        wants_reminders=wants_reminders,
        submission_token=submission_token,
        dedupe_key=dedupe_key,
        text_hash=pledge_text_hash(text=text),
        # Every field that is shown in public is screened, not only the promise. DUPLICATE
        # depends on the pledges already stored, so the insert adds it (pledge_insert).
        flags=screen_pledge(
            text="\n".join(part for part in (text, display_name, role, organisation) if part),
            blocked_words=parse_blocked_words(campaign.blocked_words),
        ),
        **extra,
    )
    return pledge, sectors


def pledge_insert(pledge: Pledge, *, sectors: list[str], send_confirmation: bool) -> bool:
    """Store a built pledge (pledge_build) with its sector tags and, if asked, its confirmation
    email; False, storing nothing, when a unique key (the form's token, the same promise from
    the same address, a paper card's reference, the public id) already holds a pledge."""
    if connection.vendor == "postgresql":
        return _pledge_insert_postgresql(pledge, sectors=sectors, send_confirmation=send_confirmation)
    return _pledge_insert_orm(pledge, sectors=sectors, send_confirmation=send_confirmation)


def _organisation_link(
    *, org: Organisation | None, typed: str
) -> tuple[Organisation | None, OrganisationSuggestion | None, str]:
    """The directory entry a pledge counts for, the suggestion it waits on, and the name
    it shows. A chosen organisation shows its directory name. A typed name the directory
    holds exactly once counts for that organisation, as if chosen. Any other typed name
    becomes (or joins) a suggestion for organisers, and counts for the organisation an
    organiser has already mapped or accepted it as."""
    if org is not None:
        return org, None, org.name
    typed = typed.strip()
    if not typed:
        return None, None, ""
    named = organisation_named(name=typed)
    if named is not None:
        return named, None, typed
    suggestion = organisation_suggestion_get_or_create(name=typed)
    if suggestion.status != SuggestionStatus.OPEN and suggestion.organisation_id is not None:
        return suggestion.organisation, suggestion, typed
    return None, suggestion, typed


# A new pledge, its sector tags and its confirmation email in one statement: one round trip
# and one commit instead of eight statements through the ORM, which were most of a pledge
# submission's time (bench/README.md). ON CONFLICT DO NOTHING turns a double submission into
# no row rather than an error. The count of identical texts stops at the threshold. `paced` is
# _confirmation_not_before in SQL: an hour after the third latest confirmation to the address
# due within the past hour (NULL: at once); one that could not go within a link's lifetime is
# not owed. The caller holds _confirmations_serialise, taken in an earlier statement.
_PLEDGE_INSERT_SQL = """
WITH identical AS (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM pledges_pledge WHERE campaign_id = %s AND text_hash = %s LIMIT %s
    ) AS same
), paced AS (
    SELECT (
        SELECT due FROM (
            SELECT COALESCE(owed.not_before, owed.created_at) AS due
            FROM outbox_outboxemail AS owed JOIN pledges_pledge AS named ON named.id = owed.subject_id
            WHERE named.email_canonical = %s AND owed.kind = %s
        ) AS confirmations
        WHERE due > %s ORDER BY due DESC OFFSET %s LIMIT 1
    ) + %s AS not_before
), pledge AS (
    INSERT INTO pledges_pledge ({columns})
    SELECT {values} FROM identical
    ON CONFLICT DO NOTHING
    RETURNING id, flags
), tags AS (
    INSERT INTO pledges_taggedsector (content_object_id, tag_id)
    SELECT pledge.id, sector.id FROM pledge JOIN pledges_sector AS sector ON sector.slug = ANY(%s)
    RETURNING 1
), outbox AS (
    INSERT INTO outbox_outboxemail (subject_id, kind, created_at, not_before, attempts, last_error)
    SELECT pledge.id, %s, %s, paced.not_before, 0, '' FROM pledge, paced
    WHERE %s AND (paced.not_before IS NULL OR paced.not_before <= %s)
    RETURNING id, not_before
)
SELECT pledge.id, pledge.flags, (SELECT count(*) FROM tags), (SELECT id FROM outbox),
    (SELECT not_before FROM outbox)
FROM pledge
"""
_PLEDGE_COLUMNS = [field for field in Pledge._meta.concrete_fields if not field.primary_key]


@functools.cache
def _pledge_insert_statement() -> str:
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _PLEDGE_COLUMNS)
    values = ", ".join(
        "CASE WHEN identical.n >= %s THEN %s ELSE %s END" if field.name == "flags" else "%s"
        for field in _PLEDGE_COLUMNS
    )
    return _PLEDGE_INSERT_SQL.format(columns=columns, values=values)


def _pledge_insert_postgresql(pledge: Pledge, *, sectors: list[str], send_confirmation: bool) -> bool:
    """Store `pledge` with its tags and its confirmation email; False if a unique key
    (the form's token, the same promise from the same address) already holds a pledge."""
    values: list[object] = []
    for field in _PLEDGE_COLUMNS:
        value = field.pre_save(pledge, add=True)
        if field.name == "flags":
            # CASE WHEN identical.n >= threshold THEN <with DUPLICATE> ELSE <as screened> END
            values.append(DUPLICATE_THRESHOLD)
            values.append(field.get_db_prep_save(flags_with(value, FlagReason.DUPLICATE), connection))
        values.append(field.get_db_prep_save(value, connection))
    created_at = pledge.created_at
    window = CONFIRMATION_CAP_WINDOW
    paced = [pledge.email_canonical, EmailKind.CONFIRMATION, created_at - window]
    paced += [CONFIRMATIONS_PER_ADDRESS_PER_HOUR - 1, window]
    with transaction.atomic():
        if send_confirmation:
            _confirmations_serialise(email_canonical=pledge.email_canonical)
        with connection.cursor() as cursor:
            cursor.execute(
                _pledge_insert_statement(),
                [pledge.campaign_id, pledge.text_hash, DUPLICATE_THRESHOLD, *paced, *values]
                + [sectors, EmailKind.CONFIRMATION, created_at, send_confirmation]
                + [created_at + settings.PLEDGE_CONFIRMATION_MAX_AGE],
            )
            row = cursor.fetchone()
        if row is not None:
            _pledge_inserted(pledge, row=row, sectors=sectors)
    return row is not None


def _pledge_inserted(pledge: Pledge, *, row: tuple[object, ...], sectors: list[str]) -> None:
    """What _PLEDGE_INSERT_SQL stored, put back on `pledge`; the email handed over on commit."""
    pledge.pk, flags, tag_count, outbox_id, not_before = row
    pledge.flags = Pledge._meta.get_field("flags").from_db_value(flags, None, connection)
    pledge._state.adding, pledge._state.db = False, connection.alias
    if tag_count < len(sectors):
        # A migration makes the sector rows; a database flushed since (as test suites do)
        # has none, so the statement tagged nothing. Make them and tag the pledge now.
        TaggedSector.objects.bulk_create(
            [TaggedSector(content_object=pledge, tag=tag) for tag in _sector_tags(sectors)],
            ignore_conflicts=True,
        )
    if outbox_id is not None and not_before is None:
        # One that waits is not handed over: outbox_claim_overdue queues it once due.
        transaction.on_commit(lambda: outbox_hand_over([outbox_id]))


def _pledge_insert_orm(pledge: Pledge, *, sectors: list[str], send_confirmation: bool) -> bool:
    """_pledge_insert_postgresql through the ORM, for SQLite under `make run`."""
    identical = Pledge.objects.filter(campaign=pledge.campaign, text_hash=pledge.text_hash)
    if identical[:DUPLICATE_THRESHOLD].count() >= DUPLICATE_THRESHOLD:
        pledge.flags = flags_with(pledge.flags, FlagReason.DUPLICATE)
    try:
        with transaction.atomic():
            pledge.save(force_insert=True)
            TaggedSector.objects.bulk_create(
                [TaggedSector(content_object=pledge, tag=tag) for tag in _sector_tags(sectors)]
            )
            if send_confirmation:
                pledge_email_queue(pledge=pledge, kind=EmailKind.CONFIRMATION)
    except IntegrityError:
        pledge.pk = pledge.id = None
        pledge._state.adding = True
        return False
    return True


def pledge_text_hash(*, text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest()


def _resend_confirmation_if_owed(*, pledge: Pledge, same_form: bool, enabled: bool) -> None:
    """Someone pledged the same promise again (a new form, not a double click)
    while it is still unconfirmed: they lost the link, or it expired. The page
    says the same as ever; the new link comes by email."""
    if same_form or not enabled or pledge.status != Status.UNCONFIRMED:
        return
    # Bounded, so the form cannot be used to flood someone's inbox.
    sent = OutboxEmail.objects.filter(kind=EmailKind.CONFIRMATION, subject_id=pledge.pk)
    if sent.count() >= MAX_CONFIRMATION_EMAILS:
        return
    with transaction.atomic():
        pledge_email_queue(pledge=pledge, kind=EmailKind.CONFIRMATION)


def _sector_tags(slugs: list[str]) -> list[Sector]:
    tags = list(Sector.objects.filter(slug__in=slugs))
    if len(tags) < len(set(slugs)):
        # A migration makes the four rows; a database flushed since (as test
        # suites do) must still take pledges, so make what is missing.
        for slug in set(slugs) - {tag.slug for tag in tags}:
            tag, _ = Sector.objects.get_or_create(
                slug=slug, defaults={"name": SectorSlug(slug).label, "bit": SECTOR_BITS[slug]}
            )
            tags.append(tag)
    return tags


def totals_apply(*, campaign_id: int, deltas: dict[str, int]) -> None:
    """Add deltas to the live counters on one random shard, in the caller's transaction."""
    deltas = {key: delta for key, delta in deltas.items() if delta}
    if not deltas:
        return
    # A pledge joined or left the public pages: the wall's shared pages go now,
    # and again on commit, in case one was made from the old rows meanwhile.
    wall_changed(campaign_id=campaign_id)
    transaction.on_commit(lambda: wall_changed(campaign_id=campaign_id))
    shard = random.randrange(TOTAL_SHARDS)
    rows = TotalShard.objects.filter(campaign_id=campaign_id, shard=shard, key__in=list(deltas))
    # Lock in key order, as campaign_recompute_totals does: two writers (or a
    # writer and the recount) never wait on each other in opposite orders.
    present = set(rows.select_for_update().order_by("key").values_list("key", flat=True))
    missing = set(deltas) - present
    if missing:
        TotalShard.objects.bulk_create(
            [TotalShard(campaign_id=campaign_id, key=key, shard=shard) for key in sorted(missing)],
            ignore_conflicts=True,
        )
    rows.update(
        value=F("value") + Case(*[When(key=key, then=Value(delta)) for key, delta in deltas.items()]),
        updated_at=timezone.now(),
    )


def _totals_delta(pledge: Pledge, sign: int) -> dict[str, int]:
    keys = total_keys_for(
        sector_mask=pledge.sector_mask, region=pledge.region, kind=pledge.kind, outcome=pledge.outcome
    )
    return dict.fromkeys(keys, sign)


def organisation_counts(*, sector_mask: int, outcome: str) -> dict[str, int]:
    """What one published pledge adds to its organisation's counters (OrganisationTotal)."""
    counts = {"pledges": 1}
    for slug in sector_slugs_for(sector_mask):
        counts[slug.replace("-", "_")] = 1
    if outcome in CHANGE_OUTCOMES:
        counts[outcome] = 1
    return counts


def organisation_deltas(pledges: Sequence[Pledge], *, sign: int) -> dict[int, dict[str, int]]:
    deltas: dict[int, dict[str, int]] = {}
    for pledge in pledges:
        if pledge.org_id is None:
            continue
        mine = deltas.setdefault(pledge.org_id, {})
        for field, n in organisation_counts(sector_mask=pledge.sector_mask, outcome=pledge.outcome).items():
            mine[field] = mine.get(field, 0) + sign * n
    return deltas


def _pledges_move(
    *, pledges: Sequence[Pledge], to: str, now: datetime, **fields: object
) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
    """The one place a status changes, for one pledge or many that share their
    status and new field values (a bulk decision: one UPDATE, not one each).
    Returns the deltas of the campaign's counters and of its organisations' for the
    caller to apply (counters_apply), so totals and statuses can never disagree."""
    was = pledges[0].status
    assert all(pledge.status == was for pledge in pledges), "one status per move"
    updated = Pledge.objects.filter(pk__in=[pledge.pk for pledge in pledges], status=was).update(
        status=to, status_changed_at=now, **fields
    )
    if updated != len(pledges):
        raise InvalidTransition("This pledge was changed by someone else a moment ago.")
    deltas: dict[str, int] = {}
    by_organisation: dict[int, dict[str, int]] = {}
    if (was in PUBLIC_STATES) != (to in PUBLIC_STATES):
        sign = 1 if to in PUBLIC_STATES else -1
        for pledge in pledges:
            for key in _totals_delta(pledge, sign):
                deltas[key] = deltas.get(key, 0) + sign
        by_organisation = organisation_deltas(pledges, sign=sign)
    for pledge in pledges:
        pledge.status = to
        pledge.status_changed_at = now
        for name, value in fields.items():
            setattr(pledge, name, value)
    return deltas, by_organisation


def _deltas_add(into: dict[Any, Any], more: Mapping[Any, Any]) -> None:
    """Sum nested {key: delta} (or {organisation: {field: delta}}) maps into the first."""
    for key, value in more.items():
        if isinstance(value, dict):
            _deltas_add(into.setdefault(key, {}), value)
        else:
            into[key] = into.get(key, 0) + value


def counters_apply(
    *, campaign_id: int, deltas: dict[str, int], organisation_deltas: Mapping[int, Mapping[str, int]]
) -> None:
    """Move a campaign's live counters, then its organisations', in the caller's transaction.
    Always in this order, the order campaign_recompute_totals locks them in: a move that
    took an organisation's row first and then waited for the campaign's rows deadlocked
    with a recount holding those and waiting for the organisation's."""
    totals_apply(campaign_id=campaign_id, deltas=deltas)
    organisation_totals_apply(campaign_id=campaign_id, deltas=organisation_deltas)


def pledge_verification(*, pledge: Pledge) -> str:
    """What confirming from this address shows (Verified): staff of the chosen organisation
    when the domain is one of its own, staff of a shared domain the campaign lists (nhs.net)
    without naming anyone, or nothing. Read from the canonical address, so a look-alike
    domain verifies nothing. A paper pledge's address was typed by an organiser and never
    confirmed by its owner, so it verifies nothing either."""
    if pledge.channel == Channel.PAPER:
        return ""
    domain = pledge.email_canonical.rpartition("@")[2]
    if pledge.org_id is not None and organisation_has_domain(organisation_id=pledge.org_id, domain=domain):
        return Verified.STAFF
    if domain_listed(domain=domain, listed=re.split(r"[\s,]+", pledge.campaign.staff_domains)):
        return Verified.SHARED_DOMAIN
    return ""


def pledge_confirm(*, pledge: Pledge, now: datetime | None = None) -> Pledge:
    """Confirm the pledger's email: publish (post-moderation) or queue for review.

    Safe to repeat: a pledge already confirmed is returned unchanged, so a second
    click or a mail scanner following the link does no harm.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Row lock: two clicks at once must not both move the pledge.
        pledge = Pledge.objects.select_for_update().select_related("campaign").get(pk=pledge.pk)
        if pledge.status != Status.UNCONFIRMED:
            return pledge
        pledges_confirm_held(pledges=[pledge], now=now)
    return pledge


def pledges_confirm_held(*, pledges: Sequence[Pledge], now: datetime) -> None:
    """Confirm unconfirmed pledges of one campaign that the caller's transaction holds
    (locked, or inserted by it): each is published, or waits for an organiser when the
    campaign pre-moderates or screening flagged it, exactly as a clicked link does. One
    UPDATE per group that moves alike and the live counters moved once, so a paper file of
    hundreds takes the counters' shard locks once, for the end of its transaction only."""
    if not pledges:
        return
    campaign = pledges[0].campaign
    assert all(pledge.campaign_id == campaign.pk for pledge in pledges), "one campaign per call"
    groups: dict[tuple[str, str], list[Pledge]] = {}
    for pledge in pledges:
        held = campaign.moderation_mode == ModerationMode.PRE or bool(pledge.flags)
        to = Status.PENDING if held else Status.PUBLISHED
        groups.setdefault((to, pledge_verification(pledge=pledge)), []).append(pledge)
    deltas: dict[str, int] = {}
    by_organisation: dict[int, dict[str, int]] = {}
    for (to, verified), group in groups.items():
        fields: dict[str, object] = {"confirmed_at": now, "verified": verified}
        if to == Status.PUBLISHED:
            fields["published_at"] = now
        moved, moved_organisations = _pledges_move(pledges=group, to=to, now=now, **fields)
        _deltas_add(deltas, moved)
        _deltas_add(by_organisation, moved_organisations)
    counters_apply(campaign_id=campaign.pk, deltas=deltas, organisation_deltas=by_organisation)


def campaign_recompute_totals(*, campaign: Campaign) -> dict[str, tuple[int, int]]:
    """Recount every live counter of a campaign from its pledges, repairing drift.

    Returns the counters that were wrong, as {key: (was, now)}.
    """
    keys = all_total_keys()
    with transaction.atomic():
        TotalShard.objects.bulk_create(
            [
                TotalShard(campaign=campaign, key=key, shard=shard)
                for key in keys
                for shard in range(TOTAL_SHARDS)
            ],
            ignore_conflicts=True,
        )
        # Hold every shard while counting: a status change that commits during
        # the count would otherwise be counted once by us and once more by itself.
        rows = list(TotalShard.objects.select_for_update().filter(campaign=campaign).order_by("key", "shard"))
        exact: dict[str, int] = dict.fromkeys(keys, 0)
        groups = (
            Pledge.objects.filter(campaign=campaign, status__in=PUBLIC_STATES)
            .values_list("sector_mask", "region", "kind", "outcome")
            .annotate(n=Count("id"))
            .order_by()
        )
        for sector_mask, region, kind, outcome, n in groups:
            for key in total_keys_for(sector_mask=sector_mask, region=region, kind=kind, outcome=outcome):
                exact[key] = exact.get(key, 0) + n
        by_organisation: dict[int, dict[str, int]] = {}
        organisation_groups = (
            Pledge.objects.filter(campaign=campaign, status__in=PUBLIC_STATES, org__isnull=False)
            .values_list("org_id", "sector_mask", "outcome")
            .annotate(n=Count("id"))
            .order_by()
        )
        for org_id, sector_mask, outcome, n in organisation_groups:
            counts = by_organisation.setdefault(org_id, {})
            for field, one in organisation_counts(sector_mask=sector_mask, outcome=outcome).items():
                counts[field] = counts.get(field, 0) + one * n
        organisations_wrong = organisation_totals_replace(campaign_id=campaign.pk, exact=by_organisation)
        current: dict[str, int] = {}
        for row in rows:
            current[row.key] = current.get(row.key, 0) + row.value
        drift = {
            key: (current.get(key, 0), value) for key, value in exact.items() if current.get(key, 0) != value
        }
        if drift:
            now = timezone.now()
            TotalShard.objects.filter(campaign=campaign, key__in=list(drift)).exclude(shard=0).update(
                value=0, updated_at=now
            )
            for key, (_, value) in drift.items():
                TotalShard.objects.filter(campaign=campaign, key=key, shard=0).update(
                    value=value, updated_at=now
                )
    if drift:
        logger.warning("Repaired %d drifted counters of %s: %s", len(drift), campaign.slug, drift)
    if organisations_wrong:
        logger.warning("Repaired the counters of %d organisations in %s", organisations_wrong, campaign.slug)
    return drift


def pledges_move(*, pledges: Sequence[Pledge], transition: str, now: datetime, **fields: object) -> None:
    """Make one named move (TRANSITIONS) for many pledges the caller has locked, in its
    transaction: one UPDATE per group that moves alike, and the live counters moved once
    per campaign. The first to publish a pledge stamps its published_at. A pledge whose
    status the move cannot start from is refused (InvalidTransition): the caller skips those.
    """
    from_states, to = TRANSITIONS[transition]
    # Pledges that move together (same campaign, status and new fields) move in one
    # UPDATE: a bulk publish of thousands one by one was far too slow.
    groups: dict[tuple[int, str, bool], list[Pledge]] = {}
    for pledge in pledges:
        if pledge.status not in from_states:
            raise InvalidTransition(f"A {pledge.get_status_display().lower()} pledge cannot {transition}.")
        stamp = to in PUBLIC_STATES and pledge.published_at is None
        groups.setdefault((pledge.campaign_id, pledge.status, stamp), []).append(pledge)
    deltas: dict[int, dict[str, int]] = {}
    by_organisation: dict[int, dict[int, dict[str, int]]] = {}
    for (campaign_id, _, stamp), group in groups.items():
        moved, moved_organisations = _pledges_move(
            pledges=group, to=to, now=now, **fields, **({"published_at": now} if stamp else {})
        )
        _deltas_add(deltas.setdefault(campaign_id, {}), moved)
        _deltas_add(by_organisation.setdefault(campaign_id, {}), moved_organisations)
    # Once per campaign (one shard each) and campaigns in id order, so two moves never
    # lock counters in opposite orders.
    for campaign_id in sorted(deltas):
        counters_apply(
            campaign_id=campaign_id,
            deltas=deltas[campaign_id],
            organisation_deltas=by_organisation[campaign_id],
        )


@dataclass(frozen=True)
class PledgeMoved:
    """A move made outside the moderation queue, for those who listen: by the pledger or a
    rule (no actor), or by an organiser at the pledger's request (actor, and their note)."""

    pledge: Pledge
    transition: str
    was: str
    actor: Any = None
    note: str = ""


# Higher layers hear of the moves pledge_transition makes through listeners they
# register at start-up (AppConfig.ready): moderation writes each to its audit.
# Pledges never imports them.
_moved_listeners: list[Callable[[PledgeMoved], None]] = []


def pledge_moved_listen(listener: Callable[[PledgeMoved], None]) -> None:
    """Call `listener` in the transaction of every move pledge_transition makes."""
    if listener not in _moved_listeners:
        _moved_listeners.append(listener)


def pledge_transition(
    *,
    pledge: Pledge,
    transition: str,
    now: datetime | None = None,
    actor: Any = None,
    note: str = "",
) -> Pledge:
    """Make one named move of one pledge if its status allows, else nothing (safe to
    repeat); the listeners hear of each move made, with who made it and why when an
    organiser did on someone's behalf."""
    now = now or timezone.now()
    from_states, _ = TRANSITIONS[transition]
    with transaction.atomic():
        pledge = Pledge.objects.select_for_update().get(pk=pledge.pk)
        if pledge.status not in from_states:
            return pledge
        was = pledge.status
        pledges_move(pledges=[pledge], transition=transition, now=now)
        for listener in _moved_listeners:
            listener(PledgeMoved(pledge=pledge, transition=transition, was=was, actor=actor, note=note))
    return pledge


def pledge_withdraw(*, pledge: Pledge, now: datetime | None = None) -> Pledge:
    """The pledger takes their pledge back. Safe to repeat."""
    return pledge_transition(pledge=pledge, transition=Transition.WITHDRAW, now=now)


def _address_mark(email_canonical: str) -> str:
    # Keyed with the secret key: the mark sits in a URL (and the logs that keep URLs),
    # and a plain hash of an address could be matched against a list of addresses.
    return salted_hmac("changeday.pledge-address", email_canonical).hexdigest()[:12]


def pledge_confirmation_token(*, pledge: Pledge) -> str:
    """A confirmation link's token: the pledge and a mark of the address it went to, so
    a link sent to an address the pledger has since corrected stops working."""
    return make_token(
        purpose=CONFIRM_PURPOSE, value=f"{pledge.public_id}.{_address_mark(pledge.email_canonical)}"
    )


def pledge_confirmation_token_read(value: str) -> tuple[str, str | None]:
    """The public id a confirmation token names and its address mark (None in tokens
    made before links carried one)."""
    public_id, _, mark = value.partition(".")
    return public_id, mark or None


def pledge_confirmation_token_fits(*, pledge: Pledge, mark: str | None) -> bool:
    return mark is None or constant_time_compare(mark, _address_mark(pledge.email_canonical))


def pledge_confirmation_url(*, pledge: Pledge, links: Links | None = None) -> str:
    return (links or Links()).url("pledges:confirm", token=pledge_confirmation_token(pledge=pledge))


def _confirmations_left(pledge: Pledge) -> int:
    sent = OutboxEmail.objects.filter(kind=EmailKind.CONFIRMATION, subject_id=pledge.pk).count()
    return MAX_CONFIRMATION_EMAILS - sent


def pledge_confirmation_resend(*, pledge: Pledge) -> bool:
    """ "Send it again" from the page after pledging: another confirmation, within the cap
    per pledge (MAX_CONFIRMATION_EMAILS) and the cap per address (pledge_email_queue).
    False when no more may go for this pledge."""
    if pledge.status != Status.UNCONFIRMED:
        raise PledgeError("This pledge is already confirmed: there is nothing more to send.")
    if _confirmations_left(pledge) <= 0:
        return False
    with transaction.atomic():
        return pledge_email_queue(pledge=pledge, kind=EmailKind.CONFIRMATION) is not None


def pledge_email_change(*, pledge: Pledge, email: str) -> Pledge:
    """ "Wrong address? Change it": an unconfirmed pledge takes the corrected address and a
    confirmation goes there. Links sent to the old address stop working (their address mark
    no longer fits). Bounded like "send it again", so a pledge cannot be aimed at address
    after address. If the corrected address already holds this promise in this campaign,
    that pledge is the one (as in pledge_create): it gets a fresh link if it is owed one,
    and this one stays unconfirmed at the old address; the answer is the same either way."""
    if pledge.status != Status.UNCONFIRMED:
        raise PledgeError("This pledge is already confirmed, so its address can no longer be changed here.")
    canonical = canonical_email(email)
    if canonical == pledge.email_canonical:
        pledge_confirmation_resend(pledge=pledge)
        return pledge
    if _confirmations_left(pledge) <= 0:
        raise PledgeError(
            "We have sent as many emails for this pledge as we can. "
            "Please make your pledge again with the right address."
        )
    dedupe_key = pledge_dedupe_key(email=email, text=pledge.text)
    try:
        with transaction.atomic():
            updated = Pledge.objects.filter(pk=pledge.pk, status=Status.UNCONFIRMED).update(
                email=email.strip(), email_canonical=canonical, dedupe_key=dedupe_key
            )
            if not updated:
                raise PledgeError(
                    "This pledge is already confirmed, so its address can no longer be changed here."
                )
            pledge.email, pledge.email_canonical, pledge.dedupe_key = email.strip(), canonical, dedupe_key
            pledge_email_queue(pledge=pledge, kind=EmailKind.CONFIRMATION)
    except IntegrityError:
        pledge.refresh_from_db()
        existing = Pledge.objects.filter(campaign_id=pledge.campaign_id, dedupe_key=dedupe_key).first()
        if existing is not None:
            _resend_confirmation_if_owed(pledge=existing, same_form=False, enabled=True)
    return pledge


def pledge_withdraw_url(*, pledge: Pledge, links: Links | None = None) -> str:
    token = make_token(purpose=WITHDRAW_PURPOSE, value=pledge.public_id)
    return (links or Links()).url("pledges:withdraw", token=token)


EMAIL_TEMPLATES = {
    EmailKind.CONFIRMATION: "pledge_confirmation",
    EmailKind.REJECTED: "pledge_rejected",
    EmailKind.PUBLISHED: "pledge_published",
    EmailKind.DATA_LINK: "pledger_data",
}


def pledge_email_build(pledge: Pledge, links: Links, *, kind: str):  # noqa: ANN201 - EmailMultiAlternatives
    """The email of this kind about a pledge, as the outbox sends it (pledge_email_kinds_register)."""
    # No email carries what a visitor typed as they typed it (email_quote); the organiser's
    # reason for a rejection may quote the pledge, so it goes through the same hands.
    context = {
        "pledge_text": email_quote(text=pledge.text, flags=pledge.flags),
        "rejection_reason": without_contact_details(pledge.rejection_reason),
        "campaign": pledge.campaign,
        "confirm_url": pledge_confirmation_url(pledge=pledge, links=links),
        "withdraw_url": pledge_withdraw_url(pledge=pledge, links=links),
        "permalink": links.url("pledges:detail", public_id=pledge.public_id),
        "valid_days": settings.PLEDGE_CONFIRMATION_MAX_AGE.days,
        "data_url": pledger_data_url(pledge=pledge, links=links),
        "data_valid_hours": int(settings.PLEDGER_DATA_LINK_MAX_AGE.total_seconds() // 3600),
        # Written on a card and typed in by an organiser: the pledger never used the site.
        "paper": pledge.channel == Channel.PAPER,
    }
    return render_email(template=EMAIL_TEMPLATES[kind], context=context, to=pledge.email)


def pledge_email_kinds_register() -> None:
    """Tell the outbox how to build each email about a pledge (PledgesConfig.ready)."""
    for kind in PLEDGE_EMAIL_KINDS:
        email_kind_register(
            EmailKindSpec(
                kind=kind,
                label=EmailKind(kind).label,
                load=lambda ids: Pledge.objects.select_related("campaign").in_bulk(ids),
                build=functools.partial(pledge_email_build, kind=kind),
                campaign_subjects=lambda campaign_id: Pledge.objects.filter(campaign_id=campaign_id).values(
                    "pk"
                ),
            )
        )


def pledger_data_url(*, pledge: Pledge, links: Links | None = None) -> str:
    """The link to every pledge made from this pledge's address. The token
    carries a public id, never the address, so the address stays out of URLs
    and the logs that keep them."""
    token = make_token(purpose=DATA_PURPOSE, value=pledge.public_id)
    return (links or Links()).url("pledges:data", token=token)
