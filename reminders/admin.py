from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from campaigns.models import Campaign
from changeday.lib.admin import ReadOnlyModelAdmin
from reminders.models import Reminder, ReminderDelivery, ReminderRun, ReminderSignup
from reminders.selectors import RUN_COUNT_ANNOTATIONS
from reminders.services import reminder_schedule_default


class ReminderInline(admin.TabularInline):
    """The campaign's reminder schedule, edited on the campaign's own page."""

    model = Reminder
    extra = 0
    fields = ["anchor", "days_before", "send_time", "audience", "message", "due", "run_state"]
    readonly_fields = ["due", "run_state"]

    @admin.display(description="Due (UK time)")
    def due(self, obj: Reminder) -> str:
        if obj.pk is None:
            return "-"
        return f"{timezone.localtime(obj.due_at()):%-d %b %Y %H:%M}"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reminder]:
        # Each row shows its run: one join, not one query per reminder.
        return super().get_queryset(request).select_related("run")

    @admin.display(description="Run")
    def run_state(self, obj: Reminder) -> str:
        run = getattr(obj, "run", None) if obj.pk else None
        if run is None:
            return "Not started"
        url = reverse("admin:reminders_reminderrun_change", args=[run.pk])
        state = "Finished" if run.finished_at else "Sending"
        return format_html('<a href="{}">{}</a>', url, state)


def campaign_schedule_default(campaign: Campaign) -> None:
    """Run when the campaign admin saves a new campaign (registered in RemindersConfig.ready):
    one with no schedule of its own gets the usual one, which organisers then see
    and change on its page."""
    if not campaign.reminders.exists():
        reminder_schedule_default(campaign=campaign)


def _count_column(annotation: str, description: str) -> Callable[[Any, ReminderRun], int]:
    """A list column showing one of RUN_COUNT_ANNOTATIONS, sortable by it."""

    @admin.display(description=description, ordering=annotation)
    def column(self: Any, obj: ReminderRun) -> int:
        return getattr(obj, annotation)

    return column


@admin.register(ReminderRun)
class ReminderRunAdmin(ReadOnlyModelAdmin):
    list_display = [
        "reminder_label",
        "campaign",
        "due_at",
        "started_at",
        "finished_at",
        "recipients",
        "sent",
        "failed_link",
        "skipped",
        "waiting",
    ]
    list_filter = ["campaign"]
    date_hierarchy = "due_at"
    fields = ["reminder", "campaign", "due_at", "started_at", "planned_at", "fanned_out_at", "finished_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReminderRun]:
        return (
            super()
            .get_queryset(request)
            .select_related("reminder", "campaign")
            .annotate(**RUN_COUNT_ANNOTATIONS)
        )

    @admin.display(description="Reminder")
    def reminder_label(self, obj: ReminderRun) -> str:
        return obj.reminder.label

    recipients = _count_column("n_recipients", "Recipients")
    sent = _count_column("n_sent", "Sent")
    skipped = _count_column("n_skipped", "Skipped")
    waiting = _count_column("n_waiting", "Waiting")

    @admin.display(description="Failed", ordering="n_failed")
    def failed_link(self, obj: ReminderRun) -> str:
        url = reverse("admin:reminders_reminderdelivery_changelist")
        return format_html(
            '<a href="{}?run__id__exact={}&status__exact=failed">{}</a>',
            url,
            obj.pk,
            obj.n_failed,  # type: ignore[attr-defined]
        )


@admin.register(ReminderDelivery)
class ReminderDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = [
        "id",
        "reminder",
        "campaign",
        "status",
        "attempts",
        "sent_at",
        "last_error",
        "skip_reason",
    ]
    list_filter = ["status", "campaign", "run"]
    search_fields = ["recipient"]
    list_select_related = ["reminder", "campaign"]
    show_full_result_count = False


@admin.register(ReminderSignup)
class ReminderSignupAdmin(ReadOnlyModelAdmin):
    list_display = ["public_id", "campaign", "status", "created_at", "confirmed_at", "unsubscribed_at"]
    list_filter = ["status", "campaign"]
    search_fields = ["email"]
    list_select_related = ["campaign"]
