"""Every write to campaigns goes through here."""

from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.tokens import default_token_generator
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from campaigns.models import RETENTION_DAYS, Campaign, ModerationMode
from changeday.lib.emailaddr import ascii_lower
from changeday.lib.mail import Links, absolute_url, render_email
from outbox.kinds import EmailKindSpec, email_kind_register
from outbox.models import OutboxEmail
from outbox.services import outbox_hand_over

ORGANISERS_GROUP = "Organisers"
# What organisers may do in the admin; moderation views check the group too.
ORGANISER_PERMISSIONS = [
    ("campaigns", "add_campaign"),
    ("campaigns", "change_campaign"),
    ("campaigns", "view_campaign"),
    # The directory: organisers import, edit and merge it (organisations 0002 grants these).
    ("organisations", "add_organisation"),
    ("organisations", "change_organisation"),
    ("organisations", "delete_organisation"),
    ("organisations", "view_organisation"),
    ("organisations", "add_organisationdomain"),
    ("organisations", "change_organisationdomain"),
    ("organisations", "delete_organisationdomain"),
    ("organisations", "view_organisationdomain"),
    ("organisations", "add_organisationcampaign"),
    ("organisations", "change_organisationcampaign"),
    ("organisations", "delete_organisationcampaign"),
    ("organisations", "view_organisationcampaign"),
    ("organisations", "change_organisationsuggestion"),
    ("organisations", "view_organisationsuggestion"),
    ("pledges", "view_pledge"),
    ("pledges", "change_pledge"),
    ("outbox", "view_outboxemail"),
    ("outbox", "view_suppression"),
    ("outbox", "change_suppression"),
    ("moderation", "view_moderationevent"),
    ("moderation", "view_report"),
    ("reminders", "add_reminder"),
    ("reminders", "change_reminder"),
    ("reminders", "delete_reminder"),
    ("reminders", "view_reminder"),
    ("reminders", "view_reminderrun"),
    ("reminders", "view_reminderdelivery"),
    ("reminders", "view_remindersignup"),
]


def campaign_create(
    *,
    name: str,
    slug: str,
    hashtag: str,
    description: str,
    opens_at: datetime,
    change_day: date,
    deadline: datetime,
    target: int,
    moderation_mode: str = ModerationMode.POST,
    report_threshold: int = 3,
    blocked_words: str = "",
    outcomes_close: datetime | None = None,
    staff_domains: str = "",
    staff_domains_label: str = "NHS staff",
    organiser_name: str = "",
    contact_email: str = "",
    contact_url: str = "",
    retention_days: int = RETENTION_DAYS,
) -> Campaign:
    campaign = Campaign(
        name=name,
        slug=slug,
        hashtag=hashtag.lstrip("#"),
        description=description,
        opens_at=opens_at,
        change_day=change_day,
        deadline=deadline,
        target=target,
        moderation_mode=moderation_mode,
        report_threshold=report_threshold,
        blocked_words=blocked_words,
        outcomes_close=outcomes_close,
        staff_domains=staff_domains,
        staff_domains_label=staff_domains_label,
        organiser_name=organiser_name,
        contact_email=contact_email,
        contact_url=contact_url,
        retention_days=retention_days,
    )
    campaign.full_clean()
    with transaction.atomic():
        campaign.save()
    return campaign


def organiser_group_ensure() -> Group:
    group, _ = Group.objects.get_or_create(name=ORGANISERS_GROUP)
    perms = [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in ORGANISER_PERMISSIONS
    ]
    group.permissions.add(*perms)
    return group


# --- Accounts: the organisers' password resets, sent through the outbox ---

PASSWORD_RESET_EMAIL = "password-reset"


# Upper-case ASCII letters and their lower-case forms, for SQL's translate().
_ASCII_LETTERS = ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_folded_sql(column: str) -> str:
    """SQL for `column` with ASCII-only case folding (changeday.lib.emailaddr.ascii_lower).

    Not UPPER() or LOWER() on PostgreSQL: they fold other letters too, and UPPER('ı')
    is 'I', so a look-alike address would match. SQLite's lower() folds ASCII only."""
    if connection.vendor == "postgresql":
        return f"translate({column}, '{_ASCII_LETTERS[0]}', '{_ASCII_LETTERS[1]}')"
    return f"lower({column})"


def account_password_reset_request(*, email: str, now: datetime | None = None) -> None:
    """Owe a password-reset email to each active account, with a password, whose
    address is this one but for ASCII case, if there is any.

    One statement whether or not there is one (finding the account and writing its
    outbox row), and nothing slow: the token is made and the email sent by a
    worker (password_reset_email), so the answer takes the same time either way and tells
    nobody who has an account. Addresses equal but for ASCII case have the same
    canonical form (changeday.lib.emailaddr), so no other account can match, as
    Django checks since CVE-2019-19844."""
    user_model = get_user_model()
    meta = user_model._meta
    quote = connection.ops.quote_name
    email_column = quote(meta.get_field(user_model.get_email_field_name()).column)
    statement = (
        f"INSERT INTO {quote(OutboxEmail._meta.db_table)} "
        "(subject_id, kind, created_at, attempts, last_error) "
        f"SELECT {quote(meta.pk.column)}, %s, %s, 0, '' FROM {quote(meta.db_table)} "
        f"WHERE {_ascii_folded_sql(email_column)} = %s AND {quote(meta.get_field('is_active').column)} "
        f"AND {quote(meta.get_field('password').column)} NOT LIKE %s "
        "RETURNING id"
    )
    params = [PASSWORD_RESET_EMAIL, now or timezone.now(), ascii_lower(email.strip())]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [*params, f"{UNUSABLE_PASSWORD_PREFIX}%"])
        outbox_ids = [row[0] for row in cursor.fetchall()]
        if outbox_ids:
            transaction.on_commit(lambda: outbox_hand_over(outbox_ids))


def password_reset_email(user: AbstractBaseUser, links: Links):  # noqa: ANN201 - EmailMultiAlternatives
    """The password-reset email of an account, as the outbox sends it (account_email_kinds_register)."""
    # Made at send time, in the worker: the token hashes the account's password
    # and last login, so it stops working once either changes (one use).
    token = default_token_generator.make_token(user)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    address = getattr(user, user.get_email_field_name())
    context = {
        "email": address,
        # From SITE_URL: the request that asked for it, and its Host header, are long gone.
        "reset_url": absolute_url(path),
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    return render_email(template="password_reset", context=context, to=address)


def account_email_kinds_register() -> None:
    """Tell the outbox how to build a password-reset email (CampaignsConfig.ready)."""
    email_kind_register(
        EmailKindSpec(
            kind=PASSWORD_RESET_EMAIL,
            label="Reset your organiser password",
            load=lambda ids: get_user_model().objects.in_bulk(ids),
            build=password_reset_email,
        )
    )
