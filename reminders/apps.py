from __future__ import annotations

from django.apps import AppConfig


class RemindersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reminders"
    verbose_name = "Reminders"

    def ready(self) -> None:
        # The schedule is edited on the campaign's own admin page, but campaigns sits
        # below reminders and may not import it: reminders contributes its inline.
        from campaigns.admin import campaign_admin_extend
        from reminders.admin import ReminderInline, campaign_schedule_default

        campaign_admin_extend(inline=ReminderInline, on_create=campaign_schedule_default)
