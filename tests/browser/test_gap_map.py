"""The gap map page, as a locality team uses it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_pages import no_serious_accessibility_problems


def fills(page: Page) -> list[str]:
    return page.eval_on_selector_all("#gap-map path.area", "paths => paths.map(p => p.getAttribute('fill'))")


def test_the_choropleth_draws_and_the_table_lists_flagged_areas(page: Page, site: str) -> None:
    sign_in(page, site, "viewer")
    page.goto(site + "/gaps?need=food-bank")
    page.wait_for_selector("html[data-ready=true]", state="attached")
    expect(page.locator("#gap-map path.area")).to_have_count(746)
    expect(page.locator("#gap-map path.gap").first).to_be_visible()
    rows = page.locator("#flagged tbody tr")
    assert rows.count() > 0
    assert all(text.strip() for text in rows.locator("td:last-child").all_inner_texts())
    assert rows.count() == page.locator("#gap-map path.gap").count()
    expect(page.locator("a", has_text="Download CSV")).to_have_attribute("href", "/api/gaps?need=food-bank&aggregate=datazone&format=csv")
    screenshot(page, "gap-map")
    no_serious_accessibility_problems(page)


def test_switching_the_need_changes_the_map(page: Page, site: str) -> None:
    sign_in(page, site, "viewer")
    page.goto(site + "/gaps?need=food-bank")
    page.wait_for_selector("html[data-ready=true]", state="attached")
    before = fills(page)
    page.select_option("#need", "singing-for-breathing")
    page.click(".gap-form button[type=submit]")
    expect(page.locator("#gap-map")).to_have_attribute("data-need", "singing-for-breathing")  # the new page
    page.wait_for_selector("html[data-ready=true]", state="attached")
    expect(page.locator("h1")).to_contain_text("Singing for breathing")
    after = fills(page)
    assert len(after) == 746 and after != before


def test_the_simd_layer_can_be_shown(page: Page, site: str) -> None:
    sign_in(page, site, "viewer")
    page.goto(site + "/gaps?need=loneliness")
    page.wait_for_selector("html[data-ready=true]", state="attached")
    page.get_by_label("SIMD decile (1 = most deprived)").check()
    expect(page.locator("#gap-map path.decile")).to_have_count(746)
