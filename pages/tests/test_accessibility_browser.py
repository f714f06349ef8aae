"""Every public page, the organiser login and the moderation queue pass axe-core
in a real browser with no serious or critical finding, in each state a person
meets them in (campaign phases, form errors, empty results, not found)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conftest import create_pledge
from pledges.outcomes import pledge_outcome_record
from pledges.services import pledge_confirmation_url, pledge_withdraw_url
from testsupport.browser import axe_violations, browser_log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def _phases(make_campaign: Any) -> tuple[Any, Any, Any]:
    now = timezone.now()
    open_ = make_campaign()
    upcoming = make_campaign(
        name="Change Day 2028",
        slug="change-day-2028",
        opens_at=now + timedelta(days=200),
        change_day=(now + timedelta(days=230)).date(),
        deadline=now + timedelta(days=260),
    )
    closed = make_campaign(
        name="Change Day 2026",
        slug="change-day-2026",
        opens_at=now - timedelta(days=90),
        change_day=(now - timedelta(days=30)).date(),
        deadline=now - timedelta(days=10),
    )
    return open_, upcoming, closed


class AxeAudit:
    """Visits pages in one browser context, checks each with axe and keeps every
    finding, so one run reports all the pages that fail rather than the first."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.findings: dict[str, tuple[str, list[str]]] = {}
        self.checked: list[str] = []

    def visit(self, name: str, path: str, *, status: int = 200) -> None:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.status == status, f"{name}: {path} answered {response}"
        self.check(name)

    def check(self, name: str) -> None:
        self.checked.append(name)
        screenshot(self.page, f"a11y-{name}")
        found = axe_violations(self.page)
        if found:
            self.findings[name] = (self.page.url, found)

    def assert_clean(self) -> None:
        report = "\n".join(
            f"{name} ({url}):\n  " + "\n  ".join(lines) for name, (url, lines) in self.findings.items()
        )
        assert not self.findings, f"axe found serious or critical problems:\n{report}"


def _audit(chromium: Any, base_url: str, **context: Any) -> AxeAudit:
    # bypass_csp only here: axe is a script the site's policy must refuse.
    browser_context = chromium.new_context(bypass_csp=True, **context)
    return AxeAudit(browser_context.new_page(), base_url)


def test_every_public_page_has_no_serious_accessibility_problem(
    live_site: str, make_campaign: Any, chromium: Any
) -> None:
    open_, upcoming, closed = _phases(make_campaign)
    published = [
        create_pledge(open_, n, organisation="Leeds Teaching Hospitals", sectors=["nhs", "housing"])
        for n in range(3)
    ]
    # Made while it was open: a closed campaign keeps its wall.
    create_pledge(closed, 9, region="wales", kind="organisational", now=closed.deadline - timedelta(days=20))
    waiting = create_pledge(open_, 20, confirm=False)
    # The stats page's follow-through funnel has answers to show.
    pledge_outcome_record(pledge=published[2], outcome="done", story_text="we did it", story_public=True)
    audit = _audit(chromium, live_site, viewport={"width": 1280, "height": 900})
    page = audit.page

    audit.visit("home", "/")
    for campaign in (open_, upcoming, closed):
        audit.visit(f"campaign-{campaign.phase()}", f"/campaigns/{campaign.slug}/")
    audit.visit("pledge-form", f"/campaigns/{open_.slug}/pledge/")
    page.get_by_role("button", name="Make my pledge").click()
    page.get_by_role("heading", name="Please check your pledge").wait_for()
    audit.check("pledge-form-errors")
    audit.visit("pledge-form-upcoming", f"/campaigns/{upcoming.slug}/pledge/")
    audit.visit("pledge-form-closed", f"/campaigns/{closed.slug}/pledge/")
    audit.visit("sent", f"/campaigns/{open_.slug}/pledge/sent/")

    audit.visit("confirm", pledge_confirmation_url(pledge=waiting).removeprefix(live_site))
    audit.visit("confirm-bad-link", "/pledges/confirm/not-a-token/", status=400)
    audit.visit("permalink", f"/pledges/{published[0].public_id}/")
    page.get_by_text("Report this pledge").click()
    page.get_by_role("button", name="Send report").click()
    page.get_by_role("heading", name="Report this pledge").wait_for()
    audit.check("report-errors")
    audit.visit("withdraw", pledge_withdraw_url(pledge=published[1]).removeprefix(live_site))
    page.get_by_role("button", name="Withdraw my pledge").click()
    page.get_by_role("heading", name="Your pledge is withdrawn").wait_for()
    audit.check("withdrawn")

    audit.visit("wall", f"/campaigns/{open_.slug}/wall/")
    audit.visit("wall-no-results", f"/campaigns/{open_.slug}/wall/?q=zebra&sector=housing")
    audit.visit("wall-bad-filter", f"/campaigns/{open_.slug}/wall/?sector=moon", status=400)
    audit.visit("wall-closed", f"/campaigns/{closed.slug}/wall/")
    audit.visit("stats", f"/campaigns/{open_.slug}/stats/")
    audit.visit("stats-empty", f"/campaigns/{upcoming.slug}/stats/")
    audit.visit("widget", f"/campaigns/{open_.slug}/widget/")
    audit.visit("not-found", "/pledges/nosuchpledge/", status=404)
    audit.visit("not-found-path", "/no/such/page/", status=404)

    audit.assert_clean()


def test_a_phone_sees_the_pledge_pages_without_serious_accessibility_problems(
    live_site: str, campaign: Any, chromium: Any
) -> None:
    # Bootstrap lays these pages out differently under 576px: check the phone layout too.
    pledge = create_pledge(campaign, organisation="Leeds Teaching Hospitals")
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    audit = _audit(chromium, live_site, **phone)

    audit.visit("phone-home", "/")
    audit.visit("phone-pledge-form", f"/campaigns/{campaign.slug}/pledge/")
    audit.visit("phone-permalink", f"/pledges/{pledge.public_id}/")
    audit.visit("phone-wall", f"/campaigns/{campaign.slug}/wall/")

    audit.assert_clean()


def _send_a_pledge(page: Any, base_url: str, slug: str, *, email: str) -> None:
    """Make a pledge through the form as a person does, and wait for the page after it."""
    page.goto(f"{base_url}/campaigns/{slug}/pledge/")
    page.get_by_label("I pledge to…").fill("learn the name of every cleaner on my ward by Friday")
    page.get_by_label("Social care", exact=True).check()
    page.get_by_label("Your name as it should appear").fill("Rhys Evans")
    page.get_by_label("Your role or job title").fill("Care worker")
    page.get_by_role("combobox", name="Region").select_option(label="Wales")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("I agree that my pledge").check()
    page.get_by_role("button", name="Make my pledge").click()
    page.wait_for_url(f"**/campaigns/{slug}/pledge/sent/")


@pytest.mark.parametrize(
    "viewport",
    [
        {"viewport": {"width": 1280, "height": 900}},
        {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    ],
    ids=["desktop", "phone"],
)
def test_the_sent_page_with_its_send_again_and_change_address_forms_has_no_serious_accessibility_problem(
    live_site: str, campaign: Any, chromium: Any, viewport: dict[str, Any]
) -> None:
    # Its two forms are only there for the person who has just pledged (their session), so the
    # page is reached by really sending a pledge, never by visiting its address.
    audit = _audit(chromium, live_site, **viewport)
    page = audit.page
    name = "phone-sent" if viewport.get("is_mobile") else "sent"

    _send_a_pledge(page, live_site, campaign.slug, email="rhys.evans@example.org")
    again = page.get_by_role("button", name="Send it again")
    change = page.get_by_role("button", name="Change the address and send the link")
    assert again.is_visible() and change.is_visible()
    assert page.get_by_role("heading", name="Wrong address? Change it").is_visible()
    audit.check(f"{name}-with-its-forms")

    again.click()
    page.get_by_text("We have sent the link again").wait_for()
    audit.check(f"{name}-sent-again")

    page.get_by_label("The right address").fill("rhys.evans@")
    page.get_by_role("button", name="Change the address and send the link").click()
    page.locator("#address-error").wait_for()
    assert page.get_by_label("The right address").get_attribute("aria-invalid") == "true"
    audit.check(f"{name}-wrong-address-error")

    page.get_by_label("The right address").fill("rhys.evans@example.net")
    page.get_by_role("button", name="Change the address and send the link").click()
    page.get_by_text("we have sent a new link to the corrected address").wait_for()
    assert "rhys.evans@example.net" in page.inner_text("main")
    audit.check(f"{name}-address-changed")

    audit.assert_clean()


def test_the_organiser_pages_have_no_serious_accessibility_problem(
    live_site: str, pre_campaign: Any, organiser: Any, chromium: Any
) -> None:
    for n in range(3):
        create_pledge(pre_campaign, n)
    create_pledge(pre_campaign, 5, text="read www.example.org/spam for the best pledge of all")
    # Stories wait beside the pledges: one flagged, one kept private.
    for n, text, public in ((6, "Mr Jones in bed 4 sleeps better now", True), (7, "a quiet word", False)):
        pledge_outcome_record(
            pledge=create_pledge(pre_campaign, n), outcome="done", story_text=text, story_public=public
        )
    audit = _audit(chromium, live_site, viewport={"width": 1366, "height": 860})
    page = audit.page

    audit.visit("login", "/accounts/login/")
    page.get_by_label("Email address").fill(organiser.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").wait_for()
    audit.check("login-errors")

    browser_log_in(page.context, organiser, live_site)
    audit.visit("moderation", f"/moderation/?campaign={pre_campaign.slug}")
    page.wait_for_function("() => window.htmx !== undefined")
    audit.check("moderation-ready")
    audit.visit("moderation-empty", f"/moderation/?campaign={pre_campaign.slug}&sector=patient-carer")
    audit.visit("moderation-private-stories", f"/moderation/?campaign={pre_campaign.slug}&status=private")

    audit.assert_clean()


def test_the_accessibility_check_reports_what_would_block_someone(chromium: Any) -> None:
    """The check itself can fail: a nameless button and grey-on-white text are caught."""
    page = chromium.new_context(bypass_csp=True).new_page()
    page.set_content(
        '<html lang="en"><title>Bad</title><main><h1>Bad page</h1>'
        '<button type="button"></button><p style="color:#bbb">Hard to read</p></main></html>'
    )

    found = "\n".join(axe_violations(page))

    assert "critical button-name" in found
    assert "serious color-contrast" in found


# WCAG 1.4.11 asks 3:1 for the edges of form controls against the page; axe does not check it.
CONTROL_EDGES = """() => {
  const luminance = (css) => {
    const [r, g, b] = css.match(/[\\d.]+/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const page = luminance(getComputedStyle(document.body).backgroundColor);
  const controls = 'main input:not([type=hidden]):not([type=submit]), main select, main textarea';
  return [...document.querySelectorAll(controls)]
    .map((el) => {
      const edge = luminance(getComputedStyle(el).borderTopColor);
      const ratio = (Math.max(edge, page) + 0.05) / (Math.min(edge, page) + 0.05);
      return {id: el.id, ratio: Math.round(ratio * 100) / 100};
    });
}"""


def test_the_edges_of_every_form_control_stand_out_from_the_page(
    live_site: str, campaign: Any, chromium: Any
) -> None:
    page = chromium.new_page()
    pages = (f"/campaigns/{campaign.slug}/pledge/", f"/campaigns/{campaign.slug}/wall/", "/accounts/login/")
    for path in pages:
        page.goto(live_site + path)
        controls = page.evaluate(CONTROL_EDGES)
        faint = [control for control in controls if control["ratio"] < 3]
        assert controls and faint == [], f"{path}: control edges below 3:1 against the page: {faint}"


def test_the_reminder_and_your_data_pages_have_no_serious_accessibility_problem(
    live_site: str, make_campaign: Any, chromium: Any
) -> None:
    from pledges.services import pledger_data_url
    from reminders.services import signup_confirmation_url, unsubscribe_token
    from reminders.tests.helpers import signup

    open_, _upcoming, closed = _phases(make_campaign)
    pledge = create_pledge(open_, 1, wants_reminders=True)
    waiting = signup(open_, "waiting@example.org", confirm=False)
    audit = _audit(chromium, live_site, viewport={"width": 1280, "height": 900})
    page = audit.page

    audit.visit("remind-me", f"/campaigns/{open_.slug}/remind-me/")
    page.get_by_role("button", name="Remind me").click()
    page.get_by_role("alert").wait_for()
    audit.check("remind-me-errors")
    audit.visit("remind-me-sent", f"/campaigns/{open_.slug}/remind-me/sent/")
    audit.visit("remind-me-closed", f"/campaigns/{closed.slug}/remind-me/")
    audit.visit("remind-me-confirm", signup_confirmation_url(signup=waiting).removeprefix(live_site))
    page.get_by_role("button", name="Yes, remind me").click()
    page.get_by_role("heading", name="You will get reminders").wait_for()
    audit.check("remind-me-confirmed")
    audit.visit("unsubscribe", f"/reminders/unsubscribe/{unsubscribe_token(pledge=pledge)}/")
    page.get_by_role("button", name="Stop my reminders").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    audit.check("unsubscribed")
    audit.visit("unsubscribe-bad-link", "/reminders/unsubscribe/not-a-token/", status=400)

    audit.visit("your-data", "/your-data/")
    audit.visit("your-data-sent", "/your-data/sent/")
    audit.visit("your-data-pledges", pledger_data_url(pledge=pledge).removeprefix(live_site))

    audit.assert_clean()
