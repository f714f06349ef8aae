"""Plain share links for where people are (WhatsApp, email, Facebook, LinkedIn, X).

Links only, never a third-party script: the page stays within its strict CSP, and no
network hears about a visitor until they choose to share. The phone's own share sheet
(static/js/changeday.js, navigator.share) is offered on top when the browser has one."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from campaigns.models import Campaign


@dataclass(frozen=True)
class ShareLink:
    network: str
    label: str
    href: str


@dataclass(frozen=True)
class Share:
    url: str
    title: str
    # The words without the link: the share sheet and X take the link apart.
    text: str
    links: list[ShareLink]


def share_for(*, campaign: Campaign, url: str, title: str, text: str) -> Share:
    """The share sheet's values and each plain link, all carrying `url` and the hashtag."""
    tag = f"#{campaign.hashtag}"
    said = text if tag.lower() in text.lower() else f"{text} {tag}"
    with_link = f"{said} {url}"
    # quote (%20), not urlencode's "+": mail programs take a mailto's "+" literally.
    mailto = f"mailto:?subject={quote(title, safe='')}&body={quote(with_link, safe='')}"
    links = [
        ShareLink("whatsapp", "WhatsApp", "https://wa.me/?" + urlencode({"text": with_link})),
        ShareLink("email", "Email", mailto),
        ShareLink(
            "facebook",
            "Facebook",
            "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url, "hashtag": tag}),
        ),
        # share-offsite takes only the address; shareArticle (which redirects there) also
        # carries the words for the clients that still read them.
        ShareLink(
            "linkedin",
            "LinkedIn",
            "https://www.linkedin.com/shareArticle?"
            + urlencode({"mini": "true", "url": url, "title": title, "summary": said}),
        ),
        ShareLink(
            "x",
            "X",
            "https://x.com/intent/tweet?"
            + urlencode({"text": text[:200], "url": url, "hashtags": campaign.hashtag}),
        ),
    ]
    return Share(url=url, title=title, text=said, links=links)


# Words that already begin a role with an article ("a nurse", "the ward manager").
_ARTICLES = ("a ", "an ", "the ")
# Capital letters whose names begin with a vowel sound: "an NHS manager", "an RN".
_VOWEL_SOUND_CAPITALS = set("AEFHILMNORSX")
# Lower-case beginnings that sound like "you" or "won": "a union rep", "a one-to-one carer".
_CONSONANT_SOUND_STARTS = ("uni", "use", "usu", "eu", "one", "once")


def _lowered(part: str) -> str:
    # Only a capital that starts a title-cased word: "GP", "NHS" and "McMillan" stay.
    titled = part[:1].isupper() and part[1:] == part[1:].lower() and part.isalpha()
    return part.lower() if titled else part


def _role_words(role: str) -> str:
    """The role as it reads inside a sentence: title-cased words lowered ("Staff Nurse" ->
    "staff nurse", "Nurse-in-Charge" -> "nurse-in-charge"), acronyms and names kept."""
    return " ".join("-".join(_lowered(part) for part in word.split("-")) for word in role.split())


def _article(words: str) -> str:
    first = words.split()[0]
    if first.isupper() and len(first) > 1:
        return "An" if first[0] in _VOWEL_SOUND_CAPITALS else "A"
    lowered = first.lower()
    if lowered.startswith(_CONSONANT_SOUND_STARTS):
        return "A"
    return "An" if lowered[:1] in "aeiou" else "A"


def pledge_by(*, display_name: str, is_anonymous: bool, role: str) -> str:
    """Whose pledge this is, for a page's title: "Sam Patel's pledge", or by role when
    the pledger chose not to be named ("A staff nurse's pledge"), else "A pledge"."""
    name = " ".join(display_name.split())
    if name and not is_anonymous:
        return f"{name}'s pledge"
    words = _role_words(" ".join(role.split()))
    for article in _ARTICLES:
        if words.lower().startswith(article):
            words = words[len(article) :].strip()
            break
    # A role with no letters ("-", "...") or only an article names nobody.
    if not any(ch.isalpha() for ch in words) or words.lower() in {"a", "an", "the"}:
        return "A pledge"
    return f"{_article(words)} {words}'s pledge"
