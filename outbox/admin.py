from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from outbox.kinds import email_kind
from outbox.models import OutboxEmail, Suppression
from outbox.services import suppression_lift


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


class SuppressionLiftForm(forms.ModelForm):
    """The one thing an organiser may change on an entry: lift it, saying why."""

    lift_reason = forms.CharField(
        label="Why lift it",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this address may be sent reminders again (the person asked, the mailbox works now).",
    )

    class Meta:
        model = Suppression
        fields = ["lift_reason"]


class SuppressionActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("active", "Active"), ("lifted", "Lifted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Suppression]) -> QuerySet[Suppression]:
        if self.value() == "active":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """The addresses no reminder goes to. Only staff reach the admin, so the address is shown.
    An entry is lifted from its change page with a reason; lifted entries stay as history."""

    form = SuppressionLiftForm
    list_display = [
        "email_canonical",
        "reason",
        "detail",
        "created_at",
        "lifted_at",
        "lifted_by",
        "lift_reason",
    ]
    list_filter = [SuppressionActiveFilter, "reason"]
    search_fields = ["=email_canonical"]
    fields = ["email_canonical", "reason", "detail", "created_at", "lifted_at", "lifted_by", "lift_reason"]

    def get_readonly_fields(self, request: HttpRequest, obj: Suppression | None = None) -> list[str]:
        shown = ["email_canonical", "reason", "detail", "created_at", "lifted_at", "lifted_by"]
        return [*shown, "lift_reason"] if obj is not None and obj.lifted_at is not None else shown

    def save_model(self, request: HttpRequest, obj: Suppression, form: ModelForm, change: bool) -> None:
        # Through the service, never obj.save(): the lift is recorded with who and when.
        suppression_lift(suppression=obj, by=request.user, reason=form.cleaned_data["lift_reason"])
        messages.info(request, f"{obj.email_canonical} may be sent reminders again.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
