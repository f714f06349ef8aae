"""Screening a pledge's text before it goes live: each flag fires on a plain example and stays quiet
on the acronyms, clinical words and place names that real health and care pledges are full of."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pledges.screening import (
    FlagReason,
    _profanity,
    parse_blocked_words,
    screen_pledge,
    without_contact_details,
)

CLEAN_PLEDGE = (
    "ask every patient 'what matters to you?' before their care plan review, and share what I learn "
    "with the team at our 8.30am huddle so we can improve care together by March 2027"
)


def test_a_realistic_pledge_gets_no_flags() -> None:
    assert screen_pledge(text=CLEAN_PLEDGE) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("stop this shit happening on our ward", FlagReason.PROFANITY),
        ("stop this sh1t happening on our ward", FlagReason.PROFANITY),
        ("stop this ｆｕｃｋｉｎｇ nonsense on the ward", FlagReason.PROFANITY),
        ("say 'shit' less often at work", FlagReason.PROFANITY),
        ("read more at https://example.org/pledge", FlagReason.LINK),
        ("read more at www.example.org", FlagReason.LINK),
        ("read more at nhs.uk/conditions/sepsis", FlagReason.LINK),
        ("sign the petition on change.org today", FlagReason.LINK),
        ("email me at jo.bloggs@nhs.net to join in", FlagReason.CONTACT),
        ("text me on 07700 900123 to join in", FlagReason.CONTACT),
        ("text me on +44 7700 900123 to join in", FlagReason.CONTACT),
        ("ring the office on 020 7946 0000 to join in", FlagReason.CONTACT),
        ("ring the office on 0113-496-0000 to join in", FlagReason.CONTACT),
        ("ring the office on +44 (0)113 496 0000 to join in", FlagReason.CONTACT),
        ("in 2027 call 07700 900123 to join in", FlagReason.CONTACT),
        ("MAKE EVERY MANAGER LISTEN TO NURSES", FlagReason.SHOUTING),
        ("I WILL BE KIND TO ALL MY TEAM", FlagReason.SHOUTING),
        ("be soooooo kind to everyone", FlagReason.REPEATED),
        ("be kind to everyone!!!!!", FlagReason.REPEATED),
        ("be kind, kind, kind, kind to everyone", FlagReason.REPEATED),
    ],
)
def test_each_reason_is_raised_by_a_plain_example(text: str, reason: FlagReason) -> None:
    assert reason.value in screen_pledge(text=text)


@pytest.mark.parametrize(
    "text",
    [
        "support colleagues in NHS GP surgeries, A&E, ICU and COVID-19 wards after difficult shifts",
        "help our therapist team assess every patient from Scunthorpe in the class on Tuesday",
        "read Dickens to patients over a mocktail, not a cocktail, and say Hello to each of them",
        "promote breast screening and raise awareness of anal fissure and rectal bleeding",
        "get every stroke patient to the stroke unit and sign up new organ donors",
        "support survivors of rape and sexual assault, and offer HIV testing to everyone",
        "He'll be fine, we'll manage: I will not say these without checking on them",
        "thank the 455 staff who finished 717 training modules this year",
        "clean door knobs every shift, e.g. at 5.30pm and 7 a.m., i.e. twice a day",
        "check in at 09.00-17.00 and 19.00-07.00, give 500mg doses, and call 111 or 999 if worried",
        "reach 100000 patients by 2027 with 10,000 steps a day",
        "help LGBTQ+ young people feel safe in CAMHS, and thank our GPs and HCAs",
        "wash your hands.Then dry them and tell the team.Info matters",
    ],
)
def test_words_that_merely_look_suspicious_raise_no_flags(text: str) -> None:
    assert screen_pledge(text=text) == []


def test_mild_swearing_is_still_flagged_but_not_inside_another_word() -> None:
    # "hell" is on the list on purpose: a moderator should see it; "Hello" must not trip it.
    assert screen_pledge(text="make A&E less of a hell for patients") == [FlagReason.PROFANITY.value]
    assert screen_pledge(text="say Hello to every patient I meet") == []


@pytest.mark.parametrize(
    "text",
    [
        "سوف أساعد المرضى كل يوم في المستشفى",
        "לעזור לכל מטופל בבית החולים כל יום",
        "help every patient 😀🏥💙 and smile ‏עזרה‏ every day",
        "帮助每一位病人，每天微笑",
        "zero\u200bwidth\u0000 and combining é marks ﷺ",
    ],
)
def test_unicode_emoji_and_right_to_left_text_does_not_crash(text: str) -> None:
    assert screen_pledge(text=text) == []


def test_a_run_of_the_same_emoji_counts_as_repeated() -> None:
    assert screen_pledge(text="love our NHS ❤️❤️❤️❤️❤️") == [FlagReason.REPEATED.value]


def test_blocked_words_match_whole_words_whatever_the_case() -> None:
    blocked = ["ward", "  Matron Smith ", "", "   "]
    assert screen_pledge(text="thank every WARD cleaner", blocked_words=blocked) == ["blocked-word"]
    assert screen_pledge(text="thank matron\nsmith for her help", blocked_words=blocked) == ["blocked-word"]
    assert screen_pledge(text="move forward with awarded funds", blocked_words=blocked) == []


def test_empty_blocked_entries_block_nothing() -> None:
    assert screen_pledge(text=CLEAN_PLEDGE, blocked_words=["", "  ", "\n"]) == []


def test_duplicate_applies_from_the_threshold_onwards() -> None:
    assert screen_pledge(text=CLEAN_PLEDGE, identical_count=2, duplicate_threshold=3) == []
    assert screen_pledge(text=CLEAN_PLEDGE, identical_count=3, duplicate_threshold=3) == ["duplicate"]
    assert screen_pledge(text=CLEAN_PLEDGE, identical_count=4) == ["duplicate"]


def test_a_threshold_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        screen_pledge(text=CLEAN_PLEDGE, duplicate_threshold=0)


def test_several_reasons_come_back_once_each_in_a_stable_order() -> None:
    flags = screen_pledge(
        text="VISIT WWW.EXAMPLE.COM OR EMAIL SHIT@EXAMPLE.COM!!!!! SHIT SHIT ABOUT NHS 943 476 5919",
        blocked_words=["example"],
        identical_count=5,
    )
    assert flags == [reason.value for reason in FlagReason]


def test_blocked_words_are_read_one_per_line_or_comma_separated() -> None:
    raw = "ward, Matron   Smith\n\n  sister ,WARD\r\nbed blockers,"
    assert parse_blocked_words(raw) == ["ward", "Matron Smith", "sister", "bed blockers"]


# The word set answers `in` through a trie (pledges.screening._SpellingTrie); the library compares
# with each entry in turn. Both must agree on every spelling, disguised or not.
_SUBSTITUTES = "@*4l10v u3$57"


def _library_says(word: str) -> bool:
    return any(entry == word for entry in _profanity().CENSOR_WORDSET)


@st.composite
def _spellings(draw: st.DrawFn) -> str:
    """A list entry with some characters swapped for a substitute, a letter or nothing; or noise."""
    entries = [str(entry) for entry in _profanity().CENSOR_WORDSET]
    if draw(st.booleans()):
        return draw(st.text(alphabet="aeioulvst" + _SUBSTITUTES + "bcknr", min_size=1, max_size=8))
    entry = draw(st.sampled_from(entries))
    chars = []
    for char in entry:
        choice = draw(st.sampled_from(["keep", "keep", "substitute", "letter", "drop"]))
        if choice == "keep":
            chars.append(char)
        elif choice == "substitute":
            chars.append(draw(st.sampled_from(_SUBSTITUTES)))
        elif choice == "letter":
            chars.append(draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz")))
    return "".join(chars)


@settings(max_examples=1500, deadline=None)
@given(_spellings())
def test_the_fast_word_set_agrees_with_the_library_on_every_spelling(word: str) -> None:
    assert (word in _profanity().CENSOR_WORDSET) == _library_says(word)


@pytest.mark.parametrize(
    ("word", "listed"), [("sh1t", True), ("$hit", True), ("5h*7", True), ("shot", False)]
)
def test_the_fast_word_set_knows_disguised_spellings(word: str, listed: bool) -> None:
    assert (word in _profanity().CENSOR_WORDSET) is listed
    assert _library_says(word) is listed


# _has_profanity asks the library only about texts the trie says may match, so the trie must
# never say no to a text the library would censor.
_GAPS = [" ", "  ", "-", "_", ", ", "! ", ".", " & ", "/", "'", '"']


@st.composite
def _texts(draw: st.DrawFn) -> str:
    """Spellings of list entries, phrases of several words included, among ordinary words."""
    words = draw(
        st.lists(st.one_of(_spellings(), st.sampled_from(["ward", "to", "the", "A&E", "as"])), max_size=6)
    )
    text = ""
    for word in words:
        text += draw(st.sampled_from(_GAPS)) + word
    return text + draw(st.sampled_from(["", *_GAPS]))


@settings(max_examples=1500, deadline=None)
@given(_texts())
def test_the_fast_check_lets_through_every_text_the_library_censors(text: str) -> None:
    if _profanity().contains_profanity(text):
        assert _profanity().CENSOR_WORDSET.may_match_in(text)


@pytest.mark.parametrize(
    "text", ["what a load of bull shit", "stop being a dumb-ass at handover", "no more dumb ass jokes"]
)
def test_the_fast_check_keeps_phrases_and_joined_words_for_the_library(text: str) -> None:
    assert _profanity().CENSOR_WORDSET.may_match_in(text)
    assert screen_pledge(text=text) == [FlagReason.PROFANITY.value]


def test_a_clean_pledge_is_answered_without_the_library() -> None:
    text = "I pledge to learn the name of every patient on my ward and to listen to their carers."
    assert not _profanity().CENSOR_WORDSET.may_match_in(text)
    assert screen_pledge(text=text) == []


# --- What emails may quote (pledges/tests/test_email_quotes.py sends them) ---


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("visit evil。example/login", "visit [link removed]"),
        ("visit evil\u200b.com now", "visit [link removed] now"),
        ("visit ｅｖｉｌ．ｃｏｍ now", "visit [link removed] now"),
        ("mail help@evil.example.", "mail [email address removed]."),
        ("call 07700 900 123 in 2027", "call [phone number removed] in 2027"),
        ("(see https://evil.example/a?b=c).", "(see [link removed])."),
        ("thank Dr.Jones at the end.Then rest", "thank Dr. Jones at the end. Then rest"),
        ("e.g. at 5.30pm, i.e. 09.00-17.00, 455 nurses", "e.g. at 5.30pm, i.e. 09.00-17.00, 455 nurses"),
    ],
)
def test_links_in_disguise_are_taken_out_and_ordinary_prose_is_left_alone(typed: str, shown: str) -> None:
    assert without_contact_details(typed) == shown
