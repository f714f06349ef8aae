from __future__ import annotations

from django.apps import AppConfig


class PledgesConfig(AppConfig):
    name = "pledges"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pledges.services import pledge_email_kinds_register

        pledge_email_kinds_register()
