"""Follow-through emails ("did you do it?"): moments after Change Day or the deadline, one
email per address per moment listing each of that person's pledges the moment asks about,
through the reminders' runs and deliveries, until the campaign's outcomes close."""

from __future__ import annotations

import io
import re
import time as clock
from collections import Counter
from datetime import time, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import RestrictedError
from django.test import Client
from django.urls import resolve
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.emailaddr import canonical_email
from changeday.lib.tokens import make_token, read_token
from conftest import create_pledge
from moderation.models import Action
from moderation.services import pledge_moderate
from outbox.models import Suppression, SuppressionReason
from outbox.services import suppression_add, suppression_lift
from pledges.models import Outcome, Pledge, Status
from pledges.outcomes import OUTCOME_PURPOSE, pledge_outcome_record
from pledges.services import pledge_withdraw
from reminders import services
from reminders.models import Anchor, Audience, DeliveryStatus, Reminder, ReminderDelivery, ReminderRun
from reminders.tests.helpers import (
    FOLLOW_THROUGH_PREFIX,
    campaign_admin_form,
    campaign_admin_values,
    reminder,
    run_due,
)
from testsupport.mail import email_html, email_text

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
# "sam@example.org" with a Cyrillic "а" in the domain: another address, another person,
# whose mail goes to the domain's punycode form.
LOOK_ALIKE = "sam@ex\u0430mple.org"
LOOK_ALIKE_ON_THE_WIRE = canonical_email(LOOK_ALIKE)


def _to(inbox: Any) -> Counter[str]:
    return Counter(str(message["To"]) for message in inbox.messages)


def _moment(campaign: Campaign, **overrides: Any) -> Reminder:
    values: dict[str, Any] = {
        "anchor": Anchor.AFTER_CHANGE_DAY,
        "days_before": 0,
        "days_after": 14,
        "send_time": time(10, 0),
        "audience": Audience.FOLLOW_ALL,
    }
    values.update(overrides)
    return reminder(campaign, **values)


def _outcome_links(text: str) -> list[str]:
    return re.findall(r"How did it go\? (http://testserver/\S+)", text)


def _stop_path(message: Any) -> str:
    match = re.search(r"Stop these emails: http://testserver(/\S+)", email_text(message))
    assert match, "every follow-through email says how to stop them"
    return match[1]


def _sent_to(inbox: Any, address: str) -> Any:
    (message,) = [m for m in inbox.messages if str(m["To"]) == address]
    return message


def _published_earlier(make_campaign: Any) -> Campaign:
    """A campaign whose Change Day was three weeks ago, still open for pledges for ten days:
    its first follow-through moment (14 days after Change Day) is due now, for real."""
    now = timezone.now()
    return make_campaign(
        name="Care Day 2027",
        slug="care-day-2027",
        hashtag="CareDay",
        opens_at=now - timedelta(days=40),
        change_day=(now - timedelta(days=21)).date(),
        deadline=now + timedelta(days=10),
    )


# --- The happy path ---------------------------------------------------------------------


def test_a_follow_through_moment_emails_each_address_once_listing_each_pledge_with_its_own_link(
    campaign: Campaign, smtp_inbox: Any
) -> None:
    first = create_pledge(
        campaign, 1, email="sam@example.org", text="learn the name of every porter on my ward"
    )
    second = create_pledge(campaign, 2, email="sam@example.org", text="ask one carer a week what would help")
    # The same person typing their address another way: the same recipient.
    third = create_pledge(campaign, 3, email="Sam@EXAMPLE.org", text="bring <b>tea</b> to the night shift")
    look_alike = create_pledge(campaign, 4, email=LOOK_ALIKE, text="visit the day centre every month")
    moment = _moment(campaign)
    due = moment.due_at()
    assert timezone.localtime(due).date() == campaign.change_day + timedelta(days=14)

    assert run_due(now=due - MINUTE) == []
    run_due(now=due + MINUTE)
    smtp_inbox.wait_for(2)
    clock.sleep(0.3)

    assert LOOK_ALIKE_ON_THE_WIRE == "sam@xn--exmple-4nf.org"
    assert _to(smtp_inbox) == {"sam@example.org": 1, LOOK_ALIKE_ON_THE_WIRE: 1}
    sam = _sent_to(smtp_inbox, "sam@example.org")
    assert sam["Subject"] == "Change Day 2027: did you do it?"
    text, html = email_text(sam), email_html(sam)
    assert "You made 3 pledges for Change Day 2027. Did you do it?" in text
    for pledge in (first, second):
        assert pledge.text in text and pledge.text in html
    assert "bring <b>tea</b> to the night shift" in text
    assert "bring &lt;b&gt;tea&lt;/b&gt; to the night shift" in html and "<b>tea</b>" not in html
    assert look_alike.text not in text

    # Each pledge its own signed link, in both parts, naming the pledge and never the address.
    links = _outcome_links(text)
    assert len(links) == 3
    client = Client()
    found = []
    for link in links:
        path = urlsplit(link).path
        assert link in html
        assert "@" not in path and "example" not in path
        match = resolve(path)
        assert (match.namespace, match.url_name) == ("pledges", "outcome")
        found.append(read_token(purpose=OUTCOME_PURPOSE, token=match.kwargs["token"], max_age=None))
        assert client.get(path).status_code == 200
    assert found == [first.public_id, second.public_id, third.public_id]
    for pledge in (first, second, third):
        permalink = f"http://testserver/pledges/{pledge.public_id}/"
        assert permalink in text and permalink in html
        assert client.get(f"/pledges/{pledge.public_id}/").status_code == 200

    # RFC 8058 one-click unsubscribe, and the "stop all" link besides.
    stop_path = _stop_path(sam)
    assert str(sam["List-Unsubscribe"]).strip() == f"<http://testserver{stop_path}>"
    assert sam["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Stop all reminders from every campaign: http://testserver/reminders/stop-all/" in text
    delivery = ReminderDelivery.objects.get(reminder=moment, recipient="sam@example.org")
    assert sam["Message-ID"] == f"<follow-through-{moment.pk}-{delivery.pk}@testserver>"
    assert delivery.status == DeliveryStatus.SENT

    # Exactly once: the next passes of the beat task send nothing more.
    run_due(now=due + 5 * MINUTE)
    run_due(now=due + timedelta(days=1))
    clock.sleep(0.3)
    assert len(smtp_inbox.messages) == 2
    assert ReminderRun.objects.get(reminder=moment).finished_at is not None


def test_a_flagged_pledge_is_asked_about_by_its_link_and_never_quoted(
    campaign: Campaign, organiser: Any, smtp_inbox: Any
) -> None:
    words = "check NHS number 943 476 5919 before the scan"
    flagged = create_pledge(campaign, 1, email="pat@example.org", text=words)
    assert flagged.status == Status.PENDING and flagged.flags
    pledge_moderate(pledge_ids=[flagged.pk], action=Action.PUBLISH, actor=organiser)
    moment = _moment(campaign)
    run_due(now=moment.due_at() + MINUTE)
    (message,) = smtp_inbox.wait_for(1)
    text, html = email_text(message), email_html(message)
    assert "943" not in text and "943" not in html
    assert "Your pledge" in text
    assert len(_outcome_links(text)) == 1


# --- Who is left out ---------------------------------------------------------------------


def _the_left_out(campaign: Campaign) -> dict[str, Pledge]:
    return {
        name: create_pledge(campaign, n, email=f"{name}@example.org")
        for n, name in enumerate(["asked", "suppressed", "withdrawn", "rejected", "hidden", "stopped"], 1)
    }


def _leave_out(pledges: dict[str, Pledge], organiser: Any) -> None:
    suppression_add(email="Suppressed@example.org", reason=SuppressionReason.UNSUBSCRIBED)
    pledge_withdraw(pledge=pledges["withdrawn"])
    pledge_moderate(
        pledge_ids=[pledges["rejected"].pk], action=Action.REJECT, actor=organiser, reason_code="spam"
    )
    pledge_moderate(pledge_ids=[pledges["hidden"].pk], action=Action.HIDE, actor=organiser)
    services.follow_through_stop(campaign=pledges["stopped"].campaign, email="STOPPED@example.org")


def test_the_suppressed_withdrawn_rejected_hidden_and_stopped_are_not_planned(
    campaign: Campaign, organiser: Any, smtp_inbox: Any
) -> None:
    pledges = _the_left_out(campaign)
    create_pledge(campaign, 9, email="unconfirmed@example.org", confirm=False)
    _leave_out(pledges, organiser)
    moment = _moment(campaign)

    run_due(now=moment.due_at() + MINUTE)
    smtp_inbox.wait_for(1)
    clock.sleep(0.3)

    assert _to(smtp_inbox) == {"asked@example.org": 1}
    assert set(ReminderDelivery.objects.values_list("recipient", flat=True)) == {"asked@example.org"}


def test_what_changed_after_planning_is_skipped_at_sending_with_its_reason(
    campaign: Campaign, organiser: Any, smtp_inbox: Any
) -> None:
    pledges = _the_left_out(campaign)
    create_pledge(campaign, 7, email="two@example.org", text="walk every new starter round the site")
    gone = create_pledge(campaign, 8, email="two@example.org", text="put a chair by every bed for a carer")
    moment = _moment(campaign)
    now = moment.due_at() + MINUTE
    # Planned, not yet sent: what changes now is seen when each email is about to go.
    (result,) = services.reminders_dispatch(now=now)
    assert ReminderDelivery.objects.filter(run=result.run).count() == 7
    _leave_out(pledges, organiser)
    pledge_withdraw(pledge=gone)
    for first_id, last_id in result.batches:
        services.reminder_send_batch(run_id=result.run.pk, first_id=first_id, last_id=last_id, now=now)
    smtp_inbox.wait_for(2)
    clock.sleep(0.3)

    assert _to(smtp_inbox) == {"asked@example.org": 1, "two@example.org": 1}
    two = email_text(_sent_to(smtp_inbox, "two@example.org"))
    assert "walk every new starter" in two and "put a chair" not in two
    reasons = dict(ReminderDelivery.objects.values_list("recipient", "skip_reason"))
    assert reasons == {
        "asked@example.org": "",
        "two@example.org": "",
        "suppressed@example.org": services.SUPPRESSED,
        "withdrawn@example.org": services.NOTHING_TO_ASK,
        "rejected@example.org": services.NOTHING_TO_ASK,
        "hidden@example.org": services.NOTHING_TO_ASK,
        "stopped@example.org": services.FOLLOW_THROUGH_STOPPED,
    }
    assert ReminderRun.objects.get(pk=result.run.pk).finished_at is not None


# --- Audiences -----------------------------------------------------------------------------


def test_later_moments_ask_the_not_yet_asked_and_then_the_unfinished(
    make_campaign: Any, smtp_inbox: Any
) -> None:
    campaign = _published_earlier(make_campaign)
    early = create_pledge(campaign, 1, email="early@example.org", text="learn every porter's name")
    answered = create_pledge(campaign, 2, email="answered@example.org", text="hold a tea round each Friday")
    busy = create_pledge(campaign, 3, email="busy@example.org", text="visit the day centre monthly")
    first = _moment(campaign, audience=Audience.FOLLOW_ALL)
    not_asked = _moment(
        campaign, anchor=Anchor.AFTER_DEADLINE, days_after=7, audience=Audience.FOLLOW_NOT_ASKED
    )
    unfinished = _moment(
        campaign, anchor=Anchor.AFTER_DEADLINE, days_after=45, audience=Audience.FOLLOW_UNFINISHED
    )

    # 14 days after Change Day (a week ago): every published pledge made by then.
    run_due(now=timezone.now())
    smtp_inbox.wait_for(3)
    assert set(_to(smtp_inbox)) == {"early@example.org", "answered@example.org", "busy@example.org"}
    assert ReminderRun.objects.get(reminder=first).finished_at is not None

    # Pledged since; "early" pledges again; two answer.
    late = create_pledge(campaign, 4, email="late@example.org", text="ask every patient one question")
    again = create_pledge(campaign, 5, email="early@example.org", text="thank the cleaners by name")
    pledge_outcome_record(pledge=answered, outcome=Outcome.DONE)
    pledge_outcome_record(pledge=busy, outcome=Outcome.STARTED)
    create_pledge(campaign, 6, email="late-answered@example.org", text="open the garden to visitors")
    pledge_outcome_record(
        pledge=Pledge.objects.get(email="late-answered@example.org"), outcome=Outcome.DID_NOT_WORK
    )

    # A week after the deadline: only pledges no moment asked about, still unanswered.
    smtp_inbox.messages.clear()
    run_due(now=not_asked.due_at() + MINUTE)
    smtp_inbox.wait_for(2)
    clock.sleep(0.3)
    assert _to(smtp_inbox) == {"late@example.org": 1, "early@example.org": 1}
    to_early = email_text(_sent_to(smtp_inbox, "early@example.org"))
    assert again.text in to_early and early.text not in to_early
    assert late.text in email_text(_sent_to(smtp_inbox, "late@example.org"))

    # 45 days after the deadline: those who said "not yet" or "started", once more.
    pledge_outcome_record(pledge=late, outcome=Outcome.NOT_YET, now=unfinished.due_at() - timedelta(days=1))
    smtp_inbox.messages.clear()
    run_due(now=unfinished.due_at() + MINUTE)
    smtp_inbox.wait_for(2)
    clock.sleep(0.3)
    assert _to(smtp_inbox) == {"busy@example.org": 1, "late@example.org": 1}
    to_busy = _sent_to(smtp_inbox, "busy@example.org")
    assert to_busy["Subject"] == "How is your pledge for Care Day 2027 going?"
    assert "(you said: started)" in email_text(to_busy)


def test_a_pledge_hidden_during_the_first_ask_and_an_address_suppressed_then_are_asked_later(
    make_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    campaign = _published_earlier(make_campaign)
    create_pledge(campaign, 1, email="asked@example.org")
    hidden = create_pledge(campaign, 2, email="hidden@example.org", text="learn every porter's name")
    create_pledge(campaign, 3, email="away@example.org", text="thank the cleaners by name")
    first = _moment(campaign, audience=Audience.FOLLOW_ALL)
    not_asked = _moment(
        campaign, anchor=Anchor.AFTER_DEADLINE, days_after=7, audience=Audience.FOLLOW_NOT_ASKED
    )
    pledge_moderate(pledge_ids=[hidden.pk], action=Action.HIDE, actor=organiser)
    suppression_add(email="away@example.org", reason=SuppressionReason.UNSUBSCRIBED)

    # 14 days after Change Day (a week ago): every published pledge made by then.
    run_due(now=timezone.now())
    smtp_inbox.wait_for(1)
    clock.sleep(0.3)
    assert _to(smtp_inbox) == {"asked@example.org": 1}
    assert ReminderRun.objects.get(reminder=first).finished_at is not None

    # The pledge comes back after review; the address asks to hear from us again.
    pledge_moderate(pledge_ids=[hidden.pk], action=Action.RESTORE, actor=organiser)
    suppression_lift(suppression=Suppression.objects.get(), by=organiser, reason="Asked to hear again")
    smtp_inbox.messages.clear()
    run_due(now=not_asked.due_at() + MINUTE)
    smtp_inbox.wait_for(2)
    clock.sleep(0.3)
    assert _to(smtp_inbox) == {"hidden@example.org": 1, "away@example.org": 1}
    assert hidden.text in email_text(_sent_to(smtp_inbox, "hidden@example.org"))


def test_no_pledge_is_asked_about_a_fourth_time_whatever_the_schedule_says(
    campaign: Campaign, smtp_inbox: Any
) -> None:
    create_pledge(campaign, 1, email="sam@example.org", text="learn every porter's name")
    # Four moments asking everyone, written past the admin's checks (as a script could).
    moments = [
        Reminder.objects.create(
            campaign=campaign,
            anchor=Anchor.AFTER_CHANGE_DAY,
            days_before=0,
            days_after=days,
            send_time=time(10, 0),
            audience=Audience.FOLLOW_ALL,
        )
        for days in (14, 15, 16, 17)
    ]
    for n, moment in enumerate(moments[:3], 1):
        run_due(now=moment.due_at() + MINUTE)
        smtp_inbox.wait_for(n)

    run_due(now=moments[3].due_at() + MINUTE)
    clock.sleep(0.3)
    assert _to(smtp_inbox) == {"sam@example.org": 3}
    assert not ReminderDelivery.objects.filter(reminder=moments[3]).exists()


# --- When: from Change Day until outcomes close -----------------------------------------


def test_no_moment_falls_before_change_day_or_once_outcomes_close_and_there_are_at_most_three(
    make_campaign: Any,
) -> None:
    now = timezone.now()
    # A deadline before Change Day: "on the day of the deadline" would ask before the day itself.
    early_deadline = make_campaign(
        slug="early-deadline", change_day=(now + timedelta(days=20)).date(), deadline=now + timedelta(days=10)
    )
    with pytest.raises(ValidationError, match="No follow-through moment falls before Change Day"):
        _moment(early_deadline, anchor=Anchor.AFTER_DEADLINE, days_after=0)
    campaign = make_campaign(outcomes_close=now + timedelta(days=80))
    with pytest.raises(ValidationError, match="after outcomes close"):
        _moment(campaign, anchor=Anchor.AFTER_DEADLINE, days_after=21)
    with pytest.raises(ValidationError, match="follow-through audiences"):
        _moment(campaign, audience=Audience.EVERYONE)
    with pytest.raises(ValidationError, match="reminder audiences"):
        reminder(campaign, audience=Audience.FOLLOW_ALL)

    # The pledge form promises at most three asks: a schedule holds at most three moments.
    for days in (7, 14, 21):
        _moment(campaign, days_after=days)
    with pytest.raises(ValidationError, match="at most 3 follow-through moments"):
        _moment(campaign, days_after=28)


def test_follow_through_goes_after_the_deadline_but_stops_when_outcomes_close(
    campaign: Campaign, smtp_inbox: Any
) -> None:
    create_pledge(campaign, 1, email="kept@example.org", wants_reminders=True)
    create_pledge(campaign, 2, email="late@example.org", wants_reminders=True)
    after_deadline = _moment(campaign, anchor=Anchor.AFTER_DEADLINE, days_after=7)
    week_before = reminder(campaign, days_before=7)

    # A reminder still waiting when the deadline passes is not sent; follow-through after it is.
    run_due(now=campaign.deadline + MINUTE)
    assert ReminderRun.objects.filter(reminder=week_before).count() == 0
    now = after_deadline.due_at() + MINUTE
    (result,) = services.reminders_dispatch(now=now)
    assert result.run.reminder_id == after_deadline.pk
    services.reminder_send_batch(
        run_id=result.run.pk, first_id=result.batches[0][0], last_id=result.batches[0][0], now=now
    )
    smtp_inbox.wait_for(1)
    assert _to(smtp_inbox) == {"kept@example.org": 1}

    # Outcomes close with one email still waiting: it is skipped, saying why, and the run ends.
    Campaign.objects.filter(pk=campaign.pk).update(outcomes_close=now + timedelta(hours=1))
    later = now + timedelta(hours=2)
    assert services.reminders_dispatch(now=later) == []
    waiting = ReminderDelivery.objects.get(recipient="late@example.org")
    assert (waiting.status, waiting.skip_reason) == (DeliveryStatus.SKIPPED, services.OUTCOMES_CLOSED)
    assert ReminderRun.objects.get(pk=result.run.pk).finished_at is not None
    # A batch handed out before the close and run after it sends nothing either.
    ReminderDelivery.objects.filter(pk=waiting.pk).update(status=DeliveryStatus.PENDING, skip_reason="")
    services.reminder_send_batch(run_id=result.run.pk, first_id=waiting.pk, last_id=waiting.pk, now=later)
    clock.sleep(0.3)
    assert len(smtp_inbox.messages) == 1
    waiting.refresh_from_db()
    assert waiting.skip_reason == services.OUTCOMES_CLOSED

    # A moment due after outcomes close never starts.
    Campaign.objects.filter(pk=campaign.pk).update(outcomes_close=None)
    campaign.refresh_from_db()
    last = _moment(campaign, anchor=Anchor.AFTER_DEADLINE, days_after=80)
    Campaign.objects.filter(pk=campaign.pk).update(outcomes_close=last.due_at() - MINUTE)
    assert services.reminders_due(now=last.due_at() + MINUTE) == []


# --- Stopping: one click, and the confirm page ----------------------------------------------


def test_the_one_click_post_stops_follow_through_for_every_pledge_of_the_address_in_the_campaign(
    campaign: Campaign, make_campaign: Any, smtp_inbox: Any
) -> None:
    other = make_campaign(name="Care Day 2027", slug="care-day-2027", hashtag="CareDay")
    mine = [
        create_pledge(campaign, 1, email="sam@example.org", wants_reminders=True),
        create_pledge(campaign, 2, email="Sam@Example.org"),
    ]
    elsewhere = create_pledge(other, 3, email="sam@example.org")
    look_alike = create_pledge(campaign, 4, email=LOOK_ALIKE)
    moment = _moment(campaign)
    run_due(now=moment.due_at() + MINUTE)
    smtp_inbox.wait_for(2)
    stop_path = _stop_path(_sent_to(smtp_inbox, "sam@example.org"))

    # A mail scanner following the link changes nothing: the page shows a button.
    page = Client().get(stop_path)
    assert page.status_code == 200
    assert '<form method="post">' in page.content.decode() and "Stop asking me" in page.content.decode()
    assert all(p.wants_follow_through for p in Pledge.objects.all())

    # The mail client's RFC 8058 POST: no cookie, no CSRF token.
    client = Client(enforce_csrf_checks=True)
    answer = client.post(stop_path, {"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert "We will not ask again" in answer.content.decode()
    assert client.post(stop_path, {"List-Unsubscribe": "One-Click"}).status_code == 200, "safe to repeat"
    for pledge in mine:
        pledge.refresh_from_db()
        assert not pledge.wants_follow_through
    assert Pledge.objects.get(pk=mine[0].pk).wants_reminders, "reminders are another list"
    elsewhere.refresh_from_db()
    look_alike.refresh_from_db()
    assert elsewhere.wants_follow_through and look_alike.wants_follow_through
    assert not Suppression.objects.exists()

    smtp_inbox.messages.clear()
    later = _moment(campaign, anchor=Anchor.AFTER_DEADLINE, days_after=7)
    run_due(now=later.due_at() + MINUTE)
    smtp_inbox.wait_for(1)
    clock.sleep(0.3)
    assert _to(smtp_inbox) == {LOOK_ALIKE_ON_THE_WIRE: 1}


def test_the_stop_all_link_in_a_follow_through_email_suppresses_the_address(
    campaign: Campaign, smtp_inbox: Any
) -> None:
    create_pledge(campaign, 1, email="sam@example.org")
    moment = _moment(campaign)
    run_due(now=moment.due_at() + MINUTE)
    (message,) = smtp_inbox.wait_for(1)
    path = re.search(r"Stop all reminders from every campaign: http://testserver(/\S+)", email_text(message))[
        1
    ]
    assert Client().post(path).status_code == 200
    assert Suppression.objects.get().email_canonical == "sam@example.org"


def test_forged_replayed_and_expired_stop_links_answer_with_a_4xx_and_change_nothing(
    campaign: Campaign, smtp_inbox: Any
) -> None:
    pledge = create_pledge(campaign, 1, email="sam@example.org")
    good = services.follow_through_stop_token(pledge=pledge)
    client = Client(enforce_csrf_checks=True)

    def stop(token: str) -> int:
        return client.post(f"/reminders/follow-through/stop/{token}/").status_code

    assert stop(good[:-2] + ("AA" if not good.endswith("AA") else "BB")) == 400
    assert stop(make_token(purpose=OUTCOME_PURPOSE, value=pledge.public_id)) == 400
    assert stop(services.unsubscribe_token(pledge=pledge)) == 400
    assert stop("x" * 3000) == 400
    assert stop(make_token(purpose=services.FOLLOW_THROUGH_STOP_PURPOSE, value="nosuchpledge")) == 404
    assert client.get("/reminders/follow-through/stop/%00/").status_code in (400, 404)
    pledge.refresh_from_db()
    assert pledge.wants_follow_through

    # Once outcomes close no follow-through goes: the link has done its work.
    Campaign.objects.filter(pk=campaign.pk).update(
        deadline=timezone.now() - timedelta(hours=12), outcomes_close=timezone.now() - timedelta(hours=1)
    )
    answer = client.post(f"/reminders/follow-through/stop/{good}/")
    assert answer.status_code == 410
    assert "no more of these emails will come" in answer.content.decode()
    pledge.refresh_from_db()
    assert pledge.wants_follow_through


# --- The admin and the default schedule -----------------------------------------------------


def _admin_row(moment: Reminder) -> dict[str, str]:
    """A follow-through moment's row in the campaign admin's inline, as the page shows it."""
    return {
        "id": str(moment.pk),
        "campaign": str(moment.campaign_id),
        "anchor": moment.anchor,
        "days_after": str(moment.days_after),
        "send_time": moment.send_time.strftime("%H:%M:%S"),
        "audience": moment.audience,
        "message": moment.message,
    }


def test_organisers_edit_follow_through_moments_beside_the_reminders_with_the_models_checks(
    organiser: Any, campaign: Campaign, smtp_inbox: Any
) -> None:
    client = Client()
    client.force_login(organiser)
    week = reminder(campaign, days_before=7)
    moment = _moment(campaign)
    create_pledge(campaign, 1, email="sam@example.org")
    run_due(now=moment.due_at() + MINUTE)
    smtp_inbox.wait_for(1)

    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "Follow-through moments" in page
    assert f'name="{FOLLOW_THROUGH_PREFIX}-0-days_after"' in page
    assert 'name="reminders-0-days_before"' in page and 'name="reminders-1-days_before"' not in page
    assert "Finished" in page and timezone.localtime(moment.due_at()).strftime("%-d %b %Y %H:%M") in page

    values = campaign_admin_values(
        campaign.slug, opens=campaign.opens_at, deadline=campaign.deadline, change_day=campaign.change_day
    )
    values["name"] = campaign.name
    reminders = [
        {
            "id": str(week.pk),
            "campaign": str(campaign.pk),
            "anchor": "deadline",
            "days_before": "7",
            "send_time": "09:00:00",
            "audience": "everyone",
            "message": "",
        }
    ]
    existing = _admin_row(moment)
    new = {
        "campaign": str(campaign.pk),
        "anchor": "after-deadline",
        "days_after": "120",
        "send_time": "10:00:00",
        "audience": "follow-unfinished",
        "message": "Tell us in a word.",
    }

    def post(row: dict[str, str]) -> Any:
        form = campaign_admin_form(
            values, reminders, 1, follow_through=[existing, row], follow_through_initial=1
        )
        return client.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", form)

    refused = post(new)
    assert refused.status_code == 200
    assert "after outcomes close" in refused.content.decode()
    wrong_audience = post({**new, "days_after": "45", "audience": "everyone"})
    assert wrong_audience.status_code == 200
    assert "Select a valid choice" in wrong_audience.content.decode()

    saved = post({**new, "days_after": "45"})
    assert saved.status_code == 302
    made = Reminder.objects.get(campaign=campaign, anchor=Anchor.AFTER_DEADLINE)
    assert (made.days_after, made.audience, made.message) == (
        45,
        Audience.FOLLOW_UNFINISHED,
        "Tell us in a word.",
    )
    assert made.label == "Follow-through 45 days after the deadline"

    # The same moment twice would ask everyone twice: refused, whether the twin is saved already
    # or comes in the same submission, and a reminder's twin alike (never a 500).
    saved_rows = [existing, {**new, "days_after": "45", "id": str(made.pk)}]
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    twin, fresh = {**new, "days_after": "45"}, {**new, "days_after": "30"}
    for follow_through, initial in (([*saved_rows, twin], 2), ([*saved_rows, fresh, fresh], 2)):
        form = campaign_admin_form(
            values, reminders, 1, follow_through=follow_through, follow_through_initial=initial
        )
        refused = client.post(url, form)
        assert refused.status_code == 200 and "in the schedule already" in refused.content.decode()
    fourth = campaign_admin_form(
        values,
        reminders,
        1,
        follow_through=[*saved_rows, fresh, {**fresh, "days_after": "60"}],
        follow_through_initial=2,
    )
    refused = client.post(url, fourth)
    assert refused.status_code == 200 and "at most 3 follow-through moments" in refused.content.decode()
    reminder_twin = campaign_admin_form(
        values,
        [*reminders, {**reminders[0], "id": ""}],
        1,
        follow_through=saved_rows,
        follow_through_initial=2,
    )
    refused = client.post(url, reminder_twin)
    assert refused.status_code == 200 and "in the schedule already" in refused.content.decode()
    assert Reminder.objects.filter(campaign=campaign).count() == 3

    runs = client.get("/admin/reminders/reminderrun/").content.decode()
    assert "Follow-through 14 days after Change Day" in runs


def test_a_moment_that_has_begun_sending_can_be_neither_deleted_nor_moved(
    campaign: Campaign, smtp_inbox: Any
) -> None:
    create_pledge(campaign, 1, email="sam@example.org")
    moment = _moment(campaign)
    run_due(now=moment.due_at() + MINUTE)
    smtp_inbox.wait_for(1)

    with pytest.raises(RestrictedError):
        moment.delete()
    with pytest.raises(RestrictedError):
        Reminder.objects.filter(pk=moment.pk).delete()
    assert ReminderDelivery.objects.get(reminder=moment).status == DeliveryStatus.SENT
    changes = ({"days_after": 21}, {"anchor": Anchor.AFTER_DEADLINE}, {"audience": Audience.FOLLOW_NOT_ASKED})
    for change in changes:
        moved = Reminder.objects.get(pk=moment.pk)
        for name, value in change.items():
            setattr(moved, name, value)
        with pytest.raises(ValidationError, match="has begun sending"):
            moved.full_clean()
    reworded = Reminder.objects.get(pk=moment.pk)
    reworded.message = "Tell us in a word."
    reworded.full_clean()

    # A moment not yet begun is the organisers' to change or delete.
    later = _moment(campaign, anchor=Anchor.AFTER_DEADLINE, days_after=7)
    later.days_after = 8
    later.full_clean()
    later.delete()
    assert Reminder.objects.filter(pk=moment.pk).exists()


def test_a_campaign_deleted_whole_takes_its_begun_moments_and_their_runs_with_it(
    make_campaign: Any,
) -> None:
    campaign = make_campaign(slug="nobody-came")
    moment = _moment(campaign)
    run_due(now=moment.due_at() + MINUTE)
    assert ReminderRun.objects.get(reminder=moment).finished_at is not None
    campaign.delete()
    assert not Reminder.objects.exists() and not ReminderRun.objects.exists()


def test_organisers_are_told_why_a_moment_that_has_begun_sending_stays_as_it_is(
    organiser: Any, campaign: Campaign, smtp_inbox: Any
) -> None:
    client = Client()
    client.force_login(organiser)
    moment = _moment(campaign)
    create_pledge(campaign, 1, email="sam@example.org")
    run_due(now=moment.due_at() + MINUTE)
    smtp_inbox.wait_for(1)
    values = campaign_admin_values(
        campaign.slug, opens=campaign.opens_at, deadline=campaign.deadline, change_day=campaign.change_day
    )
    values["name"] = campaign.name
    row = _admin_row(moment)
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"

    def post(changed: dict[str, str]) -> Any:
        form = campaign_admin_form(values, [], 0, follow_through=[changed], follow_through_initial=1)
        return client.post(url, form)

    deleted = post({**row, "DELETE": "on"})
    assert deleted.status_code == 200
    assert (
        "&#x27;Follow-through 14 days after Change Day&#x27; has begun sending, so it stays in the schedule"
        in deleted.content.decode()
    )
    for change in ({"days_after": "21"}, {"anchor": "after-deadline"}, {"audience": "follow-not-asked"}):
        refused = post({**row, **change})
        assert refused.status_code == 200
        assert "has begun sending, so its day, time, what it counts from and whom it asks" in (
            refused.content.decode()
        )
    assert Reminder.objects.get(pk=moment.pk).label == "Follow-through 14 days after Change Day"
    assert ReminderDelivery.objects.filter(reminder=moment, status=DeliveryStatus.SENT).count() == 1
    assert post({**row, "message": "Tell us in a word."}).status_code == 302
    assert Reminder.objects.get(pk=moment.pk).message == "Tell us in a word."


def test_a_new_campaign_gets_the_usual_follow_through_moments_still_ahead(make_campaign: Any) -> None:
    now = timezone.now()
    campaign = make_campaign(change_day=(now + timedelta(days=20)).date(), deadline=now + timedelta(days=40))
    services.reminder_schedule_default(campaign=campaign, now=now)
    moments = Reminder.objects.filter(
        campaign=campaign, anchor__in=[Anchor.AFTER_CHANGE_DAY, Anchor.AFTER_DEADLINE]
    )
    deadline_day = timezone.localtime(campaign.deadline).date()
    assert sorted(
        (timezone.localtime(m.due_at()).date(), timezone.localtime(m.due_at()).time(), m.audience)
        for m in moments
    ) == [
        (campaign.change_day + timedelta(days=14), time(10, 0), Audience.FOLLOW_ALL),
        (deadline_day + timedelta(days=7), time(10, 0), Audience.FOLLOW_NOT_ASKED),
        (deadline_day + timedelta(days=45), time(10, 0), Audience.FOLLOW_UNFINISHED),
    ]
    assert services.reminder_schedule_default(campaign=campaign, now=now) == [], "a schedule is kept"

    # Set up late, with outcomes closing a month after the deadline: only what fits.
    late = make_campaign(
        slug="late-day",
        opens_at=now - timedelta(days=40),
        change_day=(now - timedelta(days=20)).date(),
        deadline=now + timedelta(days=3),
        outcomes_close=now + timedelta(days=33),
    )
    made = services.reminder_schedule_default(campaign=late, now=now)
    assert [m.label for m in made if m.is_follow_through] == ["Follow-through 7 days after the deadline"]


def test_the_pledge_form_says_beside_the_email_field_how_often_we_ask_and_that_one_click_stops_it(
    campaign: Campaign,
) -> None:
    page = Client().get(f"/campaigns/{campaign.slug}/pledge/").content.decode()
    email_field = page[page.index('name="email"') :]
    assert (
        "After Change Day we will ask you at most three times how it went; one click stops it."
        in (email_field[: email_field.index('name="wants_reminders"')])
    )


def test_organisers_set_when_outcomes_close_on_the_campaign_page(organiser: Any, campaign: Campaign) -> None:
    client = Client()
    client.force_login(organiser)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="outcomes_close_0"' in page


def test_send_reminders_counts_and_sends_follow_through_too(campaign: Campaign, smtp_inbox: Any) -> None:
    create_pledge(campaign, 1, email="sam@example.org")
    create_pledge(campaign, 2, email="sam@example.org")
    create_pledge(campaign, 3, email="kim@example.org")
    moment = _moment(campaign)
    at = (moment.due_at() + MINUTE).isoformat()

    out = io.StringIO()
    call_command("send_reminders", "--dry-run", "--now", at, stdout=out)
    assert "Follow-through 14 days after Change Day: 2 would go" in out.getvalue()
    assert smtp_inbox.messages == []

    out = io.StringIO()
    call_command("send_reminders", "--now", at, stdout=out)
    assert "2 recipients, 2 sent, 0 failed, 0 skipped, 0 waiting" in out.getvalue()
    smtp_inbox.wait_for(2)
    assert _to(smtp_inbox) == {"sam@example.org": 1, "kim@example.org": 1}
