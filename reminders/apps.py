from __future__ import annotations

from django.apps import AppConfig


class RemindersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reminders"
    verbose_name = "Reminders"

    def ready(self) -> None:
        from reminders.services import signup_email_kinds_register

        signup_email_kinds_register()

        # The schedule is edited on the campaign's own admin page, but campaigns sits
        # below reminders and may not import it: reminders contributes its inline.
        from campaigns.admin import campaign_admin_extend
        from reminders.admin import FollowThroughInline, ReminderInline, campaign_schedule_default

        campaign_admin_extend(inline=ReminderInline, on_create=campaign_schedule_default)
        campaign_admin_extend(inline=FollowThroughInline)

        # Hook into pledges' privacy module, which sits below and never imports
        # reminders: sign-ups go when their pledger erases their data, and unconfirmed
        # ones with the scheduled purge.
        from pledges import privacy
        from reminders.services import reminder_signup_purge_unconfirmed, reminder_signups_erase

        privacy.pledger_data_erase_listen(reminder_signups_erase)
        privacy.unconfirmed_purge_register(what="reminder sign-ups", purge=reminder_signup_purge_unconfirmed)
