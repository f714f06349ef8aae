from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class PagesConfig(AppConfig):
    """The top layer: pages that show several apps together (the campaign page with
    its totals and "remind me" box, the widget, the statistics page) and
    `seed_demo`, which fills every app. Nothing below imports it."""

    name = "pages"
    verbose_name = "Pages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Link previews for the pledge's page and the wall, which pledges renders; a pledger's
        erasure or withdrawal takes their pledge's share images with it."""
        from pages import printing, share_cards
        from pledges import privacy, services, views

        views.pledge_share_meta_provide(share_cards.share_meta_for_pledge)
        views.wall_share_meta_provide(share_cards.share_meta_for_wall)
        privacy.pledger_data_erase_listen(share_cards.pledge_share_images_erase)
        services.pledge_moved_listen(share_cards.pledge_share_images_withdrawn)
        checks.register(share_image_fonts_check)
        checks.register(printing.fonts_check)


def share_image_fonts_check(**_: Any) -> list[checks.CheckMessage]:
    from pages.share_images import fonts_missing

    missing = fonts_missing()
    if not missing:
        return []
    return [
        checks.Warning(
            f"Share images cannot find these fonts: {', '.join(missing)}.",
            hint="Run `make install` (npm ci) before collectstatic; until then previews fall back to "
            "Pillow's own font, and letters outside Latin may be left out.",
            id="pages.W001",
        )
    ]
