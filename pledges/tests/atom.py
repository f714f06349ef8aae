"""An Atom document read as XML, element by element: what the feed itself says, where a feed
parser would fill a gap (feedparser reports an entry without <updated> as updated when it was
published)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree

ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass(frozen=True)
class RawEntry:
    id: str
    title: str
    summary: str
    # The element's text as written, or None when the entry has no such element.
    updated: str | None
    published: str | None
    categories: list[str]

    @property
    def updated_at(self) -> datetime:
        assert self.updated is not None, f"{self.id} has no <updated>"
        return datetime.fromisoformat(self.updated)


def _text(entry: ElementTree.Element, name: str) -> str | None:
    found = entry.find(ATOM + name)
    return None if found is None else (found.text or "")


def atom_entries(body: bytes) -> list[RawEntry]:
    root = ElementTree.fromstring(body)
    assert root.tag == ATOM + "feed", root.tag
    return [
        RawEntry(
            id=_text(entry, "id") or "",
            title=_text(entry, "title") or "",
            summary=_text(entry, "summary") or "",
            updated=_text(entry, "updated"),
            published=_text(entry, "published"),
            categories=[category.get("term", "") for category in entry.findall(ATOM + "category")],
        )
        for entry in root.findall(ATOM + "entry")
    ]


def atom_title(body: bytes) -> str:
    return ElementTree.fromstring(body).findtext(ATOM + "title") or ""
