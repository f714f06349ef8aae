from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from campaigns.models import Campaign
from reminders.admin import ReminderInline
from reminders.services import reminder_schedule_default


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "opens_at", "change_day", "deadline", "target", "moderation_mode"]
    list_filter = ["moderation_mode", "change_day"]
    search_fields = ["name", "slug", "hashtag"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "opens_at"
    inlines = [ReminderInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # A new campaign with no schedule of its own gets the usual one, which
        # organisers then see and change here.
        if not change and not form.instance.reminders.exists():
            reminder_schedule_default(campaign=form.instance)

    fieldsets = [
        (None, {"fields": ["name", "slug", "hashtag", "description"]}),
        ("Dates and target", {"fields": ["opens_at", "change_day", "deadline", "target"]}),
        ("Moderation", {"fields": ["moderation_mode", "report_threshold", "blocked_words"]}),
        ("Audit", {"fields": ["created_at", "updated_at"]}),
    ]
