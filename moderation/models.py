"""The audit record of every decision, and visitors' reports.

Both tables were made by the pledges app and keep their rows: the migrations moved
them here (moderation/migrations/0001_initial.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from pledges.models import Pledge, Status, Transition


class Action(models.TextChoices):
    """What the audit records: an organiser's decision, the pledger's withdrawal or the
    reports rule. The values are the subject's transition names (pledges.models.Transition
    for pledges), so every move a subject can make has its line in the audit; a later
    kind of subject (stories) names its moves with these same words."""

    PUBLISH = Transition.PUBLISH.value, "Publish"
    REJECT = Transition.REJECT.value, "Reject"
    HIDE = Transition.HIDE.value, "Hide"
    RESTORE = Transition.RESTORE.value, "Restore"
    WITHDRAW = Transition.WITHDRAW.value, "Withdrawn by the pledger"
    AUTO_HIDE = Transition.AUTO_HIDE.value, "Hidden after reports"
    # Not a move of the queue but a pledge's first line: an organiser typed it in from a paper
    # card (pledges.paper), which stands in for the email confirmation.
    PAPER_ENTRY = "paper-entry", "Collected on paper"


# The decisions an organiser may take on the queue.
ORGANISER_ACTIONS = (Action.PUBLISH, Action.REJECT, Action.HIDE, Action.RESTORE)


class RejectionReason(models.TextChoices):
    OFFENSIVE = "offensive", "Offensive or abusive"
    PERSONAL_DATA = "personal-data", "Contains personal or clinical details"
    NOT_A_PLEDGE = "not-a-pledge", "Not a pledge"
    SPAM = "spam", "Spam or advertising"
    DUPLICATE = "duplicate", "Duplicate of another pledge"
    OTHER = "other", "Other"


class Subject(models.TextChoices):
    """What a decision was about (moderation.subjects): the values are the subjects' kinds."""

    PLEDGE = "pledge", "Pledge"
    STORY = "story", "Story"


class ModerationEvent(models.Model):
    """One decision about one pledge or its story: never edited, never deleted."""

    # The pledge stays the link for both kinds: a story belongs to one pledge, so a
    # pledger's download and erasure find every decision about them through it.
    subject = models.CharField(max_length=16, choices=Subject.choices, default=Subject.PLEDGE)
    # Null once the pledger erased their data: the decision stays in the audit,
    # the person and their words do not.
    pledge = models.ForeignKey(
        Pledge, null=True, blank=True, on_delete=models.SET_NULL, related_name="moderation_events"
    )
    # Null when nobody signed in acted: the pledger (withdraw) or the reports rule.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="moderation_events",
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    from_status = models.CharField(max_length=16, choices=Status.choices)
    to_status = models.CharField(max_length=16, choices=Status.choices)
    reason_code = models.CharField(max_length=32, choices=RejectionReason.choices, blank=True)
    reason_text = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.subject} {self.from_status}->{self.to_status}"


class ReportReason(models.TextChoices):
    OFFENSIVE = "offensive", "It is offensive or abusive"
    PERSONAL_DATA = "personal-data", "It contains someone's personal details"
    SPAM = "spam", "It is spam or advertising"
    NOT_A_PLEDGE = "not-a-pledge", "It is not a pledge"
    OTHER = "other", "Something else"


class Report(models.Model):
    """One visitor's report. Every report is kept for the organisers; towards
    hiding the pledge, each client network counts once, since fresh cookies make
    a new session at will but not a new network."""

    pledge = models.ForeignKey(Pledge, on_delete=models.CASCADE, related_name="reports")
    # Keyed hashes, so nothing here says who reported: of the visitor's session,
    # and of their client network (an IPv4 address, an IPv6 /64).
    reporter_key = models.CharField(max_length=64)
    network_key = models.CharField(max_length=64)
    # The first report from its network on this pledge, the one in Pledge.report_count.
    counted = models.BooleanField("counts towards hiding", default=False)
    reason = models.CharField(max_length=16, choices=ReportReason.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two reports from one network at the same moment: the database lets one count.
            models.UniqueConstraint(
                fields=["pledge", "network_key"],
                condition=models.Q(counted=True),
                name="report_counted_once_per_network",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} on {self.pledge_id}"
