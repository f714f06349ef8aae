from __future__ import annotations

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
