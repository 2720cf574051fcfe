"""The /plan page as a locality team's editor uses it: plan, try a site of their own, keep it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_pages import no_serious_accessibility_problems

def test_an_editor_plans_food_for_glasgow_tries_a_site_and_keeps_the_proposal(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "editor")
    page.get_by_role("link", name="Plan", exact=True).click()
    page.select_option("#need", "food")
    page.select_option("#locality", label="Glasgow City")
    page.fill("#sites", "3")
    page.click("#plan-form button[type=submit]")
    expect(page.locator("#plan-status")).to_contain_text("Working out")
    screenshot(page, "plan-working")
    page.wait_for_selector("html[data-ready]", state="attached", timeout=110_000)
    expect(page.locator("html")).to_have_attribute("data-ready", "true")

    # Three numbered sites on the map, and the same three in the table with a running total.
    expect(page.locator("#plan-map .map-number.site")).to_have_count(3)
    assert page.locator("#plan-map .map-number.site").all_inner_texts() == ["1", "2", "3"]
    rows = page.locator("#plan-sites tbody tr")
    expect(rows).to_have_count(3)
    reached = [int(t.replace(",", "")) for t in rows.locator("td:nth-child(4)").all_inner_texts()]
    totals = [int(t.replace(",", "")) for t in rows.locator("td:nth-child(5)").all_inner_texts()]
    assert all(r > 0 for r in reached) and all(abs(totals[n] - sum(reached[:n + 1])) <= n + 1 for n in range(3))
    assert f"reach {totals[-1]:,} people" in page.locator("#plan-summary").inner_text()  # the table adds up to it
    summary = page.locator("#plan-summary").inner_text()
    assert "Glasgow City" in summary and re.search(r"best possible", summary)
    assert re.search(r"proved the best possible|within [\d.]+% of the best possible",
                     page.locator("#plan-quality").inner_text())
    expect(page.locator("#plan-map path.service").first).to_be_attached()  # today's food services
    expect(page.locator("#plan-map path.unreached").first).to_be_attached()  # people with nothing in reach
    screenshot(page, "plan-result")
    no_serious_accessibility_problems(page)

    # What if: a click on the map places a site of the editor's own and says who it would reach.
    page.locator("#plan-map").click(position={"x": 60, "y": 300})
    page.wait_for_selector("html[data-whatif='1']", state="attached", timeout=60_000)
    mine = page.locator("#whatif-list li")
    expect(mine).to_have_count(1)
    assert re.search(r"Your site A: [\d,]+ (people|person) newly reached, in \d+ data zones?", mine.inner_text())
    expect(page.locator("#plan-map .map-number.whatif")).to_have_count(1)
    screenshot(page, "plan-what-if")

    page.fill("#title", "Food: three new pantries for Glasgow")
    page.click("#keep-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Food: three new pantries for Glasgow", timeout=110_000)
    expect(page.locator("#since")).to_contain_text("0 new, 0 gone")
    expect(page.locator("#proposal-sites tbody tr")).to_have_count(3)
    page.wait_for_selector("html[data-ready=true]", state="attached")
    screenshot(page, "plan-proposal")
    page.goto(scotland_site + "/plan/proposals")
    expect(page.locator("#proposals a", has_text="Food: three new pantries for Glasgow")).to_be_visible()
    screenshot(page, "plan-proposals")
