"""The patient-data guard: a pledge that may identify a patient (an NHS number, a date of birth,
a name beside a bed or a postcode) is held for an organiser with the reason "May identify a
patient", and no email quotes it; clinical language ("everyone on Ward 4", "breast screening")
passes. Measured on a labelled set of realistic pledges kept beside the tests."""

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
CONFIRM = re.compile(r"http://testserver(/pledges/confirm/[^/\s\"<]+/)")


def _labelled() -> list[tuple[str, bool]]:
    with LABELLED_SET.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(row["text"], row["label"] == "identifies") for row in rows]


def test_the_labelled_set_holds_at_least_100_pledges_of_each_kind() -> None:
    labels = [identifies for _, identifies in _labelled()]
    assert labels.count(True) >= 100 and labels.count(False) >= 100


def test_the_guard_reaches_090_precision_and_recall_on_the_labelled_set() -> None:
    outcomes = [(may_identify_patient(text), identifies) for text, identifies in _labelled()]
    true_pos = sum(flagged and identifies for flagged, identifies in outcomes)
    flagged = sum(flagged for flagged, _ in outcomes)
    identifying = sum(identifies for _, identifies in outcomes)
    precision, recall = true_pos / flagged, true_pos / identifying
    print(f"\npatient guard, {len(outcomes)} pledges: precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.9 and recall >= 0.9


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
