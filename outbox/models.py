from __future__ import annotations

from django.conf import settings
from django.db import models

from outbox.kinds import email_kind_label


class OutboxEmail(models.Model):
    """An email the system owes someone, written in the same transaction as the
    change that owes it, so a broker outage delays it but never loses it.

    A row names its subject by kind and id (a confirmation of pledge 42, a password reset of
    user 7), not by foreign keys: the apps that own pledges, reminder sign-ups and accounts sit
    above the outbox, which may not know their models (outbox.kinds). What a foreign key did for
    free, their services do through ours: deleting a subject (an erasure, a purge) deletes its
    emails with outbox_forget in the same transaction, and an email whose subject is gone
    anyway (a campaign or an account deleted in the admin) is dropped when its turn comes
    rather than sent. One shape for every kind, where a foreign key from each owning app's side
    would need a table per app and the outbox to read all of them.
    """

    kind = models.CharField(max_length=32)
    subject_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Not sent before then (null: at once). Set when the email is queued, by the cap on
    # confirmations to one address (pledges.services.CONFIRMATIONS_PER_ADDRESS_PER_HOUR).
    not_before = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_email_unsent_idx",
                condition=models.Q(sent_at__isnull=True, failed_at__isnull=True),
            ),
            # The emails given up, which organisers are shown (selectors.outbox_failed_count).
            models.Index(
                fields=["failed_at"],
                name="outbox_email_failed_idx",
                condition=models.Q(failed_at__isnull=False),
            ),
            # A subject's emails: the confirmation cap, the purge, erasure (outbox_forget).
            models.Index(fields=["subject_id", "kind"], name="outbox_email_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.subject_id}"

    def get_kind_display(self) -> str:
        return email_kind_label(self.kind)


class SuppressionReason(models.TextChoices):
    # The address's mail server answered RCPT TO with a 5xx: the mailbox is not there.
    REFUSED = "refused", "Refused by the mail server"
    # The person pressed "stop all reminders" in one of our emails.
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed from everything"


class Suppression(models.Model):
    """An address no reminder or follow-through goes to, from any campaign.

    It lives in the outbox, below every app that sends, because it is about an address and not
    about a campaign or a pledge. Emails a person asks for (a confirmation, their data, a
    password reset) ignore it: only the apps that mail people unasked read it
    (outbox.selectors.suppressed). A lifted entry stays as history; one active entry an address.
    """

    email_canonical = models.CharField(max_length=254)
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    # The mail server's words, for a refusal.
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email_canonical"],
                condition=models.Q(lifted_at__isnull=True),
                name="outbox_suppression_active_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email_canonical} ({self.get_reason_display()})"
