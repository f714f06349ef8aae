from __future__ import annotations

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from pledges.models import OutboxEmail, Pledge, TaggedSector


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


class OutboxInline(ReadOnlyInline):
    model = OutboxEmail
    fields = ["kind", "created_at", "attempts", "sent_at", "failed_at", "last_error"]


# The wording organisers may correct. Everything else (status, audit times, the
# email) is read-only: statuses move only through the services, never the admin.
PLEDGE_EDITABLE_FIELDS = frozenset(
    {
        "text",
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
    list_filter = ["campaign", "status", "region", "kind", "sectors", "wants_reminders"]
    search_fields = ["public_id", "text", "display_name", "organisation", "role", "=email"]
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
    inlines = [SectorInline, OutboxInline]

    @admin.display(description="Pledge")
    def short_text(self, obj: Pledge) -> str:
        return obj.text[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Pledges are made through the public form, which confirms the email.
        return False


class OutboxStateFilter(admin.SimpleListFilter):
    """Where each owed email stands: sent, still waiting (perhaps for a retry), or given up."""

    title = "state"
    parameter_name = "state"
    STATES = {
        "sent": Q(sent_at__isnull=False),
        "waiting": Q(sent_at__isnull=True, failed_at__isnull=True),
        "failed": Q(failed_at__isnull=False),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("sent", "Sent"), ("waiting", "Waiting"), ("failed", "Failed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[OutboxEmail]) -> QuerySet[OutboxEmail]:
        state = self.value()
        return queryset.filter(self.STATES[state]) if state in self.STATES else queryset


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "pledge",
        "signup",
        "user",
        "created_at",
        "not_before",
        "attempts",
        "state",
        "sent_at",
        "failed_at",
        "last_error",
    ]
    list_filter = [OutboxStateFilter, "kind"]
    search_fields = ["pledge__public_id"]
    list_select_related = ["pledge", "signup", "user"]
    readonly_fields = [f.name for f in OutboxEmail._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboxEmail]:
        return super().get_queryset(request).select_related("pledge", "signup", "user")

    @admin.display(description="State")
    def state(self, obj: OutboxEmail) -> str:
        if obj.sent_at is not None:
            return "Sent"
        return "Failed" if obj.failed_at is not None else "Waiting"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
