"""The directory's admin actions that move pledges: merging duplicate organisations, and
accepting or mapping the names pledgers typed (OrganisationSuggestion).

The organisations app keeps the directory's own admin (organisations.admin); this module,
in the layer that may move pledges, registers it again with the merge action added."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from campaigns.models import Region
from organisations.admin import OrganisationAdmin
from organisations.models import Organisation, OrganisationKind, OrganisationSuggestion, SuggestionStatus
from organisations.services import OrganisationInvalid
from pledges.organisation_moves import (
    OrganisationMoveRefused,
    organisations_merge,
    suggestion_accept,
    suggestion_map,
)

ACTION_CHECKBOX = admin.helpers.ACTION_CHECKBOX_NAME


def _action_page(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    *,
    title: str,
    action: str,
    queryset: QuerySet[Any],
    form: forms.Form,
    intro: str,
    status: int = 200,
) -> TemplateResponse:
    """The page between choosing an action and doing it: what it applies to, and a form."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "intro": intro,
        "action": action,
        "objects": queryset,
        "form": form,
        "action_checkbox_name": ACTION_CHECKBOX,
    }
    return TemplateResponse(request, "admin/organisations/action_form.html", context, status=status)


class MergeForm(forms.Form):
    keep = forms.ModelChoiceField(
        queryset=Organisation.objects.none(),
        widget=forms.RadioSelect,
        empty_label=None,
        label="Keep this one",
        help_text="The others' pledges, domains, suggestions and campaign pages move to it; "
        "then they are deleted.",
    )

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["keep"].queryset = organisations
        self.fields["keep"].label_from_instance = lambda o: (
            f"{o.name} ({o.code}, {o.get_kind_display()}): {o.n} pledges"
        )


class OrganisationMergeAdmin(OrganisationAdmin):
    actions = ["merge_into"]

    @admin.action(description="Merge into…", permissions=["change", "delete"])
    def merge_into(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> HttpResponse | None:
        organisations = queryset.annotate(n=Count("pledges")).order_by("-n", "name")
        if len(organisations) < 2:
            self.message_user(request, "Choose two or more organisations to merge.", messages.WARNING)
            return None
        form = MergeForm(request.POST if "confirm" in request.POST else None, organisations=organisations)
        if form.is_bound and form.is_valid():
            keep = form.cleaned_data["keep"]
            others = [organisation for organisation in organisations if organisation.pk != keep.pk]
            try:
                moved = organisations_merge(keep=keep, others=others)
            except OrganisationMoveRefused as error:
                self.message_user(request, str(error), messages.ERROR)
                return None
            self.message_user(
                request,
                f"Merged {len(others)} organisation{'s' if len(others) != 1 else ''} into {keep.name}: "
                f"{moved.pledges} pledge{'s' if moved.pledges != 1 else ''} moved.",
            )
            return None
        return _action_page(
            request,
            self,
            title="Merge organisations",
            action="merge_into",
            queryset=organisations,
            form=form,
            intro="These organisations are one. Choose the one to keep:",
            status=400 if form.is_bound else 200,
        )


admin.site.unregister(Organisation)
admin.site.register(Organisation, OrganisationMergeAdmin)


class AcceptForm(forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(max_length=32, help_text="Its ODS, GSS, CQC or charity number.")
    kind = forms.ChoiceField(choices=OrganisationKind.choices)
    region = forms.ChoiceField(choices=Region.choices)
    postcode = forms.CharField(max_length=10, required=False)
    domains = forms.CharField(
        required=False, help_text="Staff email domains, separated by spaces (riversidehomes.org.uk)."
    )
    headcount = forms.IntegerField(min_value=1, required=False)


class MapForm(forms.Form):
    code = forms.CharField(max_length=32, label="Code of the organisation in the directory")

    def clean_code(self) -> Organisation:
        code = "".join(self.cleaned_data["code"].split()).upper()  # as code_normalise stores it
        organisation = Organisation.objects.filter(code=code).first()
        if organisation is None:
            raise forms.ValidationError(f"No organisation in the directory has the code {code}.")
        return organisation


class SuggestionStatusFilter(admin.SimpleListFilter):
    """Open suggestions unless asked otherwise: what waits for an organiser's decision."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [*SuggestionStatus.choices, ("all", "All")]

    def _chosen(self) -> str:
        return self.value() or SuggestionStatus.OPEN

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        chosen = self._chosen()
        return queryset if chosen == "all" else queryset.filter(status=chosen)

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self._chosen() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


@admin.register(OrganisationSuggestion)
class OrganisationSuggestionAdmin(admin.ModelAdmin):
    list_display = ["name", "pledge_count", "status", "organisation", "created_at"]
    list_filter = [SuggestionStatusFilter]
    search_fields = ["name", "name_key"]
    fields = ["name", "name_key", "status", "organisation", "created_at", "resolved_at"]
    readonly_fields = ["name_key", "status", "organisation", "created_at", "resolved_at"]
    list_select_related = ["organisation"]
    actions = ["accept", "map_to"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrganisationSuggestion]:
        # Not super(): it orders by get_ordering before the count it names exists.
        queryset = self.model._default_manager.get_queryset().annotate(n=Count("pledges"))
        return queryset.order_by(*self.get_ordering(request))

    @admin.display(description="Pledges", ordering="n")
    def pledge_count(self, obj: OrganisationSuggestion) -> int:
        return obj.n

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Suggestions come from what pledgers type.
        return False

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["-n", "name"]

    @admin.action(description="Accept as a new organisation…", permissions=["change"])
    def accept(self, request: HttpRequest, queryset: QuerySet[OrganisationSuggestion]) -> HttpResponse | None:
        if len(queryset) != 1:
            self.message_user(
                request, "Accept one suggestion at a time: each needs its own code.", messages.WARNING
            )
            return None
        suggestion = queryset[0]
        form = AcceptForm(
            request.POST if "confirm" in request.POST else None, initial={"name": suggestion.name}
        )
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                organisation = suggestion_accept(
                    suggestion=suggestion,
                    code=data["code"],
                    name=data["name"],
                    kind=data["kind"],
                    region=data["region"],
                    postcode=data["postcode"],
                    headcount=data["headcount"],
                    domains=data["domains"].replace(";", " ").split(),
                )
            except (OrganisationInvalid, OrganisationMoveRefused) as error:
                form.add_error(None, str(error))
            else:
                self.message_user(
                    request, f"{organisation.name} is in the directory now, with {suggestion.n} pledges."
                )
                return None
        return _action_page(
            request,
            self,
            title="Accept a suggestion",
            action="accept",
            queryset=queryset,
            form=form,
            intro="Add this name to the directory; its pledges then count for the new organisation:",
            status=400 if form.is_bound else 200,
        )

    @admin.action(description="Map to an organisation in the directory…", permissions=["change"])
    def map_to(self, request: HttpRequest, queryset: QuerySet[OrganisationSuggestion]) -> HttpResponse | None:
        form = MapForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            organisation = form.cleaned_data["code"]
            moved = 0
            refused = []
            for suggestion in queryset:
                try:
                    moved += suggestion_map(suggestion=suggestion, organisation=organisation).pledges
                except OrganisationMoveRefused as error:
                    refused.append(str(error))
            for sentence in refused:
                self.message_user(request, sentence, messages.WARNING)
            self.message_user(
                request, f"Mapped to {organisation.name}: {moved} pledge{'s' if moved != 1 else ''}."
            )
            return None
        return _action_page(
            request,
            self,
            title="Map suggestions to an organisation",
            action="map_to",
            queryset=queryset,
            form=form,
            intro="These names are an organisation the directory holds; their pledges will count for it:",
            status=400 if form.is_bound else 200,
        )
