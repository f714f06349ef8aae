"""The organisers' page for paper pledges, /campaigns/<slug>/paper/: a card typed in one by one,
a file of cards, the file's template, and a withdrawal at a pledger's request. Organisers only
(campaigns.permissions.organiser_required); the services are in pledges.paper and
pledges.paper_import."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.models import Campaign
from campaigns.permissions import organiser_required
from campaigns.selectors import campaign_get_by_slug
from moderation.paper_forms import PaperFileForm, PaperPledgeForm, PaperWithdrawForm
from pledges import paper
from pledges.models import Channel, Pledge, Status
from pledges.paper_import import PAPER_CSV_COLUMNS, PAPER_CSV_HELP, paper_csv_template, paper_pledges_import
from pledges.screening import FlagReason
from pledges.services import CampaignNotOpen


def _campaign(slug: str) -> Campaign:
    campaign = campaign_get_by_slug(slug)
    if campaign is None:
        raise Http404("No campaign here.")
    return campaign


def _form_urls() -> dict[str, str]:
    # The pledge form's type-ahead over the directory; no "Find your organisation" button,
    # whose answer is the public form.
    return {"suggest_url": reverse("pledges:organisation-suggest")}


def _entered(campaign: Campaign, public_id: str) -> Pledge | None:
    """The paper pledge the page was sent back to after entering it."""
    if not public_id or not paper.PUBLIC_ID_RE.fullmatch(public_id):
        return None
    return Pledge.objects.filter(campaign=campaign, public_id=public_id, channel=Channel.PAPER).first()


def _flag_labels(pledge: Pledge) -> list[str]:
    labels = []
    for flag in pledge.flags or []:
        try:
            labels.append(str(FlagReason(flag).label).lower())
        except ValueError:
            labels.append(flag)
    return labels


def _page(
    request: HttpRequest,
    campaign: Campaign,
    *,
    form: PaperPledgeForm | None = None,
    file_form: PaperFileForm | None = None,
    withdraw_form: PaperWithdrawForm | None = None,
    problems: list[Any] | None = None,
    status: int = 200,
    retry_after: int = 0,
) -> HttpResponse:
    entered = _entered(campaign, request.GET.get("entered", "")) if request.method == "GET" else None
    if form is None:
        # Cards of one event mostly share a region: the last card's is offered for the next.
        initial = {"region": entered.region} if entered is not None else {}
        form = PaperPledgeForm(initial=initial, **_form_urls())
    if withdraw_form is None:
        withdraw_form = PaperWithdrawForm(initial={"pledge": request.GET.get("withdraw", "")[:60]})
    context = {
        "campaign": campaign,
        "phase": campaign.phase(),
        "form": form,
        "file_form": file_form or PaperFileForm(),
        "withdraw_form": withdraw_form,
        "problems": problems or [],
        "entered": entered,
        "entered_published": entered is not None and entered.status == Status.PUBLISHED,
        "entered_flags": _flag_labels(entered) if entered is not None else [],
        "allowance": paper.paper_allowance(organiser=request.user),
        "columns": [(column, PAPER_CSV_HELP[column]) for column in PAPER_CSV_COLUMNS],
    }
    response = render(request, "moderation/paper.html", context, status=status)
    # It names pledgers and may show an address a card gave: never kept by a shared cache.
    response["Cache-Control"] = "private, no-store"
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


# Permission first: a stranger learns nothing, not even which methods exist.
@organiser_required
@require_http_methods(["GET", "POST"])
def paper_entry(request: HttpRequest, slug: str) -> HttpResponse:
    """A card typed in: back to an empty form saying where it went, with a link to it."""
    campaign = _campaign(slug)
    if request.method == "GET":
        return _page(request, campaign)
    form = PaperPledgeForm(request.POST, **_form_urls())
    if not form.is_valid():
        return _page(request, campaign, form=form, status=400)
    try:
        pledge = paper.pledge_enter_paper(campaign=campaign, organiser=request.user, **form.cleaned_data)
    except paper.PaperLimitReached as error:
        form.add_error(None, str(error))
        return _page(request, campaign, form=form, status=429, retry_after=error.allowance.retry_after)
    except CampaignNotOpen as error:
        form.add_error(None, str(error))
        return _page(request, campaign, form=form, status=403)
    except paper.PaperEntryError as error:
        form.add_error(error.field if error.field in form.fields else None, str(error))
        return _page(request, campaign, form=form, status=400)
    page = reverse("moderation:paper", kwargs={"slug": campaign.slug})
    return redirect(f"{page}?entered={pledge.public_id}")


@organiser_required
@require_POST
def paper_import(request: HttpRequest, slug: str) -> HttpResponse:
    """A file of cards, entered all at once or not at all."""
    campaign = _campaign(slug)
    file_form = PaperFileForm(request.POST, request.FILES)
    if not file_form.is_valid():
        return _page(request, campaign, file_form=file_form, status=400)
    result = paper_pledges_import(
        campaign=campaign, organiser=request.user, csv_file=file_form.cleaned_data["file"]
    )
    if not result.ok:
        if result.over_limit:
            retry_after = paper.paper_allowance(organiser=request.user).retry_after
            return _page(request, campaign, problems=result.problems, status=429, retry_after=retry_after)
        return _page(request, campaign, problems=result.problems, status=400)
    entered = len(result.pledges)
    messages.success(
        request,
        f"{entered} paper pledge{'s' if entered != 1 else ''} entered from the file: "
        f"{result.published} published, {result.held} held for review.",
    )
    return redirect("moderation:paper", slug=campaign.slug)


@organiser_required
@require_GET
def paper_template(request: HttpRequest, slug: str) -> HttpResponse:
    """The CSV file to fill in: the header line that names the columns."""
    campaign = _campaign(slug)
    response = HttpResponse(paper_csv_template(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="paper-pledges-{campaign.slug}.csv"'
    return response


@organiser_required
@require_POST
def paper_withdraw(request: HttpRequest, slug: str) -> HttpResponse:
    """A paper pledge withdrawn because its pledger asked an organiser to."""
    campaign = _campaign(slug)
    form = PaperWithdrawForm(request.POST)
    if not form.is_valid():
        return _page(request, campaign, withdraw_form=form, status=400)
    pledge = paper.paper_pledge_find(campaign=campaign, wanted=form.cleaned_data["pledge"])
    if pledge is None:
        form.add_error("pledge", f"No pledge of {campaign.name} has that card reference or link.")
        return _page(request, campaign, withdraw_form=form, status=400)
    try:
        paper.pledge_withdraw_on_request(
            pledge=pledge, organiser=request.user, note=form.cleaned_data["note"]
        )
    except paper.PaperEntryError as error:
        form.add_error(error.field if error.field in form.fields else "pledge", str(error))
        return _page(request, campaign, withdraw_form=form, status=400)
    messages.success(
        request, f"Card {pledge.paper_reference} withdrawn: it is off the wall and out of the totals."
    )
    return redirect("moderation:paper", slug=campaign.slug)
