from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.db import models
from django.http import HttpRequest

from campaigns.models import Campaign

# What apps above campaigns add to the campaign's admin page (reminders adds its
# schedule), registered at start-up through campaign_admin_extend so that
# campaigns imports none of them.
_extra_inlines: list[type[InlineModelAdmin]] = []
_on_create: list[Callable[[Campaign], None]] = []


def campaign_admin_extend(
    *,
    inline: type[InlineModelAdmin] | None = None,
    on_create: Callable[[Campaign], None] | None = None,
) -> None:
    """Add an inline to the campaign's admin page and/or a step run once a new
    campaign and its inlines are saved. Called from an AppConfig.ready(); adding
    the same one twice is harmless, so a test that calls ready() again changes
    nothing."""
    if inline is not None and inline not in _extra_inlines:
        _extra_inlines.append(inline)
    if on_create is not None and on_create not in _on_create:
        _on_create.append(on_create)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "opens_at", "change_day", "deadline", "target", "moderation_mode"]
    list_filter = ["moderation_mode", "change_day"]
    search_fields = ["name", "slug", "hashtag"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at", "personal_data_erased_at"]
    date_hierarchy = "opens_at"

    class Media:
        # Fits the page, inlines and all, in a 1,366 px window (the file says how).
        css = {"all": ("css/admin-campaign.css",)}

    def get_inlines(self, request: HttpRequest, obj: Campaign | None) -> list[type[InlineModelAdmin]]:
        return [*super().get_inlines(request, obj), *_extra_inlines]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A contact address typed without its scheme is the campaign's https site, as Django 6
        # will assume (and the deprecation warning asks to say now).
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # After the inlines, so a step sees what the organiser entered on this page.
        if not change:
            for step in _on_create:
                step(form.instance)

    fieldsets = [
        (None, {"fields": ["name", "slug", "hashtag", "description"]}),
        ("Dates and target", {"fields": ["opens_at", "change_day", "deadline", "outcomes_close", "target"]}),
        ("Moderation", {"fields": ["moderation_mode", "report_threshold", "blocked_words"]}),
        ("Verified staff", {"fields": ["staff_domains", "staff_domains_label"]}),
        (
            "Organiser, privacy and accessibility",
            {
                "fields": [
                    "organiser_name",
                    "contact_email",
                    "contact_url",
                    "privacy_notice",
                    "accessibility_statement",
                    "cookies_note",
                    "retention_days",
                    "personal_data_erased_at",
                ]
            },
        ),
        ("Audit", {"fields": ["created_at", "updated_at"]}),
    ]
