"""The locality meeting page for Glasgow City as CLWs bring it to their meeting, over all the real
data (`scotland_site`): what was reported shows, long lists are cut with a link to the rest, no one's
email or note is on it, and it prints on at most two A4 pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, screenshot, sign_in
from tests.browser.test_pages import no_serious_accessibility_problems

NOTE = "Ask for Morag Campbell at the side door"
REPORTS = 11  # more than the page lists (8), so the list is cut


def _glasgow_services(page: Page, site: str, count: int) -> list[str]:
    """Services with a venue in the middle of Glasgow, from the open /api/places."""
    answer = page.request.get(f"{site}/api/places?bbox=-4.32,55.83,-4.18,55.89")
    assert answer.ok, answer.text()
    body = json.loads(answer.text())
    places = body["places"] if isinstance(body, dict) else body
    ids = list(dict.fromkeys(p["id"] for p in places))
    assert len(ids) >= count, f"{len(ids)} services in central Glasgow"
    return ids[:count]


def _report(page: Page, site: str, service_id: str) -> None:
    page.goto(f"{site}/services/{service_id}/report")
    page.check("input[name=reason][value=wrong-times]")
    page.fill("textarea[name=note]", NOTE)
    page.locator("form.report-page button[type=submit]").click()
    page.wait_for_load_state()


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_the_meeting_page_lists_what_was_reported_without_anyone_and_prints_on_two_pages(
        page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    for service_id in _glasgow_services(page, scotland_site, REPORTS):
        _report(page, scotland_site, service_id)

    page.goto(f"{scotland_site}/meeting?locality=Glasgow+City")
    expect(page.locator("h1")).to_have_text("Locality meeting: Glasgow City")
    expect(page.locator("#reported-heading .count")).to_have_text(str(REPORTS))
    reported = page.locator("section[aria-labelledby=reported-heading]")
    expect(reported.locator("li")).to_have_count(8)
    expect(reported.locator(".more")).to_contain_text(f"and {REPORTS - 8} more")
    expect(page.locator("#gaps-heading")).to_be_visible()
    expect(page.locator(".rules")).to_contain_text("who reported it and their notes are not shown")
    text = page.locator("main").inner_text()
    assert NOTE not in text and "Morag" not in text and "@example.org" not in text
    screenshot(page, "meeting")
    no_serious_accessibility_problems(page)

    page.locator("a", has_text="the full list").first.click()
    expect(page.locator("section[aria-labelledby=reported-heading] li")).to_have_count(REPORTS)

    page.goto(f"{scotland_site}/meeting?locality=Glasgow+City")
    pdf = page.pdf(format="A4", print_background=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    Path(SCREENSHOTS / "meeting.pdf").write_bytes(pdf)
    assert 1 <= _pages(pdf) <= 2, f"{_pages(pdf)} A4 pages"
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator(".meeting-form")).to_be_hidden()
    page.set_viewport_size({"width": 794, "height": 1123})
    screenshot(page, "meeting-print")


def test_a_locality_that_is_none_says_so(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    response = page.goto(f"{scotland_site}/meeting?locality=Atlantis&since=2026-02-30")
    assert response is not None and response.status == 400
    expect(page.locator("[role=alert]")).to_contain_text("is not a date")
