"""The outbox sends kinds of email it does not know: each app registers its own at start-up."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from conftest import create_pledge
from outbox.kinds import email_kind, email_kinds
from outbox.models import OutboxEmail
from outbox.services import outbox_forget, outbox_send
from pledges.models import EmailKind, Pledge
from pledges.services import pledge_email_queue

OUTBOX = Path(__file__).resolve().parent.parent
# The layers above the outbox (docs/architecture.md).
ABOVE = ("campaigns", "pledges", "moderation", "reminders", "pages")


def test_the_outbox_imports_none_of_the_apps_whose_emails_it_sends() -> None:
    imported = set()
    for path in OUTBOX.rglob("*.py"):
        if "tests" in path.relative_to(OUTBOX).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                imported.update((path.name, alias.name) for alias in node.names)
    assert [(name, module) for name, module in imported if module.split(".")[0] in ABOVE] == []


def test_every_kind_of_email_the_apps_owe_is_registered_at_start_up() -> None:
    kinds = {spec.kind for spec in email_kinds()}
    assert kinds >= {*EmailKind.values, "signup-confirmation", "password-reset"}
    assert email_kind(EmailKind.CONFIRMATION).label == "Confirm your pledge"


@pytest.mark.django_db
def test_an_email_whose_pledge_was_deleted_behind_the_services_back_is_dropped_not_sent(
    campaign: Any, smtp_inbox: Any
) -> None:
    pledge = create_pledge(campaign, confirm=False)
    owed = pledge_email_queue(pledge=pledge, kind=EmailKind.DATA_LINK)
    Pledge.objects.filter(pk=pledge.pk).delete()  # as a campaign deleted in the admin would

    assert outbox_send(outbox_id=owed.pk) is False
    assert smtp_inbox.messages == []
    assert not OutboxEmail.objects.filter(pk=owed.pk).exists()


@pytest.mark.django_db
def test_forgetting_a_subject_deletes_its_emails_of_those_kinds_only(campaign: Any) -> None:
    first, second = create_pledge(campaign, 1, confirm=False), create_pledge(campaign, 2, confirm=False)
    for pledge in (first, second):
        pledge_email_queue(pledge=pledge, kind=EmailKind.DATA_LINK)
    # Another app's email about a subject with the same id stays.
    OutboxEmail.objects.create(kind="signup-confirmation", subject_id=first.pk)

    assert outbox_forget(kinds=EmailKind.values, subject_ids=[first.pk]) == 1
    assert sorted(OutboxEmail.objects.values_list("kind", "subject_id")) == sorted(
        [("data-link", second.pk), ("signup-confirmation", first.pk)]
    )
