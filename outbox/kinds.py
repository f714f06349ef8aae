"""What the outbox knows of each kind of email, registered at start-up by the app that owes it.

The outbox sends emails of kinds it does not know (a pledge's confirmation, a reminder sign-up's,
a password reset), and imports none of the apps that owe them (docs/architecture.md: a lower layer
never imports a higher one). Each of those apps registers its kinds in its AppConfig.ready(), as
Django's own app registry collects models: how to load what an email is about and how to build it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.mail import EmailMessage
from django.db.models import QuerySet

from changeday.lib.mail import Links


@dataclass(frozen=True)
class EmailKindSpec:
    kind: str
    # What organisers read in the admin.
    label: str
    # The subjects of these ids that still exist, by id, with what `build` reads of them loaded
    # (select_related): one query for a batch of emails of this kind.
    load: Callable[[list[int]], Mapping[int, Any]]
    # The email about one subject.
    build: Callable[[Any, Links], EmailMessage]
    # The ids of one campaign's subjects (a values("pk") queryset), for the count of failed emails
    # organisers see on their queue; None: emails of this kind belong to no campaign.
    campaign_subjects: Callable[[int], QuerySet[Any]] | None = None


_KINDS: dict[str, EmailKindSpec] = {}


def email_kind_register(spec: EmailKindSpec) -> None:
    """Called from an AppConfig.ready(); registering a kind again replaces it (tests reload apps)."""
    _KINDS[spec.kind] = spec


def email_kind(kind: str) -> EmailKindSpec:
    try:
        return _KINDS[kind]
    except KeyError:
        raise LookupError(f"No app registered the email kind {kind!r}") from None


def email_kinds() -> Iterable[EmailKindSpec]:
    return _KINDS.values()


def email_kind_label(kind: str) -> str:
    spec = _KINDS.get(kind)
    return spec.label if spec is not None else kind
