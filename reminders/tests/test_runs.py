from __future__ import annotations

import io
import threading
import time as clock
from collections import Counter
from datetime import time, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import create_pledge, either_smtp_way
from moderation.models import Action
from moderation.services import pledge_moderate
from pledges.services import pledge_withdraw
from reminders import services
from reminders.models import Anchor, Audience, DeliveryStatus, ReminderDelivery, ReminderRun
from reminders.tests.helpers import reminder, run_due, signup
from testsupport.mail import email_html, email_text
from testsupport.processes import WorkerKilled, free_port

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def _to(inbox: Any) -> Counter[str]:
    return Counter(str(message["To"]) for message in inbox.messages)


def test_each_audience_gets_its_reminder_once_when_it_is_due(
    campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    signup(campaign, "Waiting@Example.org")
    signup(campaign, "never-confirmed@example.org", confirm=False)
    gone = signup(campaign, "gone@example.org")
    services.reminders_unsubscribe(campaign=campaign, email=gone.email)
    signup(campaign, "pledged-since@example.org")
    create_pledge(campaign, 1, email="Pledged-Since@example.org")

    live = create_pledge(campaign, 2, email="opted-in@example.org", wants_reminders=True)
    create_pledge(campaign, 3, email="opted-in@example.org", wants_reminders=True)
    create_pledge(campaign, 4, email="opted-out@example.org", wants_reminders=False)
    create_pledge(campaign, 5, email="unconfirmed@example.org", wants_reminders=True, confirm=False)
    rejected = create_pledge(campaign, 6, email="rejected@example.org", wants_reminders=True)
    hidden = create_pledge(campaign, 7, email="hidden@example.org", wants_reminders=True)
    withdrawn = create_pledge(campaign, 8, email="withdrawn@example.org", wants_reminders=True)
    pledge_moderate(pledge_ids=[rejected.pk], action=Action.REJECT, actor=organiser, reason_code="spam")
    pledge_moderate(pledge_ids=[hidden.pk], action=Action.HIDE, actor=organiser)
    pledge_withdraw(pledge=withdrawn)

    week_before = reminder(campaign, anchor=Anchor.DEADLINE, days_before=7)
    due = week_before.due_at()

    assert run_due(now=due - MINUTE) == []
    assert smtp_inbox.messages == []

    run_due(now=due + MINUTE)
    smtp_inbox.wait_for(2)
    clock.sleep(0.2)
    # Each goes to the address as typed; the canonical form only finds it.
    assert _to(smtp_inbox) == {"Waiting@Example.org": 1, "opted-in@example.org": 1}

    by_address = {str(message["To"]): message for message in smtp_inbox.messages}
    pledger_text = email_text(by_address["opted-in@example.org"])
    assert f"/pledges/{live.public_id}/" in pledger_text
    assert "#ChangeDay" in pledger_text
    assert "Ask a colleague" in pledger_text
    signup_text = email_text(by_address["Waiting@Example.org"])
    assert f"/campaigns/{campaign.slug}/pledge/" in signup_text

    # Every later pass, however many, sends nothing more.
    run_due(now=due + 5 * MINUTE)
    run_due(now=due + timedelta(days=1))
    clock.sleep(0.2)
    assert len(smtp_inbox.messages) == 2
    run = ReminderRun.objects.get(reminder=week_before)
    assert run.finished_at is not None


def test_audiences_and_the_schedule_pick_who_hears_when(campaign: Any, smtp_inbox: Any) -> None:
    signup(campaign, "signed-up@example.org")
    create_pledge(campaign, 1, email="pledger@example.org", wants_reminders=True)
    eve = reminder(
        campaign, anchor=Anchor.CHANGE_DAY, days_before=1, send_time=time(18, 0), audience="pledgers"
    )
    last_day = reminder(campaign, anchor=Anchor.DEADLINE, days_before=1, audience=Audience.SIGNUPS)

    run_due(now=eve.due_at() + MINUTE)
    smtp_inbox.wait_for(1)
    clock.sleep(0.2)
    assert _to(smtp_inbox) == {"pledger@example.org": 1}
    assert "Change Day is coming" in smtp_inbox.messages[0]["Subject"]

    run_due(now=last_day.due_at() + MINUTE)
    smtp_inbox.wait_for(2)
    clock.sleep(0.2)
    assert _to(smtp_inbox) == {"pledger@example.org": 1, "signed-up@example.org": 1}
    assert smtp_inbox.messages[1]["Subject"] == f"1 day left to pledge for {campaign.name}"


def test_nothing_is_sent_after_the_deadline(campaign: Any, smtp_inbox: Any) -> None:
    signup(campaign, "late@example.org")
    first = reminder(campaign, days_before=7)
    second = reminder(campaign, days_before=1)

    # The first is planned on time but its batches never ran (no worker).
    services.reminders_dispatch(now=first.due_at() + MINUTE)
    assert ReminderDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1

    after = campaign.deadline + MINUTE
    assert run_due(now=after) == []
    clock.sleep(0.2)
    assert smtp_inbox.messages == []
    delivery = ReminderDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert delivery.skip_reason == "The pledge deadline had passed"
    assert not ReminderRun.objects.filter(reminder=second).exists()


def test_a_reminder_after_the_deadline_or_mistimed_is_refused_in_the_admin(make_campaign: Any) -> None:
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    noon = timezone.localtime(timezone.now() + timedelta(days=60)).replace(hour=12, minute=0)
    campaign = make_campaign(deadline=noon)
    with pytest.raises(ValidationError, match="after the pledge deadline"):
        reminder(campaign, days_before=0, send_time=time(13, 0))
    with pytest.raises(ValidationError, match="goes when pledging opens"):
        reminder(campaign, anchor=Anchor.OPENING, days_before=2)
    assert reminder(campaign, days_before=0, send_time=time(9, 0)).label == "On the day of the deadline"


def test_the_schedule_is_relative_to_the_campaigns_dates_in_uk_time(campaign: Any) -> None:
    from django.utils import timezone

    eve = reminder(campaign, anchor=Anchor.CHANGE_DAY, days_before=1, send_time=time(18, 0))
    week = reminder(campaign, anchor=Anchor.DEADLINE, days_before=7)
    opening = reminder(campaign, anchor=Anchor.OPENING, days_before=0)

    assert timezone.localtime(eve.due_at()).date() == campaign.change_day - timedelta(days=1)
    assert timezone.localtime(eve.due_at()).time() == time(18, 0)
    assert timezone.localtime(week.due_at()).date() == timezone.localtime(
        campaign.deadline
    ).date() - timedelta(7)
    assert opening.due_at() == campaign.opens_at
    assert (eve.label, week.label, opening.label) == (
        "The eve of Change Day",
        "7 days before the deadline",
        "When pledging opens",
    )

    # Moving the deadline in the admin moves its reminders with it.
    campaign.deadline += timedelta(days=3)
    campaign.save()
    week.refresh_from_db()
    assert timezone.localtime(week.due_at()).date() == timezone.localtime(
        campaign.deadline
    ).date() - timedelta(7)


def test_reminder_emails_have_text_html_and_one_click_unsubscribe_headers(
    campaign: Any, smtp_inbox: Any
) -> None:
    signup(campaign, "reader@example.org")
    create_pledge(campaign, 1, email="other@example.org", wants_reminders=True)
    week = reminder(campaign, message="Bring a colleague to the pledge stand on Ward 3.")
    run_due(now=week.due_at() + MINUTE)
    messages = smtp_inbox.wait_for(2)

    for message in messages:
        text, html = email_text(message), email_html(message)
        assert "Ward 3" in text and "Ward 3" in html
        # Long headers are folded onto a second line; unfolded, a space may lead.
        header = str(message["List-Unsubscribe"]).strip()
        assert header.startswith("<http://testserver/reminders/unsubscribe/") and header.endswith(">")
        url = header[1:-1]
        assert url in text and url in html
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Message-ID"].startswith("<reminder-")
        # Nobody's address but the recipient's own, anywhere in the message.
        other = {"reader@example.org", "other@example.org"} - {str(message["To"])}
        assert other.pop() not in message.as_string()


def _unsubscribe_url(message: Any) -> str:
    return str(message["List-Unsubscribe"]).strip()[1:-1].removeprefix("http://testserver")


def test_unsubscribing_from_the_link_shows_a_button_and_stops_every_reminder(
    campaign: Any, smtp_inbox: Any
) -> None:
    signup(campaign, "stop@example.org")
    first = reminder(campaign, days_before=7)
    second = reminder(campaign, days_before=1)
    run_due(now=first.due_at() + MINUTE)
    (message,) = smtp_inbox.wait_for(1)

    client = Client(enforce_csrf_checks=True)
    url = _unsubscribe_url(message)
    page = client.get(url)
    assert page.status_code == 200
    assert "Stop my reminders" in page.content.decode()
    # A mail scanner following the link unsubscribes nobody.
    run_due(now=second.due_at() + MINUTE)
    smtp_inbox.wait_for(2)
    assert len(smtp_inbox.messages) == 2

    third = reminder(campaign, anchor=Anchor.DEADLINE, days_before=0, send_time=time(0, 1))
    done = client.post(url)
    assert done.status_code == 200
    assert "You are unsubscribed" in done.content.decode()
    run_due(now=third.due_at() + MINUTE)
    clock.sleep(0.3)
    assert len(smtp_inbox.messages) == 2
    assert ReminderDelivery.objects.filter(reminder=third).count() == 0


def test_a_mail_clients_one_click_post_unsubscribes_a_pledger(campaign: Any, smtp_inbox: Any) -> None:
    pledge = create_pledge(campaign, 1, email="Clicker@Example.org", wants_reminders=True)
    twin = create_pledge(campaign, 2, email="clicker@example.org", wants_reminders=True)
    first = reminder(campaign, days_before=7)
    second = reminder(campaign, days_before=1)
    run_due(now=first.due_at() + MINUTE)
    (message,) = smtp_inbox.wait_for(1)

    # RFC 8058: the client POSTs this body, with no cookie and no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        _unsubscribe_url(message),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200

    pledge.refresh_from_db()
    twin.refresh_from_db()
    assert not pledge.wants_reminders and not twin.wants_reminders
    run_due(now=second.due_at() + MINUTE)
    clock.sleep(0.3)
    assert len(smtp_inbox.messages) == 1
    assert pledge.status == "published", "unsubscribing leaves the pledge on the wall"


def test_a_forged_unsubscribe_link_is_refused(campaign: Any) -> None:
    pledge = create_pledge(campaign, 1, wants_reminders=True)
    forged = f"/reminders/unsubscribe/p.{pledge.public_id}:1abc:notasignature/"
    assert Client().post(forged).status_code == 400
    pledge.refresh_from_db()
    assert pledge.wants_reminders


def test_someone_who_unsubscribes_after_the_run_is_planned_is_skipped(campaign: Any, smtp_inbox: Any) -> None:
    signup(campaign, "changed-mind@example.org")
    signup(campaign, "still-keen@example.org")
    week = reminder(campaign)
    now = week.due_at() + MINUTE
    (result,) = services.reminders_dispatch(now=now)
    services.reminders_unsubscribe(campaign=campaign, email="changed-mind@example.org")
    for first_id, last_id in result.batches:
        services.reminder_send_batch(run_id=result.run.pk, first_id=first_id, last_id=last_id, now=now)
    smtp_inbox.wait_for(1)
    clock.sleep(0.2)
    assert _to(smtp_inbox) == {"still-keen@example.org": 1}
    skipped = ReminderDelivery.objects.get(recipient="changed-mind@example.org")
    assert (skipped.status, skipped.skip_reason) == (DeliveryStatus.SKIPPED, "Unsubscribed")


@either_smtp_way
def test_temporary_smtp_refusals_are_retried_with_backoff_then_recorded_as_failed(
    campaign: Any, smtp_inbox: Any, settings: Any, organiser: Any
) -> None:
    settings.REMINDER_MAX_ATTEMPTS = 3
    settings.REMINDER_RETRY_BASE_SECONDS = 60
    settings.REMINDER_REQUEUE_SECONDS = 0
    for name in ("busy", "fine", "nobody"):
        signup(campaign, f"{name}@example.org")
    smtp_inbox.refuse["busy@example.org"] = "451 4.3.0 Mailbox busy, try again later"
    smtp_inbox.refuse["nobody@example.org"] = "550 5.1.1 No such mailbox"
    week = reminder(campaign)
    due = week.due_at()

    run_due(now=due)
    smtp_inbox.wait_for(1)
    busy = ReminderDelivery.objects.get(recipient="busy@example.org")
    assert (busy.status, busy.attempts) == (DeliveryStatus.PENDING, 1)
    assert "451" in busy.last_error
    assert busy.next_attempt_at == due + timedelta(seconds=60)
    nobody = ReminderDelivery.objects.get(recipient="nobody@example.org")
    assert nobody.status == DeliveryStatus.FAILED, "a 5xx answer is not retried"

    # Not before its backoff; then again, with a longer wait each time.
    run_due(now=due + timedelta(seconds=30))
    busy.refresh_from_db()
    assert busy.attempts == 1
    run_due(now=due + timedelta(seconds=61))
    busy.refresh_from_db()
    assert busy.attempts == 2
    assert busy.next_attempt_at == due + timedelta(seconds=61 + 120)
    run_due(now=due + timedelta(seconds=61 + 121))
    busy.refresh_from_db()
    assert (busy.status, busy.attempts) == (DeliveryStatus.FAILED, 3)
    assert _to(smtp_inbox) == {"fine@example.org": 1}

    # Organisers see the run's failures in the admin.
    client = Client()
    client.force_login(organiser)
    page = client.get("/admin/reminders/reminderrun/").content.decode()
    assert "7 days before the deadline" in page
    assert 'status__exact=failed">2</a>' in page
    failed = client.get("/admin/reminders/reminderdelivery/?status__exact=failed").content.decode()
    assert "No such mailbox" in failed and "Mailbox busy" in failed


def test_a_mail_server_outage_delays_reminders_and_loses_none(
    campaign: Any, settings: Any, smtp_inbox: Any
) -> None:
    settings.REMINDER_REQUEUE_SECONDS = 0
    for n in range(5):
        signup(campaign, f"patient{n}@example.org")
    week = reminder(campaign)
    due = week.due_at()
    up_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there

    run_due(now=due)
    assert ReminderDelivery.objects.filter(status=DeliveryStatus.PENDING, attempts=1).count() == 5
    assert "Connection refused" in ReminderDelivery.objects.first().last_error

    settings.EMAIL_PORT = up_port
    run_due(now=due + timedelta(minutes=2))
    smtp_inbox.wait_for(5)
    clock.sleep(0.2)
    assert _to(smtp_inbox) == {f"patient{n}@example.org": 1 for n in range(5)}
    assert ReminderDelivery.objects.filter(status=DeliveryStatus.SENT).count() == 5


def test_a_worker_dying_before_the_final_dot_delivers_nothing_and_the_next_sends_once(
    campaign: Any, smtp_inbox: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.REMINDER_REQUEUE_SECONDS = 0
    for name in ("first", "second"):
        signup(campaign, f"{name}@example.org")
    week = reminder(campaign)
    due = week.due_at()
    (result,) = services.reminders_dispatch(now=due)
    ((first_id, last_id),) = result.batches

    real_mark_sent = services._mark_sent

    def die_before_recording(delivery: Any, claimed_until: Any, send_dot: Any) -> None:
        raise WorkerKilled

    monkeypatch.setattr(services, "_mark_sent", die_before_recording)
    with pytest.raises(WorkerKilled):
        services.reminder_send_batch(run_id=result.run.pk, first_id=first_id, last_id=last_id, now=due)
    clock.sleep(0.3)
    # The whole message reached the server but not its final dot: discarded.
    assert smtp_inbox.messages == []
    assert ReminderDelivery.objects.filter(status=DeliveryStatus.SENDING).count() == 2

    monkeypatch.setattr(services, "_mark_sent", real_mark_sent)
    # Within the dead worker's claim nobody else takes its rows...
    run_due(now=due + MINUTE)
    clock.sleep(0.2)
    assert smtp_inbox.messages == []
    # ...and once the claim lapses, they go out, once each.
    run_due(now=due + timedelta(seconds=settings.REMINDER_CLAIM_SECONDS + 1))
    smtp_inbox.wait_for(2)
    clock.sleep(0.2)
    assert _to(smtp_inbox) == {"first@example.org": 1, "second@example.org": 1}


def test_recipients_are_read_in_chunks_not_all_at_once(campaign: Any, settings: Any) -> None:
    settings.REMINDER_CHUNK_SIZE = 100
    for n in range(250):
        signup(campaign, f"carer{n:03}@example.org")
    week = reminder(campaign, audience=Audience.SIGNUPS)
    with CaptureQueriesContext(connection) as queries:
        (result,) = services.reminders_dispatch(now=week.due_at(), batch_size=100)
    reads = [
        q["sql"] for q in queries if 'FROM "reminders_remindersignup"' in q["sql"] and "LIMIT" in q["sql"]
    ]
    assert len(reads) == 4  # three chunks of at most 100, and the empty one that ends it
    assert all("LIMIT 100" in sql for sql in reads)
    assert ReminderDelivery.objects.count() == 250
    assert len(result.batches) == 3


def test_send_reminders_dry_run_counts_and_sends_nothing(campaign: Any, smtp_inbox: Any) -> None:
    for n in range(3):
        signup(campaign, f"count{n}@example.org")
    create_pledge(campaign, 1, email="count-pledger@example.org", wants_reminders=True)
    week = reminder(campaign)
    at = (week.due_at() + MINUTE).isoformat()

    out = io.StringIO()
    call_command("send_reminders", "--dry-run", "--now", at, stdout=out)
    assert "7 days before the deadline: 4 would go" in out.getvalue()
    assert "Dry run: 4 reminder emails would go; none sent." in out.getvalue()
    assert not ReminderRun.objects.exists()

    out = io.StringIO()
    call_command("send_reminders", "--now", at, stdout=out)
    assert "4 recipients, 4 sent, 0 failed, 0 skipped, 0 waiting" in out.getvalue()
    smtp_inbox.wait_for(4)

    out = io.StringIO()
    call_command("send_reminders", "--dry-run", "--now", at, stdout=out)
    assert "No reminders are due." in out.getvalue()


def test_the_throttle_holds_a_worker_to_its_sending_rate() -> None:
    from outbox.mailsession import Throttle

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(100, clock=lambda: now[0], sleep=sleep)
    for _ in range(201):
        throttle.wait()
    assert now[0] == pytest.approx(2.0)  # 201 sends at 100 a second: the last at 2.0 s
    now[0] += 60  # an idle minute earns a tenth of a second's worth of sends, no more
    sent_at = []
    for _ in range(30):
        throttle.wait()
        sent_at.append(now[0])
    assert sent_at[:11] == [pytest.approx(62.0)] * 11  # the one due now and ten on credit
    assert sent_at[11:] == [pytest.approx(62.0 + 0.01 * n) for n in range(1, 20)]


def test_the_throttle_makes_up_for_a_slow_send_without_going_over_its_rate() -> None:
    from outbox.mailsession import Throttle

    now = [0.0]
    sent_at: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    throttle = Throttle(100, clock=lambda: now[0], sleep=sleep)
    for n in range(300):
        throttle.wait()
        sent_at.append(now[0])
        # Each send takes 4 ms, and every 50th takes 60 ms (a new batch's claim and connection).
        now[0] += 0.060 if n % 50 == 49 else 0.004
    # The delays are made up: 300 sends at 100 a second take 3 s, as if none had been slow...
    assert sent_at[-1] == pytest.approx(2.99, abs=0.06)
    # ...and no second holds more than its 100 sends and the tenth of a second's credit.
    for start in sent_at:
        assert sum(1 for t in sent_at if start <= t < start + 1.0) <= 111


def test_the_beat_task_hands_each_chunk_to_the_workers_as_soon_as_it_is_planned(
    campaign: Any, settings: Any
) -> None:
    settings.REMINDER_CHUNK_SIZE = 100
    for n in range(250):
        signup(campaign, f"chunked{n:03}@example.org")
    week = reminder(campaign, audience=Audience.SIGNUPS)
    handed: list[tuple[int, bool, list[tuple[int, int]]]] = []

    def hand_out(run: Any, batches: list[tuple[int, int]]) -> None:
        planned = ReminderRun.objects.get(pk=run.pk).planned_at is not None
        handed.append((ReminderDelivery.objects.count(), planned, batches))

    (result,) = services.reminders_dispatch(now=week.due_at(), batch_size=60, hand_out=hand_out)
    # Three chunks, each handed out right after it was written, before the plan finished.
    assert [(count, planned) for count, planned, _ in handed] == [(100, False), (200, False), (250, False)]
    ranges = [batch for _, _, batches in handed for batch in batches]
    ids = sorted(ReminderDelivery.objects.values_list("id", flat=True))
    covered = sorted(i for first, last in ranges for i in ids if first <= i <= last)
    assert covered == ids, "every delivery in exactly one batch"
    assert result.batches == []
    assert services.reminders_dispatch(now=week.due_at(), hand_out=hand_out)[0].batches == []
    assert len(handed) == 3, "handed out once, not again on the next pass"


@pytest.mark.django_db(transaction=True)
def test_a_slow_worker_keeps_its_batch_past_the_claim_and_no_other_worker_takes_it(
    campaign: Any, smtp_inbox: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # A machine so slow that one batch takes longer than a claim lasts: the worker
    # renews its hold, so another worker given the same batch finds nothing to take.
    settings.REMINDER_CLAIM_SECONDS = 1
    for n in range(6):
        signup(campaign, f"slow{n}@example.org")
    week = reminder(campaign)
    due = week.due_at()
    (result,) = services.reminders_dispatch(now=due)
    ((first_id, last_id),) = result.batches
    started = clock.monotonic()

    real_mark_sent = services._mark_sent

    def slow_mark_sent(delivery: Any, claimed_until: Any, send_dot: Any) -> None:
        clock.sleep(0.4)
        real_mark_sent(delivery, claimed_until, send_dot)

    monkeypatch.setattr(services, "_mark_sent", slow_mark_sent)
    done = threading.Event()
    taken_over = []

    def other_worker() -> None:
        try:
            while not done.is_set():
                now = due + timedelta(seconds=clock.monotonic() - started)
                taken_over.append(
                    services.reminder_send_batch(
                        run_id=result.run.pk, first_id=first_id, last_id=last_id, now=now
                    )
                )
                clock.sleep(0.1)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        sent = services.reminder_send_batch(run_id=result.run.pk, first_id=first_id, last_id=last_id, now=due)
    finally:
        done.set()
        thread.join()

    assert clock.monotonic() - started > 2 * settings.REMINDER_CLAIM_SECONDS
    assert sent == 6
    assert sum(taken_over) == 0
    smtp_inbox.wait_for(6)
    clock.sleep(0.2)
    assert _to(smtp_inbox) == {f"slow{n}@example.org": 1 for n in range(6)}
    assert ReminderDelivery.objects.filter(status=DeliveryStatus.SENT).count() == 6
