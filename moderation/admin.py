from __future__ import annotations

from django.contrib import admin

from changeday.lib.admin import ReadOnlyModelAdmin
from moderation.models import ModerationEvent, Report
from pledges.admin import PledgeAdmin, ReadOnlyInline


class ModerationEventInline(ReadOnlyInline):
    """The audit record: shown on the pledge, never editable or deletable here."""

    model = ModerationEvent
    fields = [
        "created_at",
        "subject",
        "actor",
        "action",
        "from_status",
        "to_status",
        "reason_code",
        "reason_text",
    ]
    ordering = ["-created_at"]


class ReportInline(ReadOnlyInline):
    model = Report
    fields = ["created_at", "reason", "detail", "counted"]


# The pledge's admin page shows its audit and reports; pledges' admin, below us,
# does not know them.
PledgeAdmin.inlines = [*PledgeAdmin.inlines, ModerationEventInline, ReportInline]


@admin.register(ModerationEvent)
class ModerationEventAdmin(ReadOnlyModelAdmin):
    list_display = [
        "created_at",
        "subject",
        "pledge",
        "actor",
        "action",
        "from_status",
        "to_status",
        "reason_code",
    ]
    list_filter = ["subject", "action", "to_status", "reason_code"]
    search_fields = ["pledge__public_id", "actor__username"]
    list_select_related = ["pledge", "actor"]
    readonly_fields = [f.name for f in ModerationEvent._meta.fields]
