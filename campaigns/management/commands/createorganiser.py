"""Create or update an organiser login: `manage.py createorganiser EMAIL`."""

from __future__ import annotations

import getpass
import secrets
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from campaigns.services import organiser_group_ensure


class Command(BaseCommand):
    help = (
        "Create an organiser (staff, in the Organisers group) whose username is their email, "
        "or add an existing user to the group. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--password",
            help="Password to set. Without it a new organiser is asked for one (or, when not "
            "at a terminal, given a random one that is printed); an existing one keeps theirs.",
        )
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Never prompt.",
        )

    def handle(self, *args: Any, email: str, password: str | None, interactive: bool, **options: Any) -> None:
        email = _clean_email(email)
        User = get_user_model()  # noqa: N806
        user = User.objects.filter(username=email).first()
        created = user is None
        if user is None:
            user = User(username=email, email=email)

        generated = False
        if password is not None:
            _check_password(password, user)
        elif created and interactive and sys.stdin.isatty():
            password = self._ask_password(user)
        elif created:
            # At least 128 bits of randomness; the validators cannot object to it.
            password = secrets.token_urlsafe(18)
            generated = True

        with transaction.atomic():
            user.email = email
            user.is_staff = True
            if password is not None:
                user.set_password(password)
            user.save()
            user.groups.add(organiser_group_ensure())

        self._report(user, created=created, password_changed=password is not None)
        if generated:
            self.stdout.write(f"Generated password: {password}")
            self.stdout.write("Pass it on privately; they can change it via 'Forgotten your password?'.")

    def _ask_password(self, user: AbstractBaseUser) -> str:
        while True:
            try:
                first = getpass.getpass("Password: ")
                second = getpass.getpass("Password (again): ")
            except (EOFError, KeyboardInterrupt) as exc:
                raise CommandError("Cancelled: no organiser was created.") from exc
            if first != second:
                self.stderr.write("The two passwords do not match. Try again.")
                continue
            try:
                _check_password(first, user)
            except CommandError as exc:
                self.stderr.write(str(exc))
                continue
            return first

    def _report(self, user: Any, *, created: bool, password_changed: bool) -> None:
        if created:
            self.stdout.write(self.style.SUCCESS(f"Created organiser {user.username}."))
        else:
            password_note = "password changed" if password_changed else "password unchanged"
            summary = f"Updated {user.username}: staff, in the Organisers group, {password_note}."
            self.stdout.write(self.style.SUCCESS(summary))
        if not user.is_active:
            self.stdout.write(
                self.style.WARNING(f"{user.username} is deactivated and cannot log in until reactivated.")
            )


def _clean_email(raw: str) -> str:
    # Usernames are matched exactly at login, so one spelling is stored: people
    # type their address in lower case, whatever their mail client shows.
    email = raw.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise CommandError(f"{raw!r} is not a valid email address.") from exc
    return email


def _check_password(password: str, user: AbstractBaseUser) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise CommandError("Password refused: " + " ".join(exc.messages)) from exc
