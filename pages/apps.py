from __future__ import annotations

from django.apps import AppConfig


class PagesConfig(AppConfig):
    """The top layer: pages that show several apps together (the campaign page with
    its totals and "remind me" box, the widget, the statistics page) and
    `seed_demo`, which fills every app. Nothing below imports it."""

    name = "pages"
    verbose_name = "Pages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from pages.printing import fonts_check

        checks.register(fonts_check)
