"""The patient-data guard: a pledge that may identify a patient (an NHS number, a date of birth,
a name beside a bed or a postcode) is held for an organiser with the reason "May identify a
patient", and no email quotes it; clinical language ("everyone on Ward 4", "breast screening")
passes. Measured on two labelled sets of realistic pledges kept beside the tests: the development
set the rules are tuned on, and a held-out set written before the rules were last changed, never
to be tuned on, which says how the rules do on pledges they were not made for."""

from __future__ import annotations

import csv
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from pledges.models import Pledge, Status
from pledges.screening import (
    PATIENT_DATE_OF_BIRTH,
    PATIENT_NAME_BY_BED,
    PATIENT_NAME_BY_POSTCODE,
    PATIENT_NHS_NUMBER,
    FlagReason,
    may_identify_patient,
    patient_identifiers,
    screen_pledge,
)
from testsupport.mail import email_html, email_text

LABELLED_SET = Path(__file__).parent / "data" / "patient_guard_set.tsv"
HELD_OUT_SET = Path(__file__).parent / "data" / "patient_guard_held_out.tsv"
CONFIRM = re.compile(r"http://testserver(/pledges/confirm/[^/\s\"<]+/)")


def _labelled(path: Path = LABELLED_SET) -> list[tuple[str, bool]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(row["text"], row["label"] == "identifies") for row in rows]


def _precision_and_recall(path: Path) -> tuple[float, float]:
    outcomes = [(may_identify_patient(text), identifies) for text, identifies in _labelled(path)]
    true_pos = sum(flagged and identifies for flagged, identifies in outcomes)
    flagged = sum(flagged for flagged, _ in outcomes)
    identifying = sum(identifies for _, identifies in outcomes)
    precision, recall = true_pos / flagged, true_pos / identifying
    figures = f"precision {precision:.3f}, recall {recall:.3f}"
    print(f"\npatient guard, {path.name}, {len(outcomes)} pledges: {figures}")
    return precision, recall


def test_the_labelled_set_holds_at_least_100_pledges_of_each_kind() -> None:
    labels = [identifies for _, identifies in _labelled()]
    assert labels.count(True) >= 100 and labels.count(False) >= 100


def test_the_guard_reaches_090_precision_and_recall_on_the_labelled_set() -> None:
    precision, recall = _precision_and_recall(LABELLED_SET)
    assert precision >= 0.9 and recall >= 0.9


def test_the_held_out_set_holds_at_least_120_pledges_about_half_of_each_kind() -> None:
    labels = [identifies for _, identifies in _labelled(HELD_OUT_SET)]
    assert len(labels) >= 120 and labels.count(True) >= 60 and labels.count(False) >= 60


def test_the_guard_keeps_090_precision_and_080_recall_on_the_held_out_set() -> None:
    # The floor the rules reach on pledges they were not tuned on; the target is the next test.
    precision, recall = _precision_and_recall(HELD_OUT_SET)
    assert precision >= 0.9 and recall >= 0.8


@pytest.mark.xfail(
    strict=True,
    reason="the held-out set's misses (lower-case first names beside a bed, lower-case postcodes, "
    "'d o b') are not handled yet; tuning for them needs a new held-out set to measure on",
)
def test_the_guard_reaches_090_recall_on_the_held_out_set() -> None:
    _, recall = _precision_and_recall(HELD_OUT_SET)
    assert recall >= 0.9


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("check NHS number 943 476 5919 before the scan", PATIENT_NHS_NUMBER),
        ("check NHS number 943-476-5919 before the scan", PATIENT_NHS_NUMBER),
        ("check NHS number 9434765919 before the scan", PATIENT_NHS_NUMBER),
        ("make sure Mr Hughes, DOB 12/03/1956, has his insulin", PATIENT_DATE_OF_BIRTH),
        ("remember Joan, born 4 June 1938, loves a custard cream", PATIENT_DATE_OF_BIRTH),
        ("make sure Mrs Patel in bed 4 gets her tea hot", PATIENT_NAME_BY_BED),
        ("make sure Mrs Lloyd on Ruby Ward sees the chaplain", PATIENT_NAME_BY_BED),
        ("visit Mary Collins at M1 1AE every week", PATIENT_NAME_BY_POSTCODE),
    ],
)
def test_each_kind_of_patient_detail_is_recognised(text: str, kind: str) -> None:
    assert patient_identifiers(text) == [kind]
    assert FlagReason.PATIENT_DATA.value in screen_pledge(text=text)


@pytest.mark.parametrize(
    "text",
    [
        "ring mrs patel in bed 4 and tell her the scan is booked",
        "call mr jones in bed 3 every evening",
        "make sure ms carter in room 9 has a fan",
        "make sure mr Novak on ward 3 gets his phone charged",
    ],
)
def test_a_patients_title_typed_in_lower_case_beside_a_bed_or_ward_is_recognised(text: str) -> None:
    assert patient_identifiers(text) == [PATIENT_NAME_BY_BED]


@pytest.mark.parametrize(
    "text",
    [
        "make sure Mrs Patel in bed four gets her tea hot",
        "read to Mr Clarke on ward four every afternoon",
        "take mr o'connor in bed twelve to the chapel",
        "keep Mrs Rahman in side room two company",
        "bring the radio in for Jean in bay three",
    ],
)
def test_a_bed_or_ward_numbered_in_words_beside_a_name_is_recognised(text: str) -> None:
    assert patient_identifiers(text) == [PATIENT_NAME_BY_BED]


@pytest.mark.parametrize(
    "text",
    [
        "celebrate 75 years of the NHS born on 5 July 1948",
        "tell patients on my ward that the NHS, born 5th July 1948, belongs to them",
        "share cake on the NHS's birthday, born July 5, 1948, with every patient",
        "happy birthday to the nhs, born 05/07/48",
    ],
)
def test_the_nhss_own_birthday_is_not_read_as_a_patients_date_of_birth(text: str) -> None:
    assert patient_identifiers(text) == []


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("make sure Mrs Kaye, born 05/07/1948, has her hearing aid in", [PATIENT_DATE_OF_BIRTH]),
        ("check NHS number 943 476 5919, born 5 July 1948", [PATIENT_NHS_NUMBER, PATIENT_DATE_OF_BIRTH]),
    ],
)
def test_a_patient_born_on_the_nhss_birthday_is_still_recognised(text: str, kinds: list[str]) -> None:
    # Only a pledge about the NHS itself makes 5 July 1948 the NHS's birthday; an NHS number does not.
    assert patient_identifiers(text) == kinds


@pytest.mark.parametrize(
    "text",
    [
        "never miss meds for anyone in bay 3",
        "run an ms clinic in room 4 every Thursday",
        "give the mr scanner team on ward 2 a proper rest room",
        "say hello to everyone in bay four every morning",
        "thank the whole ward four team for a brilliant year",
    ],
)
def test_lower_case_words_that_look_like_titles_and_beds_numbered_in_words_without_a_name_pass(
    text: str,
) -> None:
    assert patient_identifiers(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "check NHS number 943 476 5918 before the scan",  # fails modulus 11
        "check NHS number 123 456 7890 before the scan",  # check digit would be 10
        "learn the names of everyone on Ward 4",
        "thank the staff of Ward 7 and the Ward 4 team",
        "promote breast screening and get every stroke patient to the stroke unit",
        "get our resuscitation training done by 31 March 2027",
        "ask every patient their date of birth before giving medication",
        "keep our clinic at LS1 3EX open late on Thursdays",
        "thank Mrs Ahmed, our ward housekeeper, for keeping us going",
    ],
)
def test_clinical_language_dates_and_an_organisations_postcode_pass(text: str) -> None:
    assert patient_identifiers(text) == []
    assert screen_pledge(text=text) == []


def test_a_pledgers_own_name_on_its_own_line_is_not_read_as_beside_a_bed() -> None:
    # screen_pledge joins the fields with line breaks; the display name is the pledger's.
    assert screen_pledge(text="clean every bed space in bay 3 to the same standard\nSam Patel") == []


@pytest.mark.django_db(transaction=True)
def test_a_pledge_with_an_nhs_number_is_held_for_an_organiser_and_no_email_quotes_it(
    campaign: Any, organiser: Any, pledge_data: dict[str, Any], smtp_inbox: Any, celery_worker: Any
) -> None:
    text = "chase the scan results for NHS number 943 476 5919 before the weekend"
    data = {**pledge_data, "text": text, "submission_token": str(uuid.uuid4())}
    response = Client().post(f"/campaigns/{campaign.slug}/pledge/", data, REMOTE_ADDR="192.0.2.30")
    assert response.status_code == 302

    [confirmation] = smtp_inbox.wait_for(1)
    body, html = email_text(confirmation), email_html(confirmation)
    for part in (body, html):
        assert "943" not in part and "5919" not in part and "scan results" not in part
        assert "your pledge" in part.lower()
    Client().post(CONFIRM.search(body).group(1))

    # A post-moderation campaign: screening's flag sends the pledge to the queue, not the wall.
    pledge = Pledge.objects.get(email=pledge_data["email"])
    assert pledge.status == Status.PENDING and pledge.flags == [FlagReason.PATIENT_DATA.value]
    moderator = Client()
    moderator.force_login(organiser)
    queue = moderator.get("/moderation/", {"campaign": campaign.slug}).content.decode()
    assert pledge.public_id in queue and "May identify a patient" in queue
    filtered = moderator.get("/moderation/", {"campaign": campaign.slug, "flag": "patient-data"})
    assert pledge.public_id in filtered.content.decode()
