from __future__ import annotations

from django.contrib import admin

from campaigns.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "opens_at", "change_day", "deadline", "target", "moderation_mode"]
    list_filter = ["moderation_mode", "change_day"]
    search_fields = ["name", "slug", "hashtag"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "opens_at"
    fieldsets = [
        (None, {"fields": ["name", "slug", "hashtag", "description"]}),
        ("Dates and target", {"fields": ["opens_at", "change_day", "deadline", "target"]}),
        ("Moderation", {"fields": ["moderation_mode", "report_threshold", "blocked_words"]}),
        ("Audit", {"fields": ["created_at", "updated_at"]}),
    ]
