"""The pages as a CLW, an editor and a stranger use them, in a real browser."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests import hostile
from tests.browser.conftest import screenshot, sign_in

SEARCH = "/?postcode=G31+4EB&need=loneliness&need=money&walk=30"


def no_serious_accessibility_problems(page: Page) -> None:
    results = Axe().run(page)
    bad = [(v["id"], v["impact"], v["help"]) for v in results.response["violations"]
           if v["impact"] in ("serious", "critical")]
    assert not bad, bad


def search(page: Page, site: str) -> None:
    sign_in(page, site, "viewer")
    page.goto(site + SEARCH)
    page.wait_for_selector(".result")


def test_search_shows_the_list_and_as_many_numbered_markers(page: Page, site: str) -> None:
    search(page, site)
    in_person = page.locator("ol.result-list").first.locator(".result")
    expect(page.locator(".message")).to_contain_text("in-person results for loneliness and isolation and money")
    count = in_person.count()
    assert count >= 3
    expect(page.locator("#map .map-number")).to_have_count(count)
    expect(page.locator(".leaflet-control-scale")).to_be_visible()
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)  # the person's point
    screenshot(page, "search")
    no_serious_accessibility_problems(page)


def test_clicking_a_marker_highlights_its_list_entry(page: Page, site: str) -> None:
    search(page, site)
    page.locator("#map .map-number", has_text=re.compile(r"^3$")).click()
    expect(page.locator("#result-3")).to_have_class(re.compile("highlight"))
    expect(page.locator(".result.highlight")).to_have_count(1)


def test_the_search_works_by_keyboard(page: Page, site: str) -> None:
    sign_in(page, site, "viewer")
    page.goto(site)
    page.keyboard.type("G31 4EB")
    page.focus("input[name=need][value=bereavement]")
    page.keyboard.press("Space")
    page.focus("#search-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".result")
    expect(page.locator(".message")).to_contain_text("bereavement")


def test_near_the_practice_and_a_click_on_the_map_search_without_a_postcode(page: Page, site: str) -> None:
    sign_in(page, site, "viewer")
    page.goto(site + "/?need=food")
    page.click("#near-practice")
    page.wait_for_selector(".message")
    assert "lat=55.85220" in page.url
    expect(page.locator(".message")).to_contain_text("food insecurity")


def test_the_handout_prints_on_one_a4_page(page: Page, site: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    search(page, site)
    toggles = page.locator(".shortlist-toggle")
    ids = [toggles.nth(i).get_attribute("data-id") for i in range(5)]
    page.goto(site + "/handout?" + "&".join(f"id={quote(i or '')}" for i in ids))
    expect(page.locator(".handout .item")).to_have_count(5)  # every one asked for: no silent limit
    expect(page.locator("#handout-map .map-number")).to_have_count(5)
    expect(page.locator("#fit")).to_have_text("This handout fits one A4 page.")
    text = page.locator(".handout").inner_text()
    assert "G31 4EB" not in text  # nothing about the person on it
    screenshot(page, "handout")
    no_serious_accessibility_problems(page)
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1


def test_an_editor_adds_a_service_that_search_then_finds(page: Page, site: str) -> None:
    sign_in(page, site, "editor")
    page.goto(site + "/services/new")
    page.fill("#name", "Tollcross Walking Football (test)")
    page.fill("#organization", "Tollcross Sports Club")
    page.check("input[name=needs][value=physical-activity]")
    page.fill("#postcode", "G32 8AQ")
    page.check("input[name=days][value=WE]")
    page.fill("#opens_at", "18:00")
    page.fill("#closes_at", "19:30")
    page.fill("#phone", "0141 496 0500")
    screenshot(page, "edit-form")
    no_serious_accessibility_problems(page)
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_have_text("Tollcross Walking Football (test)")
    page.goto(site + "/?postcode=G32+8AQ&need=physical-activity&walk=10")
    expect(page.locator(".result .name", has_text="Tollcross Walking Football (test)")).to_be_visible()


def test_a_viewer_cannot_reach_the_edit_forms(page: Page, site: str) -> None:
    sign_in(page, site, "viewer")
    for path in ("/services/new", "/review", "/audit"):
        response = page.goto(site + path)
        assert response is not None and response.status == 403
    response = page.request.post(site + "/services/new", form={"name": "Sneaky"})
    assert response.status == 403


def test_a_form_without_its_csrf_token_is_refused(page: Page, site: str) -> None:
    sign_in(page, site, "editor")
    page.goto(site + "/services/new")
    response = page.request.post(site + "/services/new", form={"name": "Forged", "status": "active"})
    assert response.status == 403
    assert "did not come from assetmap" in response.text()
    page.goto(site + "/?postcode=G31+4EB&more_needs=Forged")
    expect(page.locator(".result .name", has_text="Forged")).to_have_count(0)


def test_html_in_a_service_name_is_shown_as_text_everywhere(page: Page, site: str) -> None:
    nasty = '<img src=x onerror="window.pwned=1">Knit <b>club</b><script>window.pwned=2</script>'
    sign_in(page, site, "editor")
    page.goto(site + "/services/new")
    page.fill("#name", nasty)
    page.check("input[name=needs][value=arts-and-crafts]")
    page.fill("#postcode", "G31 4EB")
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_have_text(nasty)
    page.goto(site + "/?postcode=G31+4EB&need=arts-and-crafts&walk=10")
    entry = page.locator(".result .name", has_text="Knit")
    expect(entry).to_have_text(nasty)
    number = entry.locator("xpath=ancestor::li").get_attribute("data-number")
    page.locator("#map .map-number", has_text=re.compile(rf"^{number}$")).click()
    expect(page.locator(".leaflet-popup-content")).to_contain_text("<script>")
    assert page.evaluate("window.pwned === undefined")


def test_two_editors_on_one_service_the_second_is_told_and_nothing_is_lost(
        browser, page: Page, site: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, site, "editor")
    page.goto(site + "/?postcode=G31+4EB&need=befriending&walk=60")
    link = page.locator(".result .name").first
    service_url = link.get_attribute("href")
    other = browser.new_context().new_page()
    sign_in(other, site, "admin")
    page.goto(site + service_url + "/edit")
    other.goto(site + service_url + "/edit")
    other.fill("#phone", "0141 496 0111")
    other.click("button[type=submit].primary")
    page.fill("#when", "Tuesdays, not in school holidays")
    page.click("button[type=submit].primary")
    expect(page.locator(".conflict")).to_contain_text("Someone else saved this service")
    expect(page.locator(".conflict")).to_contain_text("0141 496 0111")
    expect(page.locator("#when")).to_have_value("Tuesdays, not in school holidays")
    page.click("button[type=submit].primary")  # saving again keeps this editor's version, knowingly
    expect(page.locator("dd", has_text="Tuesdays, not in school holidays")).to_be_visible()
    other.context.close()


@pytest.mark.parametrize("path", ["/login", "/review", "/audit", "/plan", "/plan/proposals"])
def test_every_other_page_has_no_serious_accessibility_problems(page: Page, site: str, path: str) -> None:
    sign_in(page, site, "editor")
    page.goto(site + path)
    no_serious_accessibility_problems(page)


def test_the_search_page_is_usable_on_a_tablet(browser, site: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 820, "height": 1180}, has_touch=True)
    tablet = context.new_page()
    sign_in(tablet, site, "viewer")
    tablet.goto(site + SEARCH)
    expect(tablet.locator(".result").first).to_be_visible()
    expect(tablet.locator("#map")).to_be_visible()
    box = tablet.locator("#map").bounding_box()
    assert box and box["width"] > 300
    screenshot(tablet, "search-tablet")
    context.close()


# What only the data could have put in a page: the templates and scripts make none of these.
INJECTED = "b, img[src='x'], [onerror], [class^='x-'], iframe, object, embed, script:not([src]):not([type])"


def nothing_injected(page: Page) -> None:
    """No element came from the data, every link leads to a web page, and no script of the data ran."""
    assert page.locator(INJECTED).count() == 0
    assert page.locator("script[type]:not([type='application/json'])").count() == 0
    protocols = page.evaluate("Array.from(document.querySelectorAll('a[href]'), a => a.protocol)")
    assert set(protocols) <= {"http:", "https:"}
    assert page.evaluate("window.pwned === undefined")


def test_imported_markup_is_text_on_the_service_page_in_search_and_popups_and_on_the_handout(
        page: Page, site: str) -> None:
    refused: list[str] = []  # the CSP would stop inline script: it must never have had to
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    name, service_path = hostile.hostile("name"), "/services/" + quote(hostile.SERVICE_ID, safe="")
    sign_in(page, site, "viewer")

    page.goto(site + service_path)
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator("dd", has_text="javascript:")).to_have_text(hostile.JAVASCRIPT_URL)
    expect(page.locator("dd", has_text="x-address_1")).to_contain_text(hostile.hostile("address_1"))
    nothing_injected(page)
    screenshot(page, "hostile-service")

    page.goto(site + f"/?lat={hostile.LATITUDE}&lon={hostile.LONGITUDE}&need={hostile.NEED}&walk=10")
    entry = page.locator(".result .name", has_text="x-name")
    expect(entry).to_have_text(name)
    assert unquote(entry.get_attribute("href") or "") == "/services/" + hostile.SERVICE_ID
    number = entry.locator("xpath=ancestor::li").get_attribute("data-number")
    numbered = page.locator(".map-number", has_text=re.compile(rf"^{number}$"))
    marker = page.locator("#map .map-number-wrap", has=numbered)
    marker.focus()  # by keyboard: other markers may lie on top of it
    page.keyboard.press("Enter")
    popup = page.locator(".leaflet-popup-content")
    expect(popup.locator("strong")).to_have_text(f"{number}. {name}")
    expect(popup).to_contain_text(hostile.hostile("location"))
    nothing_injected(page)
    screenshot(page, "hostile-search")

    page.goto(site + "/handout?id=" + quote(hostile.SERVICE_ID, safe="") + "&id=hostile-link-data")
    expect(page.locator(".handout h2").first).to_contain_text(name)
    expect(page.locator(".handout dd", has_text="data:")).to_have_text(hostile.BAD_URLS["data"])
    expect(page.locator("#handout-map .map-number")).to_have_count(2)
    nothing_injected(page)
    assert refused == []
