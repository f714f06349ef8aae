"""Pages load only the script they use: no framework bundle rides along on every page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_public_page_loads_only_the_sites_own_script(campaign: Any) -> None:
    for url in ("/", f"/campaigns/{campaign.slug}/"):
        html = Client().get(url, follow=True).content.decode()
        scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
        assert [src.rsplit("/", 1)[-1] for src in scripts] == ["changeday.js"], (url, scripts)
