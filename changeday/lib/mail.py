"""Every email is three templates: <name>_subject.txt, <name>_body.txt, <name>_body.html."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import RFC3986_SUBDELIMS


def render_email(*, template: str, context: dict[str, Any], to: str) -> EmailMultiAlternatives:
    subject = render_to_string(f"emails/{template}_subject.txt", context)
    # A newline in a subject would be a header injection; templates end with one.
    subject = " ".join(subject.split())
    text = render_to_string(f"emails/{template}_body.txt", context)
    html = render_to_string(f"emails/{template}_body.html", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]
    )
    message.attach_alternative(html, "text/html")
    return message


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


class Links:
    """Absolute links by URL name, for the emails of a batch.

    reverse() costs more than the rest of an email's link, and a batch's links
    differ only in their one argument, so each name is reversed once, around a
    placeholder, and each link is that with the argument quoted as reverse()
    quotes it. Only for URLs with one argument, of a converter the placeholder
    matches (str, slug, a public id), and arguments the converter accepts."""

    PLACEHOLDER = "0placeholder0"

    def __init__(self) -> None:
        self._around: dict[tuple[str, str], tuple[str, str]] = {}

    def url(self, name: str, **kwargs: str) -> str:
        ((key, value),) = kwargs.items()
        around = self._around.get((name, key))
        if around is None:
            before, after = reverse(name, kwargs={key: self.PLACEHOLDER}).split(self.PLACEHOLDER)
            around = self._around[(name, key)] = (absolute_url(before), after)
        return around[0] + quote(value, safe=RFC3986_SUBDELIMS + "/~:@") + around[1]
