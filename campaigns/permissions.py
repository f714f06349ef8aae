"""Who may moderate: organisers (members of the Organisers group) and superusers.

Moderation views wrap themselves in `organiser_required`; templates and other
checks ask `is_organiser`. Being staff is not enough on its own: staff is what
lets someone into the admin, the group is what makes them an organiser.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from campaigns.services import ORGANISERS_GROUP

View = Callable[..., HttpResponse]


def is_organiser(user: Any) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=ORGANISERS_GROUP).exists()


def organiser_required(view: View) -> View:
    """Anonymous visitors are sent to log in and come back; a logged-in person
    who is not an organiser gets 403, since logging in again would not help."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_organiser(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
