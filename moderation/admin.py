from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from campaigns.admin import CampaignAdmin
from campaigns.models import Campaign
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


@admin.display(description="Organisers' view")
def organisers_view(campaign: Campaign) -> str:
    """Links from the campaigns' list to the campaign's queue and dashboard."""
    return format_html(
        '<a href="{}?campaign={}">Queue</a> · <a href="{}?campaign={}">Dashboard</a>',
        reverse("moderation:queue"),
        campaign.slug,
        reverse("moderation:dashboard"),
        campaign.slug,
    )


# Campaigns' admin sits below us and does not know the moderation pages.
if organisers_view not in CampaignAdmin.list_display:
    CampaignAdmin.list_display = [*CampaignAdmin.list_display, organisers_view]


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
