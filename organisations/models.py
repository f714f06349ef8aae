"""The directory of organisations that take part, and their live counters per campaign.

Pledges point at an organisation (pledges sit above this app); a name typed that is
not in the directory is kept as a suggestion until organisers accept or map it."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from campaigns.models import Campaign, Region


class OrganisationKind(models.TextChoices):
    NHS_TRUST = "nhs-trust", "NHS trust"
    ICB = "icb", "Integrated care board"
    GP_PRACTICE = "gp-practice", "GP practice"
    COUNCIL = "council", "Council"
    CARE_PROVIDER = "care-provider", "Care provider"
    HOUSING_ASSOCIATION = "housing-association", "Housing association"
    CHARITY = "charity", "Charity"
    OTHER = "other", "Other"


class Organisation(models.Model):
    # The organisation's own code (ODS code for NHS bodies, a council's GSS code,
    # a CQC or regulator number...): what an import matches rows on.
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=120, unique=True)
    kind = models.CharField(max_length=24, choices=OrganisationKind.choices)
    region = models.CharField(max_length=32, choices=Region.choices)
    postcode = models.CharField(max_length=10, blank=True)
    headcount = models.PositiveIntegerField(null=True, blank=True, help_text="Staff, when known.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=OrganisationKind.values), name="organisation_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(region__in=Region.values), name="organisation_region_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(headcount__isnull=True) | models.Q(headcount__gte=1),
                name="organisation_headcount_positive",
            ),
        ]
        indexes = [
            # The type-ahead matches names case-insensitively from their start.
            models.Index(Lower("name"), name="organisation_name_lower_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class OrganisationDomain(models.Model):
    """An email domain the organisation's staff use. A domain belongs to one
    organisation; domains many share (nhs.net) are listed on the campaign instead."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="domains")
    # Lower-case, as changeday.lib.emailaddr.canonical_email writes it (punycode for IDNs).
    domain = models.CharField(max_length=253, unique=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class OrganisationCampaign(models.Model):
    """An organisation's page in one campaign: the welcome line and contact organisers set."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="campaign_pages")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="organisation_pages")
    welcome = models.CharField(max_length=300, blank=True)
    contact_name = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "campaign"], name="organisation_campaign_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} in {self.campaign_id}"


class SuggestionStatus(models.TextChoices):
    OPEN = "open", "Waiting for an organiser"
    ACCEPTED = "accepted", "Accepted as a new organisation"
    MAPPED = "mapped", "Mapped to an organisation in the directory"


# Company suffixes people add or leave off; "Riverside Homes Ltd." is "Riverside Homes".
_NAME_SUFFIXES = (" limited", " ltd")


def suggestion_name_key(name: str) -> str:
    """The form typed names are matched in (OrganisationSuggestion.name_key): case folded,
    whitespace collapsed, trailing dots and commas dropped, then one trailing "Ltd" or
    "Limited". Nothing cleverer (no "NHS trust", "plc" or "&"/"and"): an organiser can
    predict what merges, and maps the rest."""
    key = " ".join(name.casefold().split()).rstrip(" .,")
    for suffix in _NAME_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)].rstrip(" .,")
            break
    return key[:200]


class OrganisationSuggestion(models.Model):
    """A name typed on the form that the directory does not hold. Pledges naming it
    keep it until an organiser accepts it (creating the organisation) or maps it to
    one in the directory; either way the pledges then count for that organisation."""

    # suggestion_name_key(name): "Riverside Homes", "riverside  homes" and "Riverside Homes Ltd."
    # are one suggestion.
    name_key = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=SuggestionStatus.choices, default=SuggestionStatus.OPEN)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="suggestions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=SuggestionStatus.values), name="suggestion_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


ORGANISATION_TOTAL_SHARDS = 4
# The counted fields of OrganisationTotal, as pledges.services computes their deltas.
TOTAL_FIELDS = ("pledges", "nhs", "social_care", "housing", "patient_carer", "done", "started")


class OrganisationTotal(models.Model):
    """One slice of one organisation's live counters in one campaign: published pledges,
    by sector, and done/started outcomes. Moved in the pledge's own transaction
    (pledges.services), spread over a few rows so a whole hospital pledging at once
    does not queue on one; recounted from the pledges with the campaign's totals."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="organisation_totals")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="totals")
    shard = models.PositiveSmallIntegerField()
    pledges = models.BigIntegerField(default=0)
    nhs = models.BigIntegerField(default=0)
    social_care = models.BigIntegerField(default=0)
    housing = models.BigIntegerField(default=0)
    patient_carer = models.BigIntegerField(default=0)
    done = models.BigIntegerField(default=0)
    started = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "organisation", "shard"], name="organisation_total_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} in {self.campaign_id}[{self.shard}]: {self.pledges}"
