from __future__ import annotations

import secrets
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager
from taggit.models import TagBase, TaggedItemBase

from campaigns.models import Campaign, Region
from organisations.models import Organisation, OrganisationSuggestion

# Lower-case letters and digits without the look-alikes (0/o, 1/l/i): public ids
# get read aloud and copied from posters.
PUBLIC_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
PUBLIC_ID_LENGTH = 12  # 31**12 ~ 2**59: unguessable, and short enough to share


def new_public_id() -> str:
    # One urandom call, not one per character (bulk loads make millions of ids).
    # Bytes at or above 248 (8 * 31) are dropped so every symbol is equally likely.
    while True:
        symbols = [byte % 31 for byte in secrets.token_bytes(2 * PUBLIC_ID_LENGTH) if byte < 248]
        if len(symbols) >= PUBLIC_ID_LENGTH:
            return "".join(PUBLIC_ID_ALPHABET[i] for i in symbols[:PUBLIC_ID_LENGTH])


class SectorSlug(models.TextChoices):
    NHS = "nhs", "NHS"
    SOCIAL_CARE = "social-care", "Social care"
    HOUSING = "housing", "Housing"
    PATIENT_CARER = "patient-carer", "Patient or carer"


# One bit per sector in Pledge.sector_mask: the wall filters on sectors and
# counts "integration" pledges (two or more sectors) without joining the tag
# table for every row.
SECTOR_BITS: dict[str, int] = {
    SectorSlug.NHS: 1,
    SectorSlug.SOCIAL_CARE: 2,
    SectorSlug.HOUSING: 4,
    SectorSlug.PATIENT_CARER: 8,
}


def sector_slugs_for(mask: int) -> list[str]:
    return [slug for slug, bit in SECTOR_BITS.items() if mask & bit]


def is_integration(mask: int) -> bool:
    """Two or more sectors: the pledges that join health, social care and housing."""
    return mask.bit_count() >= 2


def sector_mask_for(slugs: list[str] | set[str]) -> int:
    mask = 0
    for slug in slugs:
        mask |= SECTOR_BITS[slug]
    return mask


class Verified(models.TextChoices):
    STAFF = "staff", "Confirmed from an address at the chosen organisation"
    SHARED_DOMAIN = "shared-domain", "Confirmed from a staff domain the campaign lists"


class Kind(models.TextChoices):
    PERSONAL = "personal", "Personal: a promise I make myself"
    ORGANISATIONAL = "organisational", "Organisational: a promise on behalf of a team or organisation"


class Status(models.TextChoices):
    UNCONFIRMED = "unconfirmed", "Awaiting email confirmation"
    PENDING = "pending", "Awaiting moderation"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"
    HIDDEN = "hidden", "Hidden after reports"
    WITHDRAWN = "withdrawn", "Withdrawn by the pledger"


class Channel(models.TextChoices):
    """How a pledge reached the site: typed by the pledger, or entered by an organiser
    from a paper card the pledger filled in and signed."""

    ONLINE = "online", _("Online")
    PAPER = "paper", _("Collected on paper")


class Outcome(models.TextChoices):
    """What the pledger said became of their promise (the follow-through's question)."""

    DONE = "done", "Done"
    STARTED = "started", "Started"
    NOT_YET = "not-yet", "Not yet"
    DID_NOT_WORK = "didnt-work", "It didn't work out"


# The answers that count as a change made: the live counters "done" and "started".
CHANGE_OUTCOMES: frozenset[str] = frozenset({Outcome.DONE, Outcome.STARTED})
# Asked again at the last follow-through moment.
UNFINISHED_OUTCOMES: frozenset[str] = frozenset({Outcome.NOT_YET, Outcome.STARTED})


# Named groups of states, as e-petitions' Petition keeps them.
PUBLIC_STATES: frozenset[str] = frozenset({Status.PUBLISHED})
MODERATABLE_STATES: frozenset[str] = frozenset({Status.PENDING, Status.HIDDEN})
CONFIRMED_STATES: frozenset[str] = frozenset(set(Status.values) - {Status.UNCONFIRMED})


class Sector(TagBase):
    """A sector tag. Only the four SectorSlug rows exist (made by a migration)."""

    bit = models.PositiveSmallIntegerField(unique=True)

    class Meta:
        verbose_name = _("sector")
        verbose_name_plural = _("sectors")
        ordering = ["bit"]


class TaggedSector(TaggedItemBase):
    tag = models.ForeignKey(Sector, on_delete=models.PROTECT, related_name="tagged_pledges")
    content_object = models.ForeignKey(
        "pledges.Pledge", on_delete=models.CASCADE, related_name="sector_links"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["content_object", "tag"], name="tagged_sector_unique")]


class Pledge(models.Model):
    # No index of its own: every index below that a campaign's pledges are looked up by leads with it.
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="pledges", db_index=False)
    # Unique through Meta.constraints, which, unlike unique=True, adds no second index for LIKE.
    public_id = models.CharField(max_length=16, default=new_public_id, editable=False)
    text = models.CharField(max_length=500)
    display_name = models.CharField(max_length=100, blank=True)
    is_anonymous = models.BooleanField(default=False)
    role = models.CharField(max_length=100)
    # The organisation's name as typed (kept as the pledger wrote it, and for pledges made
    # before the directory); `org` is the directory entry it counts for.
    organisation = models.CharField(max_length=200, blank=True)
    org = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="pledges", db_index=False
    )
    # A name not in the directory, waiting for organisers to accept or map it.
    org_suggestion = models.ForeignKey(
        OrganisationSuggestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="pledges"
    )
    # Set when the address is confirmed, from its domain (Verified); the address is never shown.
    verified = models.CharField(max_length=16, choices=Verified.choices, blank=True, default="")
    region = models.CharField(max_length=32, choices=Region.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERSONAL)
    sectors = TaggableManager(through=TaggedSector, related_name="pledges", blank=False)
    sector_mask = models.PositiveSmallIntegerField(default=0)
    # The address as typed (trimmed): what we display and send to. Only a paper pledge may
    # have none (many care workers, porters and patients have no address to give).
    email = models.EmailField(max_length=254, blank=True)
    # changeday.lib.emailaddr.canonical_email(email): every lookup by address
    # compares this exactly, never `email` in any case (a case-insensitive match
    # folds look-alike letters together). Longer than `email`: punycode grows.
    email_canonical = models.CharField(max_length=320, editable=False)
    consent_to_publish = models.BooleanField()
    wants_reminders = models.BooleanField(default=False)
    # "Did you do it?" emails after Change Day: at most three, and one click stops them.
    wants_follow_through = models.BooleanField(default=True)
    # The pledger's answer to the follow-through (Outcome), "" until they give one.
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    outcome_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNCONFIRMED)
    rejection_reason = models.TextField(blank=True)
    # Screening reasons (pledges.screening.FlagReason values) found at submission.
    flags = models.JSONField(default=list, blank=True)
    # Reports from distinct client networks (Report.counted), what the campaign's
    # report_threshold compares; the organisers see every report.
    report_count = models.PositiveIntegerField(default=0)
    # sha256 of the normalised text alone: screening counts identical pledges by it.
    text_hash = models.CharField(max_length=64, default="", editable=False)

    # The form carries a token made when it was shown, so a double click or a
    # resubmission from the back button lands on the pledge already made.
    submission_token = models.UUIDField(editable=False)
    # sha256 of the canonical address and the normalised text: the same promise
    # from the same address twice is one pledge, whatever form it came through.
    dedupe_key = models.CharField(max_length=64, editable=False)

    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.ONLINE)
    # A paper pledge's card reference as written on the card: the duplicate rule uses it.
    paper_reference = models.CharField(max_length=40, blank=True, default="")
    # The organiser who typed a paper pledge in (kept for the audit record).
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where the pledger came from: a poster's or card's QR code carries a source tag
    # (`?source=`) the stats page counts; "" when they came any other way.
    source = models.CharField(max_length=40, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)

    PUBLIC_STATES: ClassVar[frozenset[str]] = PUBLIC_STATES
    MODERATABLE_STATES: ClassVar[frozenset[str]] = MODERATABLE_STATES

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="pledge_public_id_unique"),
            models.UniqueConstraint(fields=["campaign", "submission_token"], name="pledge_unique_submission"),
            models.UniqueConstraint(fields=["campaign", "dedupe_key"], name="pledge_unique_promise"),
            models.CheckConstraint(condition=models.Q(consent_to_publish=True), name="pledge_consent_given"),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="pledge_status_valid"),
            models.CheckConstraint(condition=models.Q(region__in=Region.values), name="pledge_region_valid"),
            models.CheckConstraint(condition=models.Q(kind__in=Kind.values), name="pledge_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values), name="pledge_channel_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(channel=Channel.PAPER) | ~models.Q(email=""),
                name="pledge_email_unless_paper",
            ),
            models.UniqueConstraint(
                fields=["campaign", "paper_reference"],
                name="pledge_unique_paper_reference",
                condition=~models.Q(paper_reference=""),
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=["", *Outcome.values]), name="pledge_outcome_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(sector_mask__gte=1, sector_mask__lte=15),
                name="pledge_has_sector",
            ),
        ]
        indexes = [
            # The wall's keyset order: newest first, public id breaking ties. Published
            # pledges only, so a new (unconfirmed) pledge costs no entry here; the wall
            # asks for status = 'published', which the planner matches to the condition.
            # The word search's GIN index, partial alike, is raw SQL in migration 0009
            # (PostgreSQL only).
            models.Index(
                fields=["campaign", "-published_at", "-public_id"],
                name="pledge_wall_published_idx",
                condition=models.Q(status="published"),
            ),
            # An organisation's page: its published pledges, newest first, keyset as the wall.
            models.Index(
                fields=["campaign", "org", "-published_at", "-public_id"],
                name="pledge_org_wall_idx",
                condition=models.Q(status="published", org__isnull=False),
            ),
            # The wall's "changes made first" (pledges.selectors.wall_pledges) walks these
            # first, newest first, then the wall index above for the rest.
            models.Index(
                fields=["campaign", "-published_at", "-public_id"],
                name="pledge_wall_changes_idx",
                condition=models.Q(status="published", outcome__in=["done", "started"]),
            ),
            # The wall filtered by one outcome: "not yet" may be rare among a million, and a
            # walk of the wall index testing each pledge would read most of them to fill a page.
            models.Index(
                fields=["campaign", "outcome", "-published_at", "-public_id"],
                name="pledge_wall_outcome_idx",
                condition=models.Q(status="published"),
            ),
            # Screening counts a campaign's pledges with the same text.
            models.Index(fields=["campaign", "text_hash"], name="pledge_identical_idx"),
            models.Index(
                fields=["campaign", "status", "created_at"],
                name="pledge_queue_idx",
                condition=models.Q(status__in=["pending", "hidden"]),
            ),
            # The organisers' dashboard (moderation.dashboard): a campaign's pledges confirmed in
            # the last 48 hours, one range of this index however many came before. Partial, so a
            # pledge never confirmed (a bot's, an abandoned one) costs no entry.
            models.Index(
                fields=["campaign", "confirmed_at"],
                name="pledge_confirmed_idx",
                condition=models.Q(confirmed_at__isnull=False),
            ),
            # An organiser's review of what was decided, latest decision first
            # (moderation.selectors.moderation_queue): it read the old whole-table wall index; an entry
            # is made at publication or rejection, never at submission.
            models.Index(
                fields=["campaign", "status", "-status_changed_at", "-id"],
                name="pledge_review_idx",
                condition=models.Q(status__in=["published", "rejected"]),
            ),
            # The stats page's count of pledges by the poster or card they came from.
            models.Index(
                fields=["campaign", "source"], name="pledge_source_idx", condition=~models.Q(source="")
            ),
            # "Your data" finds every pledge of an address, and so do the reminders
            # (has a "remind me" sign-up pledged since?) and the confirmation cap
            # (how many confirmations went to this address this hour?).
            models.Index(fields=["email_canonical"], name="pledge_email_canonical_idx"),
            # The pledgers a reminder goes to, walked in address order so each
            # address comes once however many pledges it made.
            models.Index(
                fields=["campaign", "email_canonical"],
                name="pledge_reminders_idx",
                condition=models.Q(wants_reminders=True, status="published"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id}: {self.text[:60]}"

    @property
    def public_name(self) -> str:
        return "anonymous" if self.is_anonymous or not self.display_name else self.display_name

    @property
    def sector_slugs(self) -> list[str]:
        return sector_slugs_for(self.sector_mask)

    @property
    def sector_labels(self) -> list[str]:
        return [SectorSlug(slug).label for slug in self.sector_slugs]

    @property
    def is_public(self) -> bool:
        return self.status in PUBLIC_STATES


class EmailKind(models.TextChoices):
    CONFIRMATION = "confirmation", "Confirm your pledge"
    REJECTED = "rejected", "Your pledge was not published"
    PUBLISHED = "published", "Your pledge is live"
    DATA_LINK = "data-link", "Your pledges and your data"


# The emails about a pledge: registered with the outbox (services.pledge_email_kinds_register),
# and forgotten with it (outbox_forget).
PLEDGE_EMAIL_KINDS = tuple(EmailKind.values)


class Transition(models.TextChoices):
    """The named moves of a pledge's status. The audit (moderation.models.Action) records
    each under the same name."""

    PUBLISH = "publish", "Publish"
    REJECT = "reject", "Reject"
    HIDE = "hide", "Hide"
    RESTORE = "restore", "Restore"
    WITHDRAW = "withdraw", "Withdrawn by the pledger"
    AUTO_HIDE = "auto-hide", "Hidden after reports"


# Which statuses each move may start from, and where it leads. A move from
# any other status is refused (e-petitions' publish!/reject! guards).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    Transition.PUBLISH: (frozenset({Status.PENDING}), Status.PUBLISHED),
    Transition.REJECT: (frozenset({Status.PENDING, Status.HIDDEN, Status.PUBLISHED}), Status.REJECTED),
    Transition.HIDE: (frozenset({Status.PUBLISHED, Status.PENDING}), Status.HIDDEN),
    Transition.RESTORE: (frozenset({Status.HIDDEN, Status.REJECTED}), Status.PUBLISHED),
    Transition.WITHDRAW: (
        frozenset({Status.UNCONFIRMED, Status.PENDING, Status.PUBLISHED, Status.HIDDEN}),
        Status.WITHDRAWN,
    ),
    Transition.AUTO_HIDE: (frozenset({Status.PUBLISHED}), Status.HIDDEN),
}


# How many rows each counter is spread over: concurrent publishes pick a shard at
# random, so no single row serialises every writer (house style, e-petitions 2019).
TOTAL_SHARDS = 8


def outcome_total_key(outcome: str) -> str | None:
    """The counter a published pledge with this outcome adds one to, if any."""
    return f"outcome:{outcome}" if outcome in CHANGE_OUTCOMES else None


def total_keys_for(*, sector_mask: int, region: str, kind: str, outcome: str = "") -> list[str]:
    """The counters a published pledge adds one to."""
    keys = ["total", f"region:{region}", f"kind:{kind}"]
    keys += [f"sector:{slug}" for slug in sector_slugs_for(sector_mask)]
    if is_integration(sector_mask):
        keys.append("integration")
    outcome_key = outcome_total_key(outcome)
    if outcome_key:
        keys.append(outcome_key)
    return keys


def all_total_keys() -> list[str]:
    keys = ["total", "integration"]
    keys += [f"sector:{slug}" for slug in SECTOR_BITS]
    keys += [f"region:{value}" for value in Region.values]
    keys += [f"kind:{value}" for value in Kind.values]
    keys += [f"outcome:{value}" for value in sorted(CHANGE_OUTCOMES)]
    return keys


class TotalShard(models.Model):
    """One slice of one live counter of published pledges.

    A counter's value is the sum over its shards; campaign_recompute_totals
    rewrites them from the pledges themselves to repair drift."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="total_shards")
    key = models.CharField(max_length=48)
    shard = models.PositiveSmallIntegerField()
    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "key", "shard"], name="total_shard_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.key}[{self.shard}] = {self.value}"


class StoryStatus(models.TextChoices):
    PRIVATE = "private", "Not for publishing (the pledger said so)"
    PENDING = "pending", "Awaiting moderation"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"
    HIDDEN = "hidden", "Hidden"


STORY_MODERATABLE_STATES: frozenset[str] = frozenset({StoryStatus.PENDING, StoryStatus.HIDDEN})

# A story's moves, named as a pledge's are (Transition), so the audit reads alike.
STORY_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    Transition.PUBLISH: (frozenset({StoryStatus.PENDING}), StoryStatus.PUBLISHED),
    Transition.REJECT: (
        frozenset({StoryStatus.PENDING, StoryStatus.HIDDEN, StoryStatus.PUBLISHED}),
        StoryStatus.REJECTED,
    ),
    Transition.HIDE: (frozenset({StoryStatus.PUBLISHED, StoryStatus.PENDING}), StoryStatus.HIDDEN),
    Transition.RESTORE: (frozenset({StoryStatus.HIDDEN, StoryStatus.REJECTED}), StoryStatus.PUBLISHED),
}

STORY_MAX_LENGTH = 600


class Story(models.Model):
    """What changed, in the pledger's words, told with their outcome. Shown on the
    pledge's page and the wall only once published, and only if the pledger allowed it."""

    pledge = models.OneToOneField(Pledge, on_delete=models.CASCADE, related_name="story")
    # The pledge's campaign, kept here so the moderation queue finds a campaign's
    # stories without a join.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="stories")
    text = models.CharField(max_length=STORY_MAX_LENGTH)
    public = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=StoryStatus.choices, default=StoryStatus.PENDING)
    # Screening reasons (pledges.screening.FlagReason values) found when it was told.
    flags = models.JSONField(default=list, blank=True)
    rejection_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "stories"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=StoryStatus.values), name="story_status_valid"
            ),
            # A story the pledger kept private is never published.
            models.CheckConstraint(
                condition=models.Q(public=True) | models.Q(status=StoryStatus.PRIVATE),
                name="story_private_stays_private",
            ),
        ]
        indexes = [
            models.Index(
                fields=["campaign", "status", "created_at"],
                name="story_queue_idx",
                condition=models.Q(status__in=["pending", "hidden"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Story of {self.pledge_id}: {self.text[:60]}"

    @property
    def is_public(self) -> bool:
        return self.status == StoryStatus.PUBLISHED
