"""The gap map page, as a locality team uses it."""

from __future__ import annotations

import re

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
    expect(page.locator("a", has_text="Download CSV")).to_have_attribute(
        "href", "/api/gaps?need=food-bank&aggregate=datazone&locality=scotland&format=csv")
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


# The walk scale of static/gaps.js, as Leaflet writes it into each shape's fill attribute.
WALK_COLOURS = {"#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"}


def test_a_council_without_boundaries_draws_coloured_circles(page: Page, scotland_site: str) -> None:
    """Highland's data zones have only a centroid: circles coloured by the walk, gaps edged red."""
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + "/gaps?locality=Highland&need=food")
    page.wait_for_selector("html[data-ready=true]", state="attached")
    expect(page.locator("h1")).to_contain_text("in Highland")
    expect(page.locator("#locality")).to_have_value("S12000017")
    circles = page.locator("#gap-map path.area.centroid")
    expect(circles).to_have_count(312)  # SIMD 2020v2 lists 312 data zones in Highland
    colours = page.eval_on_selector_all("#gap-map path.area.centroid", "ps => ps.map(p => p.getAttribute('fill'))")
    assert set(colours) <= WALK_COLOURS and len(set(colours)) >= 2, set(colours)
    assert page.locator(".leaflet-marker-icon").count() == 0  # no default blue pins
    gaps = page.locator("#gap-map path.area.centroid.gap")
    assert gaps.count() == page.locator("#flagged tbody tr").count() > 0
    assert gaps.first.get_attribute("stroke") == "#b00020" and gaps.first.get_attribute("stroke-width") == "3"
    # Sized by the data zone's people (radius ~ square root; Leaflet draws whole pixels): not one size for all.
    radii = page.eval_on_selector_all("#gap-map path.area.centroid", "ps => ps.map(p => p.getAttribute('d'))")
    assert len({re.search(r"a([0-9.]+),", d).group(1) for d in radii}) >= 3  # type: ignore[union-attr]
    expect(page.locator(".legend")).to_contain_text("data zone without a boundary, drawn at its centre")
    expect(page.locator("#gap-map path.council").first).to_be_attached()
    screenshot(page, "gap-map-highland")
    no_serious_accessibility_problems(page)


def test_glasgow_from_the_picker_is_under_a_megabyte(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + "/gaps?locality=Highland&need=food")
    page.wait_for_selector("html[data-ready=true]", state="attached")
    page.select_option("#locality", label="Glasgow City")
    with page.expect_response(re.compile(r"/gaps\?")) as answered:
        page.click(".gap-form button[type=submit]")
    page.wait_for_selector("html[data-ready=true]", state="attached")
    body = answered.value.body()
    assert len(body) < 1_000_000, len(body)
    expect(page.locator("h1")).to_contain_text("in Glasgow City")
    expect(page.locator("#gap-map path.area")).to_have_count(746)
    assert page.locator("#gap-map path.centroid").count() == 0  # Glasgow's boundaries are held
    expect(page.locator("#unmet-heading")).to_contain_text("Searched for and not found in Glasgow City")
    screenshot(page, "gap-map-glasgow")


def test_a_bad_locality_says_so_on_the_page(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    answer = page.goto(scotland_site + "/gaps?locality=Narnia&need=food")
    assert answer is not None and answer.status == 400
    expect(page.locator("#locality-error")).to_contain_text("'Narnia' is not a council area")
    expect(page.locator("#locality option", has_text="Highland")).to_have_count(1)  # pick another
