"""Every write to campaigns goes through here."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from campaigns.models import Campaign, ModerationMode

ORGANISERS_GROUP = "Organisers"
# What organisers may do in the admin; moderation views check the group too.
ORGANISER_PERMISSIONS = [
    ("campaigns", "add_campaign"),
    ("campaigns", "change_campaign"),
    ("campaigns", "view_campaign"),
    ("pledges", "view_pledge"),
    ("pledges", "change_pledge"),
    ("pledges", "view_outboxemail"),
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
