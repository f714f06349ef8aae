"""The directory in the admin: organisations with their domains and per-campaign pages, and
the CSV import. Merging duplicates moves pledges, so pledges.organisation_admin adds it."""

from __future__ import annotations

import inspect
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from organisations.models import Organisation, OrganisationCampaign, OrganisationDomain
from organisations.selectors import shared_domains
from organisations.services import (
    IMPORT_COLUMNS,
    code_normalise,
    domain_normalise,
    organisations_import,
    postcode_normalise,
)

# A directory of every NHS body, council and care provider in England is a few MB.
IMPORT_MAX_BYTES = 5 * 1024 * 1024
# Beyond this the page says how many more: fixing the first ones usually fixes the rest.
IMPORT_PROBLEMS_SHOWN = 200


class OrganisationDomainForm(forms.ModelForm):
    class Meta:
        model = OrganisationDomain
        fields = ["domain"]

    def clean_domain(self) -> str:
        try:
            return domain_normalise(self.cleaned_data["domain"], shared=shared_domains())
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class OrganisationDomainInline(admin.TabularInline):
    model = OrganisationDomain
    form = OrganisationDomainForm
    extra = 1


class OrganisationCampaignInline(admin.TabularInline):
    model = OrganisationCampaign
    fields = ["campaign", "welcome", "contact_name"]
    extra = 0
    verbose_name = "page in a campaign"
    verbose_name_plural = "pages in campaigns (welcome line and contact)"


class OrganisationForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["code", "name", "slug", "kind", "region", "postcode", "headcount"]

    def clean_code(self) -> str:
        try:
            return code_normalise(self.cleaned_data["code"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].split())

    def clean_postcode(self) -> str:
        try:
            return postcode_normalise(self.cleaned_data["postcode"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"A header row naming the columns ({', '.join(IMPORT_COLUMNS)}), then one organisation "
        "a row.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB; split it into several."
            )
        return upload


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    form = OrganisationForm
    list_display = ["name", "code", "kind", "region", "postcode", "headcount"]
    list_filter = ["kind", "region"]
    search_fields = ["name", "code", "postcode", "=domains__domain"]
    readonly_fields = ["created_at", "updated_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [OrganisationDomainInline, OrganisationCampaignInline]
    change_list_template = "admin/organisations/organisation/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="organisations_organisation_import",
            )
        ]
        return own + super().get_urls()

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        result = None
        if request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                result = organisations_import(csv_file=form.cleaned_data["file"].read())
                if result.ok:
                    self.message_user(
                        request,
                        f"Imported: {result.created} created, {result.updated} updated, "
                        f"{result.unchanged} unchanged.",
                    )
        else:
            form = ImportForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import organisations from CSV",
            "form": form,
            "result": result,
            "problems": result.problems[:IMPORT_PROBLEMS_SHOWN] if result else [],
            "problems_more": max(0, len(result.problems) - IMPORT_PROBLEMS_SHOWN) if result else 0,
            "columns": IMPORT_COLUMNS,
            "import_help": inspect.cleandoc(organisations_import.__doc__ or ""),
        }
        status = (
            400 if (request.method == "POST" and (not form.is_valid() or (result and not result.ok))) else 200
        )
        return TemplateResponse(
            request, "admin/organisations/organisation/import.html", context, status=status
        )
