"""Every email is three templates: <name>_subject.txt, <name>_body.txt, <name>_body.html."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


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
