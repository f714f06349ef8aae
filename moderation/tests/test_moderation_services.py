"""Moderation decisions: each is recorded, moves the live counters in the same
moment as the status, and is made once even when two organisers act at once."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.test import Client

from conftest import create_pledge
from moderation.models import Action, ModerationEvent, Report
from moderation.services import pledge_moderate
from outbox.models import OutboxEmail
from pledges.models import Pledge, Status
from pledges.selectors import campaign_totals
from pledges.services import PledgeError, campaign_recompute_totals, pledge_withdraw_url

pytestmark = pytest.mark.django_db


def _pledge(campaign: Any, n: int = 1, *, text: str | None = None, confirm: bool = True) -> Pledge:
    return create_pledge(
        campaign,
        n,
        confirm=confirm,
        text=text or f"run a monthly listening clinic for carers, number {n}",
        display_name="Jo",
        role="Care coordinator",
        region="north-west",
        sectors=["social-care", "nhs"],
        email=f"jo{n}@example.org",
    )


def _decide(pledge: Pledge, action: str, actor: Any, **kwargs: Any) -> Any:
    return pledge_moderate(pledge_ids=[pledge.pk], action=action, actor=actor, **kwargs)


def _total(campaign: Any) -> int:
    return campaign_totals(campaign=campaign).total


def _emails(pledge: Pledge, kind: str) -> int:
    return OutboxEmail.objects.filter(subject_id=pledge.pk, kind=kind).count()


def test_publishing_a_pre_moderated_pledge_counts_it_records_it_and_tells_the_pledger(
    pre_campaign: Any, organiser: Any
) -> None:
    pledge = _pledge(pre_campaign)
    assert pledge.status == Status.PENDING and _total(pre_campaign) == 0

    result = _decide(pledge, Action.PUBLISH, organiser)

    pledge.refresh_from_db()
    assert [p.pk for p in result.done] == [pledge.pk] and result.skipped == []
    assert pledge.status == Status.PUBLISHED and pledge.published_at is not None
    assert _total(pre_campaign) == 1
    assert campaign_totals(campaign=pre_campaign).integration == 1
    event = ModerationEvent.objects.get(pledge=pledge)
    assert (event.actor, event.action, event.from_status, event.to_status) == (
        organiser,
        Action.PUBLISH,
        Status.PENDING,
        Status.PUBLISHED,
    )
    assert _emails(pledge, "published") == 1


def test_hiding_restoring_and_rejecting_each_move_the_total(campaign: Any, organiser: Any) -> None:
    pledge = _pledge(campaign)
    assert _total(campaign) == 1

    _decide(pledge, Action.HIDE, organiser)
    assert _total(campaign) == 0
    _decide(pledge, Action.RESTORE, organiser)
    assert _total(campaign) == 1
    _decide(pledge, Action.REJECT, organiser, reason_code="offensive", reason_text="Names a colleague")
    assert _total(campaign) == 0

    pledge.refresh_from_db()
    assert pledge.status == Status.REJECTED
    assert pledge.rejection_reason == "Offensive or abusive: Names a colleague"
    assert _emails(pledge, "rejected") == 1
    actions = list(
        ModerationEvent.objects.filter(pledge=pledge).order_by("id").values_list("action", flat=True)
    )
    assert actions == [Action.HIDE, Action.RESTORE, Action.REJECT]
    assert campaign_recompute_totals(campaign=campaign) == {}


def test_rejecting_a_hidden_pledge_does_not_count_it_out_twice(campaign: Any, organiser: Any) -> None:
    pledge = _pledge(campaign)
    _pledge(campaign, 2)
    _decide(pledge, Action.HIDE, organiser)
    _decide(pledge, Action.REJECT, organiser, reason_code="spam")
    assert _total(campaign) == 1
    assert campaign_recompute_totals(campaign=campaign) == {}


def test_a_move_from_the_wrong_status_is_refused_and_not_recorded(campaign: Any, organiser: Any) -> None:
    pledge = _pledge(campaign)

    result = _decide(pledge, Action.PUBLISH, organiser)

    assert result.done == []
    assert result.skipped == [(pledge.public_id, "It is already published.")]
    assert not ModerationEvent.objects.exists()
    assert _total(campaign) == 1


def test_a_decision_on_a_pledge_someone_else_already_decided_is_skipped(
    pre_campaign: Any, organiser: Any
) -> None:
    pledge = _pledge(pre_campaign)
    _decide(pledge, Action.PUBLISH, organiser)

    # The second organiser loaded the queue while it was still pending.
    result = _decide(pledge, Action.HIDE, organiser, expected_status=Status.PENDING)

    assert result.done == [] and "already published" in result.skipped[0][1]
    assert ModerationEvent.objects.filter(pledge=pledge).count() == 1
    assert Pledge.objects.get(pk=pledge.pk).status == Status.PUBLISHED


@pytest.mark.postgres_only("concurrent writers: SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_two_organisers_deciding_at_once_make_one_decision_and_one_email(
    pre_campaign: Any, organiser: Any, stranger: Any
) -> None:
    pledges = [_pledge(pre_campaign, n) for n in range(20)]
    ids = [p.pk for p in pledges]
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def decide(action: str, reason: str) -> None:
        try:
            start.wait()
            results.append(
                pledge_moderate(
                    pledge_ids=ids,
                    action=action,
                    actor=organiser,
                    reason_code=reason,
                    expected_status="pending",
                )
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(Action.PUBLISH, "")),
        threading.Thread(target=decide, args=(Action.REJECT, "spam")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(len(r.done) for r in results) == [0, 20]
    assert sorted(len(r.skipped) for r in results) == [0, 20]
    assert ModerationEvent.objects.count() == 20
    assert OutboxEmail.objects.filter(kind__in=["published", "rejected"]).count() == 20
    assert campaign_recompute_totals(campaign=pre_campaign) == {}


@pytest.mark.parametrize(
    ("action", "reason_code", "reason_text", "message"),
    [
        ("delete", "", "", "Choose publish, reject, hide or restore."),
        ("reject", "", "", "Choose a reason for rejecting from the list."),
        ("reject", "made-up", "", "Choose a reason for rejecting from the list."),
        ("reject", "spam", "x" * 501, "Keep the reason to 500 characters or fewer."),
    ],
)
def test_bad_decisions_are_refused_with_a_message(
    campaign: Any, organiser: Any, action: str, reason_code: str, reason_text: str, message: str
) -> None:
    pledge = _pledge(campaign)
    with pytest.raises(PledgeError, match=re.escape(message)):
        _decide(pledge, action, organiser, reason_code=reason_code, reason_text=reason_text)
    assert Pledge.objects.get(pk=pledge.pk).status == Status.PUBLISHED


def test_an_unknown_pledge_id_is_reported_as_skipped(campaign: Any, organiser: Any) -> None:
    result = pledge_moderate(pledge_ids=[987654321], action=Action.HIDE, actor=organiser)
    assert result.done == [] and result.skipped == [("987654321", "It no longer exists.")]


def test_a_pledge_flagged_by_screening_waits_in_the_queue_instead_of_going_live(campaign: Any) -> None:
    pledge = _pledge(campaign, text="visit www.buy-cheap-pills.example for great deals every day")

    assert pledge.status == Status.PENDING
    assert "link" in pledge.flags
    assert _total(campaign) == 0


def test_a_campaigns_blocked_words_send_a_pledge_to_the_queue(make_campaign: Any) -> None:
    campaign = make_campaign(slug="blocked", blocked_words="Ward 9\nrival trust")
    pledge = _pledge(campaign, text="never send anyone to the rival trust down the road")
    assert pledge.status == Status.PENDING and "blocked-word" in pledge.flags


def test_the_pledger_withdraws_from_the_link_in_their_email_and_the_total_falls(campaign: Any) -> None:
    pledge = _pledge(campaign)
    path = pledge_withdraw_url(pledge=pledge).removeprefix("http://testserver")
    browser = Client()

    landing = browser.get(path)
    assert landing.status_code == 200 and "Withdraw my pledge" in landing.content.decode()
    assert Pledge.objects.get(pk=pledge.pk).status == Status.PUBLISHED  # a scanner's GET does nothing

    done = browser.post(path)
    assert "Your pledge is withdrawn" in done.content.decode()
    pledge.refresh_from_db()
    assert pledge.status == Status.WITHDRAWN and _total(campaign) == 0
    assert browser.get(f"/pledges/{pledge.public_id}/").status_code == 404
    event = ModerationEvent.objects.get(pledge=pledge)
    assert event.action == Action.WITHDRAW and event.actor is None
    assert browser.post(path).status_code == 200  # repeating is harmless
    assert _total(campaign) == 0


def test_a_tampered_withdraw_link_is_refused(campaign: Any) -> None:
    pledge = _pledge(campaign)
    path = pledge_withdraw_url(pledge=pledge).removeprefix("http://testserver")
    response = Client().post(path.replace(pledge.public_id, "abcdefghjkmn"))
    assert response.status_code == 400
    assert Pledge.objects.get(pk=pledge.pk).status == Status.PUBLISHED


def _report(browser: Client, pledge: Pledge, reason: str = "offensive") -> Any:
    return browser.post(f"/pledges/{pledge.public_id}/report/", {"reason": reason, "detail": "rude"})


def test_visitors_on_three_networks_reporting_a_pledge_hide_it_until_an_organiser_decides(
    campaign: Any,
) -> None:
    pledge = _pledge(campaign)
    first = Client(REMOTE_ADDR="192.0.2.1")
    response = _report(first, pledge)
    assert response.status_code == 302
    assert "An organiser will look" in first.get(response["Location"]).content.decode()
    # The same visitor again: kept for the organisers, counted once.
    assert _report(first, pledge).status_code == 302
    assert Report.objects.filter(pledge=pledge).count() == 2
    assert Pledge.objects.get(pk=pledge.pk).report_count == 1

    _report(Client(REMOTE_ADDR="192.0.2.2"), pledge, "spam")
    assert Pledge.objects.get(pk=pledge.pk).status == Status.PUBLISHED
    _report(Client(REMOTE_ADDR="192.0.2.3"), pledge, "personal-data")

    pledge.refresh_from_db()
    assert pledge.status == Status.HIDDEN and pledge.report_count == 3
    assert _total(campaign) == 0
    assert ModerationEvent.objects.get(pledge=pledge).action == Action.AUTO_HIDE
    assert Client().get(f"/pledges/{pledge.public_id}/").status_code == 404


def test_a_report_without_a_reason_is_a_400_with_a_message(campaign: Any) -> None:
    pledge = _pledge(campaign)
    response = Client().post(f"/pledges/{pledge.public_id}/report/", {"detail": "x" * 600})
    body = response.content.decode()
    assert response.status_code == 400
    assert "Choose why you are reporting this pledge." in body
    assert "Keep it to 500 characters or fewer" in body
    assert not Report.objects.exists()


def test_reports_from_one_address_are_rate_limited(campaign: Any) -> None:
    pledges = [_pledge(campaign, n) for n in range(22)]
    address = {"REMOTE_ADDR": "192.0.2.44"}
    statuses = [_report(Client(**address), p).status_code for p in pledges]
    assert statuses[:20] == [302] * 20
    assert statuses[20:] == [429, 429]
    assert "Please slow down" in _report(Client(**address), pledges[0]).content.decode()
    assert Report.objects.count() == 20
    # Another address is not held back by this one.
    assert _report(Client(REMOTE_ADDR="192.0.2.45"), pledges[21]).status_code == 302


def test_the_rejection_email_reaches_the_pledger_with_the_reason_and_a_publication_email_too(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    from outbox.services import outbox_send
    from testsupport.mail import email_html, email_text

    rejected = _pledge(pre_campaign, 1)
    published = _pledge(pre_campaign, 2)
    _decide(rejected, Action.REJECT, organiser, reason_code="personal-data", reason_text="It names a patient")
    _decide(published, Action.PUBLISH, organiser)
    for outbox in OutboxEmail.objects.order_by("id"):
        outbox_send(outbox_id=outbox.pk)

    by_address = {m["To"]: m for m in smtp_inbox.wait_for(2)}
    no = by_address["jo1@example.org"]
    assert "was not published" in no["Subject"]
    for body in (email_text(no), email_html(no)):
        assert "Contains personal or clinical details: It names a patient" in body
    yes = by_address["jo2@example.org"]
    assert "is live" in yes["Subject"]
    assert f"/pledges/{published.public_id}/" in email_text(yes)
    assert "/pledges/withdraw/" in email_text(yes)
