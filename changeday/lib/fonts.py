"""Font files from npm (package.json) for what the server draws itself (share images).

settings.SERVER_FONTS names each one as a static file: `ServerFontsFinder` finds exactly those in
node_modules, so collectstatic copies the few the server draws with rather than whole npm
packages, and `static_font` looks for them there in development and in STATIC_ROOT on a node
built for production, which then needs no node_modules of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage
from django.core.files.storage import FileSystemStorage


def static_font(name: str) -> Path | None:
    """The file of the static font `name` ("vendor/fonts/DejaVuSans.ttf"), if there is one."""
    found = finders.find(name)
    if isinstance(found, str):
        return Path(found)
    collected = Path(settings.STATIC_ROOT) / name
    return collected if collected.is_file() else None


class ServerFontsFinder(BaseFinder):
    """The files of settings.SERVER_FONTS, under their static names, where npm put them."""

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return []

    def _source(self, name: str) -> Path | None:
        source = settings.SERVER_FONTS.get(name)
        return Path(source) if source is not None and Path(source).is_file() else None

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str] | None:
        source = self._source(path)
        if find_all:
            return [str(source)] if source else []
        return str(source) if source else None

    def list(self, ignore_patterns: list[str] | None) -> Iterator[tuple[str, FileSystemStorage]]:
        for name in settings.SERVER_FONTS:
            source = self._source(name)
            if source is None:
                continue
            storage = FileSystemStorage(location=source.parent)
            # collectstatic writes each file at prefix/name: its static name.
            storage.prefix = str(Path(name).parent)  # type: ignore[attr-defined]
            yield source.name, storage
