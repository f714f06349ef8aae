from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.models import Campaign, Phase
from changeday.lib.ratelimit import rate_limit
from changeday.lib.tokens import ExpiredToken, InvalidToken, read_token
from pledges.models import Pledge
from reminders import services
from reminders.forms import ReminderSignupForm
from reminders.models import ReminderSignup, SignupStatus


def _signup_page(
    request: HttpRequest, campaign: Campaign, form: ReminderSignupForm, status: int = 200
) -> HttpResponse:
    context = {"campaign": campaign, "form": form, "phase": campaign.phase()}
    return render(request, "reminders/signup.html", context, status=status)


# Exempt from CSRF so the campaign page, which carries this form, can be one page
# shared by every visitor (changeday.lib.pagecache). A forged cross-site post can
# only do what anyone can do directly: ask for a confirmation email to an
# address, which is double opt-in, rate-limited and bounded per address.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@rate_limit("remind", what="sign-ups")
def signup_create(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    action = reverse("reminders:signup", kwargs={"slug": campaign.slug})
    if campaign.phase() is Phase.CLOSED:
        status = 200 if request.method == "GET" else 403
        return render(request, "reminders/closed.html", {"campaign": campaign}, status=status)
    if request.method == "GET":
        return _signup_page(request, campaign, ReminderSignupForm(action=action))
    form = ReminderSignupForm(request.POST, action=action)
    if not form.is_valid():
        return _signup_page(request, campaign, form, status=400)
    if form.caught_in_honeypot:
        return redirect("reminders:signup-sent", slug=campaign.slug)
    try:
        services.reminder_signup_create(campaign=campaign, email=form.cleaned_data["email"])
    except services.ReminderError as exc:
        form.add_error(None, str(exc))
        return _signup_page(request, campaign, form, status=400)
    # The same page for a new address, one already signed up and one that
    # has pledged: a page never tells anyone what an address has done.
    return redirect("reminders:signup-sent", slug=campaign.slug)


def signup_sent(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    return render(request, "reminders/signup_sent.html", {"campaign": campaign})


@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        public_id = read_token(
            purpose=services.SIGNUP_CONFIRM_PURPOSE, token=token, max_age=settings.PLEDGE_CONFIRMATION_MAX_AGE
        )
    except ExpiredToken:
        return render(request, "reminders/link_expired.html", status=410)
    except InvalidToken:
        return render(request, "pledges/link_invalid.html", status=400)
    signup = ReminderSignup.objects.select_related("campaign").filter(public_id=public_id).first()
    if signup is None:
        return render(request, "pledges/link_invalid.html", status=404)
    context = {"signup": signup, "campaign": signup.campaign}
    # GET only shows the button: mail scanners follow links and must not opt
    # anyone in. The POST is safe to repeat.
    if request.method == "GET" and signup.status == SignupStatus.UNCONFIRMED:
        return render(request, "reminders/confirm.html", context)
    if request.method == "POST":
        context["signup"] = services.reminder_signup_confirm(signup=signup)
    return render(request, "reminders/confirmed.html", context)


def _unsubscribe_target(token: str) -> tuple[Campaign, str] | None:
    try:
        value = read_token(purpose=services.UNSUBSCRIBE_PURPOSE, token=token, max_age=None)
    except InvalidToken:
        return None
    kind, _, public_id = value.partition(".")
    model = {"p": Pledge, "s": ReminderSignup}.get(kind)
    source = model.objects.select_related("campaign").filter(public_id=public_id).first() if model else None
    if source is None:
        return None
    return source.campaign, source.email


# Exempt from CSRF: mail clients make the RFC 8058 one-click POST without a
# cookie or form token. The signed token in the address is the authority, and
# an unsubscribe forged from another site could only stop someone's reminders.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    target = _unsubscribe_target(token)
    if target is None:
        return render(request, "pledges/link_invalid.html", status=400)
    campaign, email = target
    # GET only shows the button, so a mail scanner cannot unsubscribe anyone.
    if request.method == "GET":
        return render(request, "reminders/unsubscribe.html", {"campaign": campaign})
    services.reminders_unsubscribe(campaign=campaign, email=email)
    return render(request, "reminders/unsubscribed.html", {"campaign": campaign})


# Exempt from CSRF for the same reason as unsubscribe: the RFC 8058 one-click POST comes
# from a mail client with no cookie, and the signed token is the authority. A forged
# cross-site POST could only stop someone's follow-through emails.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def follow_through_stop(request: HttpRequest, token: str) -> HttpResponse:
    """Every follow-through email's "stop these emails" link and List-Unsubscribe address.
    A GET only shows the button, so a mail scanner stops nothing; the POST stops every
    follow-through of the address in the campaign, and is safe to repeat."""
    try:
        public_id = read_token(purpose=services.FOLLOW_THROUGH_STOP_PURPOSE, token=token, max_age=None)
    except InvalidToken:
        return render(request, "pledges/link_invalid.html", status=400)
    pledge = Pledge.objects.select_related("campaign").filter(public_id=public_id).first()
    if pledge is None:
        # Erased since the email went: nothing left to stop, nor to send to.
        return render(request, "pledges/link_invalid.html", status=404)
    campaign = pledge.campaign
    if not campaign.outcomes_open():
        # The link has done its work: no follow-through goes once outcomes close.
        return render(request, "reminders/follow_through_ended.html", {"campaign": campaign}, status=410)
    if request.method == "GET":
        return render(request, "reminders/follow_through_stop.html", {"campaign": campaign})
    services.follow_through_stop(campaign=campaign, email=pledge.email)
    return render(request, "reminders/follow_through_stopped.html", {"campaign": campaign})


@require_http_methods(["GET", "POST"])
def stop_all(request: HttpRequest, token: str) -> HttpResponse:
    """Every reminder email's "stop all reminders from every campaign" link.

    A GET only shows the button, so a mail scanner suppresses nobody. The pages are the same
    whether or not the address was on the list already, and whatever it is."""
    try:
        value = read_token(purpose=services.STOP_ALL_PURPOSE, token=token, max_age=None)
    except InvalidToken:
        return render(request, "pledges/link_invalid.html", status=400)
    if request.method == "GET":
        return render(request, "reminders/stop_all.html")
    kind, _, public_id = value.partition(".")
    model = {"p": Pledge, "s": ReminderSignup}.get(kind)
    source = model.objects.filter(public_id=public_id).only("email").first() if model else None
    # A pledge or sign-up erased since the email went leaves no address to suppress, and
    # nothing to send to either: the answer is the same.
    if source is not None:
        services.reminders_stop_all(email=source.email)
    return render(request, "reminders/stopped_all.html")
