"""Screening a pledge's text before it goes live.

`screen_pledge` is pure: it reads no database, so the caller counts identical earlier pledges and
passes the campaign's blocked words. It only raises flags for a moderator to look at; it never
rejects, so each rule leans towards few false positives on real health and care pledges, which are
full of acronyms (NHS, GP, A&E, COVID), clinical words and place names like Scunthorpe.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from importlib import resources
from itertools import groupby

from better_profanity import Profanity
from django.db import models


class FlagReason(models.TextChoices):
    PROFANITY = "profanity", "Profanity"
    LINK = "link", "Link in the text"
    CONTACT = "contact", "Email address or phone number in the text"
    SHOUTING = "shouting", "Shouting (mostly capitals)"
    REPEATED = "repeated", "Repeated characters"
    DUPLICATE = "duplicate", "Same text as many earlier pledges"
    BLOCKED_WORD = "blocked-word", "A word this campaign blocks"
    PATIENT_DATA = "patient-data", "May identify a patient"


# How many earlier pledges with the same text make a new one a DUPLICATE.
DUPLICATE_THRESHOLD = 3


def screen_pledge(
    *,
    text: str,
    blocked_words: Iterable[str] = (),
    identical_count: int = 0,
    duplicate_threshold: int = DUPLICATE_THRESHOLD,
) -> list[str]:
    """The FlagReason values that apply to `text` (what follows "I pledge to"), in declaration order.

    `identical_count` is how many earlier pledges in the campaign have the same text; DUPLICATE
    applies once it reaches `duplicate_threshold`.
    """
    if duplicate_threshold < 1:
        # A threshold of 0 would flag every pledge; that is a bug in the caller, not a campaign choice.
        raise ValueError("duplicate_threshold must be at least 1")
    text = _normalised(text)
    found = {
        FlagReason.PROFANITY: _has_profanity(text),
        FlagReason.LINK: _has_link(text),
        FlagReason.CONTACT: _has_email(text) or _has_phone_number(text),
        FlagReason.SHOUTING: _is_shouting(text),
        FlagReason.REPEATED: _has_repetition(text),
        FlagReason.DUPLICATE: identical_count >= duplicate_threshold,
        FlagReason.BLOCKED_WORD: _has_blocked_word(text, blocked_words),
        FlagReason.PATIENT_DATA: may_identify_patient(text),
    }
    return [reason.value for reason in FlagReason if found[reason]]


# Invisible format characters (zero-width spaces and joiners, soft hyphens, direction overrides)
# that split a word or a link for a filter while a reader, or a mail client, still sees it whole.
@functools.cache
def _invisible() -> dict[int, None]:
    # Built on first use, as _profanity is: walking every code point takes a tenth of a second.
    every = range(sys.maxunicode + 1)
    return dict.fromkeys(code for code in every if unicodedata.category(chr(code)) == "Cf")


def _normalised(text: str) -> str:
    # NFKC folds look-alikes people use to dodge filters (full-width letters, ligatures) into
    # plain characters, so every rule sees the same text.
    return unicodedata.normalize("NFKC", text.translate(_invisible()))


def flags_with(flags: list[str], reason: FlagReason) -> list[str]:
    """`flags` with `reason` added, in declaration order as screen_pledge gives them."""
    wanted = {*flags, reason}
    return [flag.value for flag in FlagReason if flag in wanted]


def parse_blocked_words(raw: str) -> list[str]:
    """The campaign admin field: one word or phrase per line, or comma-separated."""
    return list(_clean_words(re.split(r"[,\r\n]+", raw)))


# --- Profanity ---------------------------------------------------------------------------------

# Entries of better-profanity's list that are clinical, anatomical, about safeguarding or identity,
# or just ordinary words. Health and care pledges use them plainly ("breast screening", "anal
# fissure", "stroke unit", "organ donation", "support survivors of rape"), and a flag on every such
# pledge would teach moderators to ignore the flag. Slurs and sexual slang stay in the list.
_NOT_PROFANE = frozenset(
    {
        # Anatomy and physiology.
        "anal", "anus", "areole", "breasts", "clitoris", "ejaculate", "ejaculated", "ejaculates",
        "ejaculating", "ejaculation", "erect", "erection", "foreskin", "glans", "gonad", "gonads",
        "hymen", "labia", "loin", "loins", "menses", "menstruate", "menstruation", "nipple",
        "nipples", "orgasm", "ovary", "ovum", "ovums", "penetrate", "penetration", "penial",
        "penile", "penis", "pubic", "pubis", "rectal", "rectum", "rectus", "scrotum", "semen",
        "sperm", "testes", "testicle", "testis", "teste", "testee", "urine", "urinal", "uterus",
        "vagina", "vulva", "womb", "masturbate", "masturbating", "masturbation", "organ", "oral",
        "orally", "facial", "stroke", "vomit", "pee", "poop", "potty", "nappy", "tampon", "teat",
        "lube", "undies", "naked", "sex", "sexual", "fat",
        # Conditions, drugs and alcohol, as named in clinics and in harm-reduction work.
        "herpes", "hiv", "pms", "pcp", "nad", "cipa", "heroin", "opiate", "opium", "meth",
        "valium", "viagra", "vodka", "rum", "drunk", "weed", "hemp", "pot",
        # Safeguarding: pledges name what they protect people from.
        "rape", "raped", "rapist", "raping", "incest", "molest", "kill", "murder", "slave",
        # Identity, faith and inclusion.
        "gay", "gays", "lesbians", "queer", "transsexual", "god", "virgin",
        # Ordinary words and names (Virgin Care, a door knob in infection control, a baby's dummy).
        "dummy", "ugly", "knob", "screw", "strip", "thrust", "wad", "flange", "seaman", "seamen",
        "sandbar", "revue", "maxi", "pawn", "woody", "len", "paddy", "yury", "arian", "mams",
        "omg",
    }
)  # fmt: skip


class _SpellingTrie:
    """better-profanity's word set, answering `in` by walking a trie of the words.

    The library compares every word of the text, and every run of up to four words, with every
    entry of its list in turn, each entry allowing its own substitutions (a as @, s as $, i as 1):
    most of a submission's CPU, and more the longer the pledge (bench/README.md). The
    substitutions are all one character, so a text matches an entry exactly when each of its
    characters is one the entry's character allows at the same place. Walking a trie of the
    entries, trying at each character only the entries' characters it may stand for, gives the
    library's answers (tests/test_screening.py checks that against the library itself) without
    comparing the text with every entry.
    """

    def __init__(
        self,
        words: Iterable[object],
        substitutes: dict[str, Iterable[str]],
        *,
        word_characters: Iterable[str] = (),
        joined_words: int = 0,
    ) -> None:
        self._words = list(words)
        self._word_characters = frozenset(word_characters)
        self._joined_words = joined_words
        # For each character a text may hold, the entries' characters it may stand for.
        self._stands_for: dict[str, tuple[str, ...]] = {}
        for original, subs in substitutes.items():
            for sub in subs:
                self._stands_for.setdefault(sub, (sub,))
                if original not in self._stands_for[sub]:
                    self._stands_for[sub] += (original,)
        self._root: dict[str, dict] = {}
        for word in self._words:
            node = self._root
            for char in str(word):
                node = node.setdefault(char, {})
            node[""] = {}  # the end of an entry

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        return any("" in node for node in self._walk([self._root], item))

    def may_match_in(self, text: str) -> bool:
        """False only if the library's censor would find nothing in `text`.

        The library checks each word of the text (a run of its word characters), lower-cased,
        and each word joined to as many following ones as its longest entry has gaps, either
        directly or with the characters between them. This walks the trie through every such
        joining, each gap taken or skipped on its own (a superset of the library's two ways), so
        a text it answers False for cannot match; the caller asks the library about the rest.
        Clean pledges end here, much sooner than the library would (bench/README.md).
        """
        runs = [
            (is_word, "".join(run).lower())
            for is_word, run in groupby(text, self._word_characters.__contains__)
        ]
        if runs and not runs[0][0]:
            runs = runs[1:]
        words, gaps = [run for _, run in runs[0::2]], [run for _, run in runs[1::2]]
        for first, word in enumerate(words):
            nodes = self._walk([self._root], word)
            last = min(first + self._joined_words, len(words) - 1)
            following = first
            while nodes:
                if any("" in node for node in nodes):
                    return True
                following += 1
                if following > last:
                    break
                gap, word = gaps[following - 1], words[following]
                nodes = self._walk(nodes, word) + self._walk(self._walk(nodes, gap), word)
        return False

    def _walk(self, nodes: list[dict], chars: str) -> list[dict]:
        for char in chars:
            nodes = [
                node[option]
                for node in nodes
                for option in self._stands_for.get(char, (char,))
                if option in node
            ]
            if not nodes:
                break
        return nodes

    def __iter__(self) -> Iterator[object]:
        return iter(self._words)

    def __len__(self) -> int:
        return len(self._words)


@functools.cache
def _profanity() -> Profanity:
    # Built once per process on first use, not at import: reading and expanding the list costs
    # tens of milliseconds that migrations and management commands need not pay. We keep our own
    # instance rather than better_profanity's global one so no other code can change its list.
    wordlist = resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text("utf-8")
    words = [w.strip() for w in wordlist.splitlines()]
    checker = Profanity(words=[w for w in words if w and w.lower() not in _NOT_PROFANE])
    if all(len(sub) == 1 for subs in checker.CHARS_MAPPING.values() for sub in subs):
        checker.CENSOR_WORDSET = _SpellingTrie(
            checker.CENSOR_WORDSET,
            checker.CHARS_MAPPING,
            word_characters=checker.ALLOWED_CHARACTERS,
            joined_words=checker.MAX_NUMBER_COMBINATIONS,
        )
    return checker


# A number on its own ("455 nurses", "717 patients") reads as leetspeak for a swear word to the
# library (4→a, 5→s, 7→t), so bare numbers are removed first. Digits inside a word (a55) stay.
_BARE_NUMBER = re.compile(r"(?<![\w@$*!+])\d+(?![\w@$*!+])")
# The library treats quotes as letters, so 'shit' in quotes or "fuck's" would not match its list;
# drop quotes at the edges of words and possessive 's. Apostrophes inside words stay: turning
# "he'll" into "he ll" would let the library join the halves into "hell".
_EDGE_QUOTE = re.compile(r"(?<!\w)['\"‘’“”]+|['\"‘’“”]+(?!\w)")
_POSSESSIVE = re.compile(r"['‘’]s\b", re.IGNORECASE)
# "sh!t": the library splits words at "!", so its own "sh!t" entry can never match.
_BANG_AS_I = re.compile(r"(?<=[^\W\d_])!(?=[^\W\d_])")
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")


def _has_profanity(text: str) -> bool:
    text = _BARE_NUMBER.sub(" ", text)
    text = _POSSESSIVE.sub("", text)
    text = _EDGE_QUOTE.sub(" ", text)
    text = _BANG_AS_I.sub("i", text)
    variants = [text]
    if _LETTER_RUN.search(text):
        # Stretched words ("fuuuck", "assss"): no English word has a letter three times running,
        # so try the text with each run cut to one letter and to two.
        variants += [_LETTER_RUN.sub(r"\1", text), _LETTER_RUN.sub(r"\1\1", text)]
    checker = _profanity()
    if isinstance(checker.CENSOR_WORDSET, _SpellingTrie):
        variants = [variant for variant in variants if checker.CENSOR_WORDSET.may_match_in(variant)]
    return any(checker.contains_profanity(variant) for variant in variants)


# --- Links and contact details -----------------------------------------------------------------

# One set of patterns serves both screening, which flags a pledge for a moderator and so leans
# towards few false positives, and the emails' quotes (without_contact_details), which take out
# everything a mail client could make into a link or a number to call.

# The dots browsers and mail clients read as a domain's dots: UTS 46 maps the ideographic full
# stops to ".", so "evil。com" opens evil.com (NFKC already folds the full-width one).
_DOTS = ".\u3002\uff0e\uff61"
_DOT = f"[{_DOTS}]"
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
# Punctuation ending a sentence or a bracket after a link is not part of it.
_LINK_TAIL = r"\S*?(?=[.,;:!?)\]'\"’”]*(?:\s|$))"
# A link with a scheme, or one starting www., up to the next space.
_URL = re.compile(rf"(?:\b[a-z][a-z\d+.-]*://|(?<![\w{_DOTS}])www{_DOT}){_LINK_TAIL}", re.IGNORECASE)
# A domain is labels joined by dots ending in a top-level domain of letters; "e.g.", "i.e.",
# "a.m." (one letter) and "5.30pm" (digits) never match. `rest` is a port or path after it.
_DOMAIN = re.compile(
    rf"(?<![@\w{_DOTS}-])(?P<domain>(?:{_LABEL}{_DOT})+(?:[^\W\d_]{{2,63}}|xn--[\w-]+))(?![\w-])"
    rf"(?P<rest>(?::\d+)?[/?#]{_LINK_TAIL})?",
    re.IGNORECASE,
)
# What screening takes for a link without a scheme: a known top-level domain. Those that are
# also everyday words (.care, .health, .live, .page) are left out: "the ward.Care is..." with a
# missed space is far more common in pledges than a link to them.
_FLAGGED_TLDS = frozenset(
    "com org net uk io co info biz gov edu ly gl ie eu de fr ru cn au nz ca xyz tv ai".split()
)
_EMAIL = re.compile(rf"[\w.+-]+@{_LABEL}(?:{_DOT}{_LABEL})+")
# Each pattern above is tried at every word of a text; most pledges hold no "://", no "www", no "@"
# and no dot between two letters, and these checks, a fraction of the cost, rule them out first.
# (A dot between a letter or digit and a letter; starting with the dot lets the engine skip to dots.)
_DOTTED = re.compile(rf"{_DOT}(?=[^\W\d_])(?<=[^\W_]{_DOT})")


def _may_hold_url(text: str) -> bool:
    return "://" in text or "www" in text.lower()


LINK_REMOVED = "[link removed]"
EMAIL_REMOVED = "[email address removed]"
PHONE_REMOVED = "[phone number removed]"


def _as_cased_domain(label: str) -> bool:
    # "team.Info" is a missed space after a full stop; a real domain is lower or upper case.
    return label.islower() or label.isupper()


def _has_link(text: str) -> bool:
    if _may_hold_url(text) and _URL.search(text):
        return True
    if not _DOTTED.search(text):
        return False
    for match in _DOMAIN.finditer(text):
        labels = re.split(_DOT, match.group("domain"))[1:]
        if any(label.lower() in _FLAGGED_TLDS and _as_cased_domain(label) for label in labels):
            return True
    return False


def _has_email(text: str) -> bool:
    return "@" in text and _EMAIL.search(text) is not None


# Digit groups joined by single spaces, dashes or brackets: "07700 900 123", "(0113) 496-0000",
# "+44 (0)20 7946 0000". Dots and colons are not joiners, so times ("09.00-17.00 19.00") and
# decimals never join into a long number.
_DIGIT_RUN = re.compile(r"\+?\(?\d+\)?(?:[ \-]?\(?\d+\)?)*")
_DIGIT_GROUP = re.compile(r"\+?\d+")
_ANY_DIGIT = re.compile(r"\d")


def _has_phone_number(text: str) -> bool:
    return next(_phone_numbers(text), None) is not None


def _phone_numbers(text: str, *, any_long_number: bool = False) -> Iterator[tuple[int, int]]:
    """The (start, end) of each phone number in `text`. With any_long_number, also any run of 10
    to 15 digits, as a phone's own mail app links "(555) 010-4477"."""
    if not _ANY_DIGIT.search(text):
        return
    for run in _DIGIT_RUN.finditer(text):
        groups = list(_DIGIT_GROUP.finditer(text, run.start(), run.end()))
        # A number can start at any group: "2027 07700 900123" is one run.
        start = 0
        while start < len(groups):
            digits = ""
            for end in range(start, len(groups)):
                digits += groups[end].group()
                if _is_phone_number(digits) or (any_long_number and 10 <= len(digits.lstrip("+")) <= 15):
                    begin = groups[start].start()
                    if begin > run.start() and text[begin - 1] == "(":
                        begin -= 1
                    yield begin, groups[end].end()
                    start = end
                    break
                if len(digits) > 16:
                    break
            start += 1


def _is_phone_number(digits: str) -> bool:
    if digits.startswith("+44"):
        national = digits[3:].removeprefix("0")  # "+44 (0)20 ..." writes the trunk zero too
        return len(national) in (9, 10)
    if digits.startswith(("+", "00")):
        # Any other international number; E.164 allows up to 15 digits.
        return 10 <= len(digits.lstrip("+")) <= 15
    # UK national numbers are a zero and nine or ten digits, in ranges 01-03 and 05-09. Years,
    # times, doses and counts do not start with a zero, so they never get here.
    return digits.startswith("0") and len(digits) in (10, 11) and digits[1] in "1235789"


def without_contact_details(text: str) -> str:
    """`text` as an email may quote it: each link, email address and phone number replaced by a
    marker, so nothing a visitor typed reaches an inbox as something to click or call.

    Broader than screening's flags, because a mail client links what it likes: every domain is
    taken out whatever its top-level domain, and a dot followed by a capitalised word ("Dr.Jones",
    "the end.Then"), which reads as a missed space, gets the space, so no client links it."""
    text = _normalised(text)
    if _may_hold_url(text):
        text = _URL.sub(LINK_REMOVED, text)
    if "@" in text:
        text = _EMAIL.sub(EMAIL_REMOVED, text)
    if _DOTTED.search(text):
        text = _DOMAIN.sub(_domain_quoted, text)
    for start, end in reversed(list(_phone_numbers(text, any_long_number=True))):
        text = text[:start] + PHONE_REMOVED + text[end:]
    return text


def without_email_addresses(text: str) -> str:
    """`text` with each email address replaced by a marker, and nothing else changed: for a feed,
    which shows what was published as typed, yet must never carry an address."""
    # Folded first, so a full-width "＠" or an invisible space inside an address cannot slip by.
    folded = _normalised(text)
    return _EMAIL.sub(EMAIL_REMOVED, folded) if "@" in folded else text


def _domain_quoted(match: re.Match[str]) -> str:
    labels = re.split(_DOT, match.group("domain"))
    if match.group("rest") or all(_as_cased_domain(label) for label in labels[1:]):
        return LINK_REMOVED
    return ". ".join(labels)


def email_quote(*, text: str, flags: Iterable[str]) -> str:
    """What an email may quote of a pledge: nothing once screening flagged it (its flags cover the
    promise, the name, the role and the organisation alike, so none of them is quoted and the
    email speaks of "your pledge"), else the text without contact details."""
    return "" if list(flags) else without_contact_details(text)


# --- Shouting and repetition -------------------------------------------------------------------

# A word is letters, joined by & or an apostrophe so that "A&E" and "don't" are one word each.
_WORD = re.compile(r"[^\W\d_]+(?:[&'’][^\W\d_]+)*")
SHOUTING_MIN_LETTERS = 12
SHOUTING_UPPER_SHARE = 0.7
# Acronyms longer than four letters; all-caps words of up to four letters are taken as acronyms
# anyway unless they are common English words (below).
_LONG_ACRONYMS = frozenset(
    {
        "COVID", "CAMHS", "LGBTQ", "LGBTQI", "LGBTQIA", "NHSEI", "NHSBT", "UKHSA", "DNACPR",
        "BIPAP", "SENCO", "UNICEF", "NMAHP", "CQUIN", "MENCAP", "NHSX",
    }
)  # fmt: skip
# Short words that are English, not acronyms, so that a pledge written wholly in short capitalised
# words ("I WILL BE KIND TO ALL MY TEAM") still counts as shouting.
_COMMON_SHORT_WORDS = frozenset(
    """a i am an as at be by do go he if in is it me my no of on or so to up us we
    all and any are ask but can day did for get got had has her him his how its let may new not
    now one our out own put say see she the too try two use was way who why yes yet you
    also away back been best both call care come each even ever feel find from full give good
    have hear help here home hope into just keep kind know less life like list look love made
    make many more most much must need next only open over part plan same save show some stop
    sure take talk team tell than that them then they this time very want ward well were what
    when will with work year your""".split()
)


def _is_shouting(text: str) -> bool:
    upper = lower = 0
    for match in _WORD.finditer(text):
        # Only cased letters count: Arabic, Hebrew, Chinese and emoji are neither upper nor lower.
        letters = [c for c in match.group() if c.isupper() or c.islower()]
        word = "".join(letters)
        if _is_acronym(word):
            continue
        word_upper = sum(c.isupper() for c in letters)
        upper += word_upper
        lower += len(letters) - word_upper
    total = upper + lower
    return total >= SHOUTING_MIN_LETTERS and upper >= SHOUTING_UPPER_SHARE * total


def _is_acronym(word: str) -> bool:
    # "GPs", "HCAs": an acronym with a lower-case plural s.
    if len(word) > 2 and word.endswith("s") and word[:-1].isupper():
        word = word[:-1]
    if not word.isupper():
        return False
    if word in _LONG_ACRONYMS:
        return True
    return len(word) <= 4 and word.lower() not in _COMMON_SHORT_WORDS


# Five of one character ("soooooo", "!!!!!", an emoji with its variation selector), but not
# digits (100000 patients) or spaces (line breaks between paragraphs).
_REPEATED_CHARACTER = re.compile(r"([^\s\d]\ufe0f?)\1{4,}")
# The same word four times running, whatever the punctuation between: "please, please, please, please".
_REPEATED_WORD = re.compile(r"(?<![^\W\d_])([^\W\d_]+)(?:[\W_]+\1(?![^\W\d_])){3,}", re.IGNORECASE)


def _has_repetition(text: str) -> bool:
    return bool(_REPEATED_CHARACTER.search(text) or _REPEATED_WORD.search(text))


# --- Blocked words -----------------------------------------------------------------------------


def _clean_words(words: Iterable[str]) -> Iterator[str]:
    """Stripped, inner whitespace collapsed, empties and case-insensitive repeats dropped."""
    seen: set[str] = set()
    for word in words:
        cleaned = " ".join(unicodedata.normalize("NFKC", word).split())
        key = cleaned.casefold()
        if cleaned and key not in seen:
            seen.add(key)
            yield cleaned


def _has_blocked_word(text: str, blocked_words: Iterable[str]) -> bool:
    pattern = _blocked_pattern(tuple(_clean_words(blocked_words)))
    return pattern is not None and pattern.search(text) is not None


@functools.lru_cache(maxsize=128)
def _blocked_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    # Cached per list: a campaign's list changes rarely and every pledge in it is screened.
    if not words:
        return None
    # A phrase matches across any whitespace, so a line break in the pledge does not hide it.
    phrases = (r"\s+".join(re.escape(part) for part in word.split()) for word in words)
    # Whole words only: blocking "ward" must not flag "forward" or "awarded".
    return re.compile(r"(?<!\w)(?:" + "|".join(phrases) + r")(?!\w)", re.IGNORECASE)


# --- Patient data ------------------------------------------------------------------------------

# A pledge is public, and a pledge that names a patient breaks their confidentiality however kind
# its intent ("make sure Mrs Patel in bed 4 gets her tea hot"). What identifies a patient in
# practice: an NHS number, a date of birth, or a name beside where they lie or live. Clinical
# language on its own ("everyone on Ward 4", "breast screening", "the stroke unit"), a ward or a
# postcode without a person's name, and ordinary dates ("by 31 March 2027") pass. Pure and
# model-free, so stories can reuse it.

PATIENT_NHS_NUMBER = "nhs-number"
PATIENT_DATE_OF_BIRTH = "date-of-birth"
PATIENT_NAME_BY_BED = "name-by-bed"
PATIENT_NAME_BY_POSTCODE = "name-by-postcode"

# Ten digits, alone or grouped 3-3-4 by spaces or hyphens, not part of a longer number.
_NHS_NUMBER = re.compile(r"(?<![\d-])(\d{3})([ -]?)(\d{3})\2(\d{4})(?![\d-])")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}\b"
    rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b",
    re.IGNORECASE,
)
# Words that make a nearby date someone's birth date; "aged 84" counts because a date beside an
# age is a birth date however it is introduced.
_BIRTH_WORDS = re.compile(
    r"\b(?:d\.?o\.?b\b\.?|date\s+of\s+birth|born|birthday|birth\s+date|aged\s+\d{1,3})", re.IGNORECASE
)
# Pledges celebrate the NHS's own birthday, 5 July 1948, in the words they would use of a person
# ("the NHS, born 5th July 1948"). That date is a patient's too only if the text is not about the
# NHS, which "NHS number" does not make it.
_NHS_BIRTHDAY = (5, 7, 1948)
_ABOUT_THE_NHS = re.compile(r"\bNHS\b(?!\s*(?:number|no\b|num\b))", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAME = re.compile(_MONTH, re.IGNORECASE)
_DATE_NUMBER = re.compile(r"\d+")
# People on phones type numbers as words: "Mrs Patel in bed four", "Mr Clarke on ward four".
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)"
)
_BED_PLACE = r"(?:bed|bay|cubicle|side\s+room|room)"
_BED_NUMBER = rf"(?:\s*(?:no\.?\s*)?\d{{1,3}}[a-z]?|\s+{_NUMBER_WORD})\b"
# Where a patient lies. A bed, bay, cubicle or side room is a patient's; a ward is everyone's, so a
# ward counts only beside a patient's title (Mr, Mrs), not beside a first name or Dr, which on a
# ward are far more often the staff a pledge thanks.
_BED = re.compile(rf"\b{_BED_PLACE}{_BED_NUMBER}", re.IGNORECASE)
# "Ward 4", "ward 9B", "ward four", "Ruby Ward"; not "our ward", and not "ward I will..." (the
# pronoun).
_WARD = re.compile(
    rf"\b(?i:ward)\s+(?:\d{{1,3}}[a-zA-Z]?|[A-HJ-Z]\d?|(?i:{_NUMBER_WORD}))\b|\b[A-Z][a-z]+\s+(?i:ward)\b"
)
# A patient's title and the word after it. Typed on a phone the title is often lower case ("ring
# mrs patel in bed 4"); lower-case "miss" is the verb far more often than the title, so Miss and
# Master count only with a capital. A lower-case word after the title must not be an everyday one:
# "mr" is also MR, the scanner, and "ms" multiple sclerosis ("the ms clinic in room 4").
_PATIENT_TITLED = re.compile(r"\b(?:(?i:mrs?|ms|mx)|Miss|Master)\.?\s+([A-Za-z][a-z'’-]+)")
# Other titles count beside a bed, where a Dr or a Lord is as likely to be the patient as not.
_OTHER_TITLED = re.compile(r"\b(?:Dr|Prof|Sir|Dame|Lady|Lord)\.?\s+[A-Z][a-z'’-]+")
_CAPITALISED = r"[A-Z][a-z'’-]+"
# A full UK postcode: outward code (LS1, SW1A, M1) and inward code (3EX).
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b")
# How far apart, within one line, a name and a bed or postcode may be and still read as one person.
_NEAR = 40
# Capitalised words that are not people's names: places in a hospital, services, institutions,
# days and months, and words that start sentences in pledges.
_NOT_NAMES = frozenset(
    """ward wards bay bed beds room rooms unit units team teams staff sister matron nurse nurses
    doctor doctors hospital hospitals trust trusts centre center clinic clinics surgery surgeries
    practice practices service services home homes house court road street lane avenue close
    way drive place hall school college university council foundation royal general infirmary
    community mental health care social primary secondary acute stroke cancer breast children
    childrens maternity emergency department intensive critical day night change nhs st saint
    north south east west east-west new old great little upper lower the a an and or of on in at
    to by for with from my our your their his her this that these those every each all any some
    i we you they he she it me us them everyone everybody anyone patients patient residents
    resident carers carer families family friends visitors people monday tuesday wednesday
    thursday friday saturday sunday january february march april may june july august september
    october november december christmas easter pledge pledges will thank thanks please make
    help ask be keep learn listen bring give get let take tell always never when before after
    during while if so but not no yes mum dad nan gran grandad grandma auntie uncle my scan scans
    scanner scanners society""".split()
)  # fmt: skip
_PAIR = re.compile(rf"\b({_CAPITALISED})\s+({_CAPITALISED})\b")
_FIRST_NAME_IN_BED = re.compile(
    rf"\b({_CAPITALISED})\s+(?:in|on|from|at)\s+{_BED_PLACE}{_BED_NUMBER}", re.IGNORECASE
)


def patient_identifiers(text: str) -> list[str]:
    """The kinds of patient-identifying detail in `text` (PATIENT_* values), in a stable order."""
    found: list[str] = []
    # A bed or a ward may be numbered in words ("bed four"); every other kind needs a digit.
    has_digit = _ANY_DIGIT.search(text) is not None
    if has_digit and any(
        _nhs_checksum_ok(m.group(1) + m.group(3) + m.group(4)) for m in _NHS_NUMBER.finditer(text)
    ):
        found.append(PATIENT_NHS_NUMBER)
    if has_digit and _has_birth_date(text):
        found.append(PATIENT_DATE_OF_BIRTH)
    if _mentions_a_bed_or_ward(text) and (
        _name_near(text, _BED, patient_titles_only=False)
        or _first_name_in_bed(text)
        or _name_near(text, _WARD, patient_titles_only=True)
    ):
        found.append(PATIENT_NAME_BY_BED)
    if has_digit and _name_near(text, _POSTCODE, patient_titles_only=False):
        found.append(PATIENT_NAME_BY_POSTCODE)
    return found


def _mentions_a_bed_or_ward(text: str) -> bool:
    # Most pledges name no bed or ward; a substring test lets them skip the place patterns, which
    # cost several times as much.
    lowered = text.lower()
    return any(word in lowered for word in ("bed", "bay", "room", "cubicle", "ward"))


def may_identify_patient(text: str) -> bool:
    """Whether `text` holds an NHS number, a date of birth, or a name beside a bed or postcode."""
    return bool(patient_identifiers(text))


def _nhs_checksum_ok(digits: str) -> bool:
    # NHS Data Dictionary: weights 10 down to 2 on the first nine digits; 11 minus the sum modulo
    # 11 is the check digit, 11 reads as 0 and 10 means no valid number has these nine digits.
    check = 11 - sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _has_birth_date(text: str) -> bool:
    for word in _BIRTH_WORDS.finditer(text):
        around = text[max(0, word.start() - 25) : word.end() + 30]
        for date in _DATE.finditer(around):
            if not (_date_parts(date.group()) == _NHS_BIRTHDAY and _ABOUT_THE_NHS.search(text)):
                return True
    return False


def _date_parts(date: str) -> tuple[int, int, int]:
    """(day, month, year) of a date _DATE found, day first as in the UK; a two-digit year is 19xx."""
    numbers = [int(number) for number in _DATE_NUMBER.findall(date)]
    month_name = _MONTH_NAME.search(date)
    if month_name:
        (day, year), month = numbers, _MONTHS.index(month_name.group()[:3].lower()) + 1
    else:
        day, month, year = numbers
    return day, month, (year + 1900 if year < 100 else year)


def _name_near(text: str, place: re.Pattern[str], *, patient_titles_only: bool) -> bool:
    for match in place.finditer(text):
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end == -1 else end
        before = text[max(start, match.start() - _NEAR) : match.start()]
        after = text[match.end() : min(end, match.end() + _NEAR)]
        for side in (before, after):
            if _has_patient_title(side):
                return True
            if not patient_titles_only and (_OTHER_TITLED.search(side) or _has_full_name(side)):
                return True
    return False


def _has_patient_title(text: str) -> bool:
    return any(name[0].isupper() or name.lower() not in _NOT_NAMES for name in _PATIENT_TITLED.findall(text))


def _has_full_name(text: str) -> bool:
    return any(
        first.lower() not in _NOT_NAMES and last.lower() not in _NOT_NAMES
        for first, last in _PAIR.findall(text)
    )


def _first_name_in_bed(text: str) -> bool:
    # "Jean in bed 4": a first name alone is enough beside a bed; "Everyone in bay 3" is not.
    return any(
        word[0].isupper() and word.lower() not in _NOT_NAMES for word in _FIRST_NAME_IN_BED.findall(text)
    )
