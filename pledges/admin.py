from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

# The directory's admin actions that move pledges (merging, suggestions): registered on
# import, here, so that organisations imports nothing from pledges.
from pledges import organisation_admin  # noqa: F401
from pledges.models import Pledge, TaggedSector


class ReadOnlyInline(admin.TabularInline):
    """Records shown on the pledge that the admin never adds, edits or deletes."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return list(self.fields or [])

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SectorInline(ReadOnlyInline):
    model = TaggedSector
    fields = ["tag"]


# What organisers may correct about the pledger. Everything else (status, audit times, the
# email) is read-only: statuses move only through the services, never the admin. The words too:
# organisers moderate a promise, they do not rewrite it, and a save here would skip what
# pledge_create does to them (the leading "I pledge to" taken off, the duplicate hash, screening)
# and leave no trace in the audit. A pledger who wants other words withdraws and pledges again.
PLEDGE_EDITABLE_FIELDS = frozenset(
    {
        "display_name",
        "is_anonymous",
        "role",
        "organisation",
        "region",
        "kind",
        "consent_to_publish",
        "wants_reminders",
    }
)


@admin.register(Pledge)
class PledgeAdmin(admin.ModelAdmin):
    list_display = ["public_id", "short_text", "public_name", "campaign", "status", "region", "created_at"]
    list_filter = ["campaign", "status", "channel", "region", "kind", "sectors", "wants_reminders"]
    search_fields = [
        "public_id",
        "text",
        "display_name",
        "organisation",
        "role",
        "=email",
        "=paper_reference",
    ]
    list_select_related = ["campaign"]
    date_hierarchy = "created_at"
    fields = [
        "public_id",
        "campaign",
        "status",
        "text",
        "display_name",
        "is_anonymous",
        "role",
        "organisation",
        "region",
        "kind",
        "sector_mask",
        "email",
        "consent_to_publish",
        "wants_reminders",
        "channel",
        "paper_reference",
        "entered_by",
        "source",
        "rejection_reason",
        "flags",
        "report_count",
        "submission_token",
        "dedupe_key",
        "created_at",
        "confirmed_at",
        "published_at",
        "status_changed_at",
    ]
    readonly_fields = [name for name in fields if name not in PLEDGE_EDITABLE_FIELDS]
    inlines = [SectorInline]

    @admin.display(description="Pledge")
    def short_text(self, obj: Pledge) -> str:
        return obj.text[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Pledges are made through the public form, which confirms the email.
        return False
