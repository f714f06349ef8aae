from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from outbox.kinds import email_kind
from outbox.models import OutboxEmail


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
        "kind_label",
        "subject",
        "created_at",
        "not_before",
        "attempts",
        "state",
        "sent_at",
        "failed_at",
        "last_error",
    ]
    list_filter = [OutboxStateFilter, "kind"]
    # The subject's id as the owning app's admin shows it (a pledge's, a sign-up's, an account's).
    search_fields = ["=subject_id"]
    readonly_fields = [f.name for f in OutboxEmail._meta.fields]

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        """The page's rows, each with what it is about (a pledge, a sign-up, an account), read
        with one query per kind through the loaders the owning apps registered."""
        changelist = super().get_changelist_instance(request)
        wanted: dict[str, list[int]] = {}
        for row in changelist.result_list:
            wanted.setdefault(row.kind, []).append(row.subject_id)
        found: dict[tuple[str, int], object] = {}
        for kind, ids in wanted.items():
            try:
                subjects = email_kind(kind).load(ids)
            except LookupError:
                continue
            found.update({(kind, pk): subject for pk, subject in subjects.items()})
        for row in changelist.result_list:
            row.loaded_subject = found.get((row.kind, row.subject_id))
        return changelist

    @admin.display(description="About")
    def subject(self, obj: OutboxEmail) -> str:
        subject = getattr(obj, "loaded_subject", None)
        return f"{obj.subject_id}: {subject}" if subject is not None else f"{obj.subject_id} (gone)"

    @admin.display(description="Kind", ordering="kind")
    def kind_label(self, obj: OutboxEmail) -> str:
        return obj.get_kind_display()

    @admin.display(description="State")
    def state(self, obj: OutboxEmail) -> str:
        if obj.sent_at is not None:
            return "Sent"
        return "Failed" if obj.failed_at is not None else "Waiting"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
