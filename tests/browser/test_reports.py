"""Reporting a problem, the review queue, and the editor form's new parts, in a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import Dialog, Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_pages import no_serious_accessibility_problems


def new_service(page: Page, site: str, name: str, postcode: str = "G31 4EB") -> str:
    """An editor adds a service; returns its page's path."""
    sign_in(page, site, "editor")
    page.goto(site + "/services/new")
    page.fill("#name", name)
    page.fill("#postcode", postcode)
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_have_text(name)
    path = re.sub(r"^https?://[^/]+", "", page.url)
    page.context.clear_cookies()
    return path


def report(page: Page, site: str, path: str, reason: str, note: str = "") -> None:
    sign_in(page, site, "viewer")
    page.goto(site + path)
    page.locator("details.report-problem summary").click()
    page.get_by_label(reason, exact=True).check()
    if note:
        page.get_by_label(re.compile("What is wrong, in a few words")).fill(note)


def test_a_viewer_reports_a_closure_and_an_editor_sees_it_first_in_the_queue(page: Page, site: str) -> None:
    name = "Tollcross Lunch Club (reported)"
    path = new_service(page, site, name)
    sign_in(page, site, "viewer")
    page.goto(site + path + "/report")  # the form as its own page, for a result inside the handout's form
    expect(page.locator("h1")).to_have_text(f"Report a problem with {name}")
    no_serious_accessibility_problems(page)
    report(page, site, path, "Closed", "The hall is boarded up")
    expect(page.locator("details.report-problem")).to_contain_text("Do not write anything about the person you are seeing")
    screenshot(page, "report-a-problem")
    no_serious_accessibility_problems(page)
    page.get_by_role("button", name=re.compile("^Send the report")).click()
    expect(page.locator(".flash")).to_have_text("Thank you: an editor will check it.")
    assert page.url.endswith(path)
    expect(page.locator(".reported")).to_contain_text("Closed")
    expect(page.locator(".reported")).not_to_contain_text("boarded up")  # the notes are for editors
    page.context.clear_cookies()

    sign_in(page, site, "editor")
    page.goto(site + "/review")
    first = page.locator(".reported-service").first
    expect(first.locator("h2")).to_have_text(name)
    expect(first.locator(".reports")).to_contain_text("Closed")
    expect(first.locator(".reports")).to_contain_text("The hall is boarded up")
    expect(first.locator(".reporter")).to_contain_text("Test viewer")
    screenshot(page, "review-queue-reported")
    no_serious_accessibility_problems(page)


def test_verified_today_asks_first_and_then_deals_with_the_reports(page: Page, site: str) -> None:
    name = "Shettleston Walking Group (to verify)"
    path = new_service(page, site, name)
    report(page, site, path, "Wrong times")
    page.get_by_role("button", name=re.compile("^Send the report")).click()
    expect(page.locator(".flash")).to_be_visible()
    page.context.clear_cookies()
    sign_in(page, site, "editor")
    page.goto(site + "/review")
    entry = page.locator(".reported-service", has=page.locator("h2", has_text=name))
    asked: list[str] = []

    def answer(dialog: Dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    entry.get_by_role("button", name=re.compile("^Verified today")).click()
    assert asked and "verified today" in asked[0] and name in asked[0]
    assert "1 problem report will be marked dealt with" in asked[0]
    expect(entry).to_be_visible()  # said no: nothing changed
    page.once("dialog", lambda d: answer(d, True))
    entry.get_by_role("button", name=re.compile("^Verified today")).click()
    expect(page.locator(".flash")).to_have_text("Marked as verified today. The problem reported is marked dealt with.")
    expect(page.locator(".reported-service", has=page.locator("h2", has_text=name))).to_have_count(0)


def test_the_postcode_places_the_pin_at_once(page: Page, site: str) -> None:
    sign_in(page, site, "editor")
    page.goto(site + "/services/new")
    expect(page.locator("#pin-map .leaflet-marker-icon")).to_have_count(0)
    page.fill("#postcode", "G31 4EB")
    page.press("#postcode", "Tab")
    expect(page.locator("#pin-status")).to_have_text(re.compile("^The pin is at G31 4EB"))
    expect(page.locator("#pin-map .leaflet-marker-icon")).to_have_count(1)
    first = (float(page.input_value("#latitude")), float(page.input_value("#longitude")))
    assert 55.84 < first[0] < 55.87 and -4.22 < first[1] < -4.17
    page.fill("#postcode", "G32 8AQ")
    page.press("#postcode", "Tab")
    expect(page.locator("#pin-status")).to_have_text(re.compile("^The pin is at G32 8AQ"))
    assert (float(page.input_value("#latitude")), float(page.input_value("#longitude"))) != first
    page.locator("#pin-map").scroll_into_view_if_needed()
    screenshot(page, "edit-postcode-pin")
    page.fill("#postcode", "ZZ9 9ZZ")
    page.press("#postcode", "Tab")
    expect(page.locator("#pin-status")).not_to_have_text(re.compile("^The pin is at"))


def test_how_to_get_in_eligibility_access_and_who_it_is_for_are_saved_and_shown(page: Page, site: str) -> None:
    sign_in(page, site, "editor")
    page.goto(site + "/services/new")
    page.fill("#name", "Dalmarnock Food Bank (test)")
    page.fill("#postcode", "G40 4AA")
    page.get_by_label("Referral needed", exact=True).check()
    page.fill("#application_process", "Ask your GP or link worker for a voucher")
    page.fill("#eligibility", "People living in the G40 area")
    page.check("input[name=access][value=accessible-entrance]")
    page.check("input[name=who][value=men]")
    page.locator("#application_process").scroll_into_view_if_needed()
    screenshot(page, "edit-how-to-get-in")
    no_serious_accessibility_problems(page)
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_have_text("Dalmarnock Food Bank (test)")
    expect(page.locator("dt", has_text="How to get in").locator("xpath=following-sibling::dd[1]")).to_have_text(
        "Referral needed: Ask your GP or link worker for a voucher")
    expect(page.locator("dt", has_text="Who can go").locator("xpath=following-sibling::dd[1]")).to_have_text(
        "People living in the G40 area")
    expect(page.locator("dt", has_text="At the venue").locator("xpath=following-sibling::dd[1]")).to_have_text(
        "Accessible entrance")
    expect(page.locator("dt", has_text=re.compile("^For$")).locator("xpath=following-sibling::dd[1]")).to_have_text("Men")
    screenshot(page, "service-how-to-get-in")
    no_serious_accessibility_problems(page)
    page.get_by_role("link", name="Edit this service").click()
    expect(page.get_by_label("Referral needed", exact=True)).to_be_checked()
    expect(page.locator("#application_process")).to_have_value("Ask your GP or link worker for a voucher")
    expect(page.locator("#eligibility")).to_have_value("People living in the G40 area")
    expect(page.locator("input[name=access][value=accessible-entrance]")).to_be_checked()
    expect(page.locator("input[name=who][value=men]")).to_be_checked()


def test_the_audit_page_shows_one_entry_per_save_naming_the_service(page: Page, site: str) -> None:
    name = "Camlachie Choir (audited)"
    path = new_service(page, site, name)
    sign_in(page, site, "editor")
    page.goto(site + path + "/edit")
    page.fill("#phone", "0141 496 0123")
    page.fill("#when", "Thursdays at 7pm")
    page.click("button[type=submit].primary")
    expect(page.locator(".flash")).to_have_text("Your changes are saved.")
    page.goto(site + "/audit")
    saves = page.locator("tr.save", has=page.get_by_role("link", name=name, exact=True))
    expect(saves).to_have_count(2)  # added, then edited: two saves, however many fields each changed
    edited = saves.first
    expect(edited).to_contain_text("Edited: phone, when, in words")
    expect(edited.locator("li")).to_have_count(2)
    expect(edited).to_contain_text("now “0141 496 0123”")
    edited.get_by_role("link", name=name, exact=True).click()
    assert page.url.endswith(path)
    page.goto(site + "/audit")
    screenshot(page, "audit-one-entry-per-save")
    no_serious_accessibility_problems(page)
