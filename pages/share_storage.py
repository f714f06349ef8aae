"""Share images kept through Django's storage API (STORAGES["default"]), so that every web node
serves the one drawing: with several nodes that storage is a shared volume or an object store.

Each image is drawn once: on its first request, by one request however many arrive together,
and kept under a name made of its card's digest, which the others wait for. A file is only ever
served whole: a filesystem storage writes in place, so a file another node is still writing, or
one a crash cut short, reads as not there (a PNG ends with its IEND chunk)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from changeday.lib.cache import CacheUnavailable
from pages.share_images import ShareCard, share_image_render

FOLDER = "share-images"
_PNG_START = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# A drawing takes a fraction of a second: a holder this late has died, and another may draw.
LOCK_SECONDS = 30
# How long a request waits for another's drawing before drawing its own copy (not kept).
WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.05


def share_image_name(*, subject: str, digest: str) -> str:
    """Where the image of `subject` ("pledge/<public id>", "campaign/<id>") with this card is kept."""
    return f"{FOLDER}/{subject}/{digest}.png"


def share_image_stored(name: str) -> bytes | None:
    """The image kept under `name` if it is there whole."""
    try:
        if not default_storage.exists(name):
            return None
        with default_storage.open(name, "rb") as stored:
            data = stored.read()
    except OSError:
        return None  # deleted between the two calls: not there
    return data if data.startswith(_PNG_START) and data.endswith(_PNG_END) else None


def share_image_make(*, name: str, card: ShareCard) -> bytes:
    """Draw `card` and keep it under `name`, or wait for the request already doing so."""
    lock = f"share-image-lock:{name}"
    try:
        held = cache.add(lock, 1, timeout=LOCK_SECONDS)
    except CacheUnavailable:
        # No Redis, no lock: two nodes may both draw, and the second keeps nothing (_keep).
        held = True
    if held:
        try:
            data = share_image_stored(name)
            if data is None:
                data = share_image_render(card)
                _keep(name, data)
            return data
        finally:
            cache.delete(lock)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        data = share_image_stored(name)
        if data is not None:
            return data
        if not cache.has_key(lock):
            break  # its drawer failed: one more look below, then draw
    # The drawing failed or is very late: draw for this request alone, keep nothing, and let
    # the next request take the lock.
    return share_image_stored(name) or share_image_render(card)


def _keep(name: str, data: bytes) -> None:
    if default_storage.exists(name):
        # Not whole (share_image_stored said so), and we hold the lock: a crash's leftover.
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:
        # Another node kept the same name first (no lock while Redis was down): the same bytes.
        default_storage.delete(saved)
    # Older drawings of the subject go: words an organiser corrected must not linger anywhere.
    folder, _, current = name.rpartition("/")
    _delete_in(folder, keep=current)


def _delete_in(folder: str, *, keep: str = "") -> None:
    try:
        _folders, files = default_storage.listdir(folder)
    except OSError:
        return
    for file in files:
        if file != keep and file.endswith(".png"):
            default_storage.delete(f"{folder}/{file}")


def share_images_forget(*, subjects: Iterable[str]) -> None:
    """Delete every image of these subjects once the transaction commits (a pledger's erasure)."""
    folders = [f"{FOLDER}/{subject}" for subject in subjects]

    def forget() -> None:
        for folder in folders:
            _delete_in(folder)

    transaction.on_commit(forget)
