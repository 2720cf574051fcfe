"""The search page, the shortlist and the handout as a CLW uses them in an appointment, in a real
browser over all the real data (every Scottish postcode, council areas, Give Food's food banks,
ALISS, the demo): `scotland_site`, with map tiles off."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_pages import no_serious_accessibility_problems

PARKHEAD = "/?postcode=G31+4EB&need=loneliness&need=money&reach=walk-30"
PT_14 = 14 * 96 / 72  # CSS pixels


def ready(page: Page) -> None:
    page.wait_for_selector("html[data-ready=true]", state="attached")


def shortlisted(page: Page) -> list[str]:
    return page.locator("#shortlist-items input[name=id]").evaluate_all("boxes => boxes.map(b => b.value)")


def add_results(page: Page, count: int) -> list[str]:
    toggles = page.locator(".shortlist-toggle[aria-pressed=false]")
    ids = []
    for _ in range(count):
        button = toggles.first
        ids.append(button.get_attribute("data-id") or "")
        button.click()
    return ids


def open_handout(page: Page, site: str, ids: list[str]) -> None:
    """The handout of these services, as the shortlist's button opens it, in this tab."""
    page.goto(site + "/handout?" + "&".join(f"id={i}" for i in ids))
    ready(page)


def empty_spot(page: Page) -> tuple[float, float]:
    """A point on the map away from the markers and controls: the top right corner."""
    box = page.locator("#map").bounding_box()
    assert box
    return box["x"] + box["width"] - 60, box["y"] + 60


def test_a_map_click_keeps_the_form_and_the_shortlist_and_only_search_here_searches(
        page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + PARKHEAD)
    ready(page)
    first = add_results(page, 1)
    page.check("input[name=need][value=bereavement]")  # changed, not yet searched: must not be lost
    asked = page.url
    x, y = empty_spot(page)

    page.mouse.click(x, y)
    here = page.locator(".leaflet-popup .search-here button", has_text="Search here")
    expect(here).to_be_visible()
    assert page.url == asked
    expect(page.locator("#postcode")).to_have_value("G31 4EB")

    page.mouse.click(x - 200, y + 150)  # closing the popup by clicking the map does nothing else
    expect(page.locator(".leaflet-popup")).to_have_count(0)
    assert page.url == asked
    expect(page.locator("#postcode")).to_have_value("G31 4EB")
    expect(page.locator("input[name=need][value=bereavement]")).to_be_checked()

    page.locator("#map .map-number-wrap").first.click()  # a marker's popup, closed by the map: no search
    expect(page.locator(".leaflet-popup")).to_have_count(1)
    page.mouse.click(x, y)
    expect(page.locator(".leaflet-popup")).to_have_count(0)
    assert page.url == asked
    screenshot(page, "search-map-click")

    page.mouse.click(x, y)
    # The popup opens focused on its button (keyboard users press Enter); a pointer click could
    # land on the map while Leaflet pans the popup into view from the corner, on a busy machine.
    expect(here).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    sent = parse_qs(urlparse(page.url).query)
    assert sorted(sent["need"]) == ["bereavement", "loneliness", "money"]
    assert sent["reach"] == ["walk-30"]
    assert sent.get("postcode", [""]) == [""] and sent["lat"] and sent["lon"]
    expect(page.locator("#postcode")).to_have_value("")
    assert shortlisted(page) == first


def test_the_shortlist_survives_searches_and_a_reload_and_ends_with_the_appointment(
        page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + PARKHEAD)
    ready(page)
    ids = add_results(page, 2)
    page.goto(scotland_site + "/?postcode=G31+4EB&need=food")
    ready(page)
    expect(page.locator(f".shortlist-toggle[data-id='{ids[0]}']")).to_have_attribute("aria-pressed", "true")
    ids += add_results(page, 1)
    page.goto(scotland_site + "/?postcode=DD1+1DB&need=food&reach=drive-30")
    ready(page)
    assert shortlisted(page) == ids
    page.reload()
    ready(page)
    assert shortlisted(page) == ids
    expect(page.locator("#print-handout")).to_have_text("Print a handout (3)")
    screenshot(page, "search-shortlist")
    no_serious_accessibility_problems(page)
    # By keyboard: remove one, then end the appointment.
    page.locator(".shortlist-remove").first.focus()
    page.keyboard.press("Enter")
    assert shortlisted(page) == ids[1:]
    page.locator("#shortlist-clear").focus()
    page.keyboard.press("Enter")
    assert shortlisted(page) == []
    expect(page.locator("#shortlist-empty")).to_be_visible()
    assert page.evaluate("window.sessionStorage.length") == 0


def _print_handout(page: Page) -> Page:
    with page.context.expect_page() as opened:
        page.click("#print-handout")
    handout = opened.value
    ready(handout)
    return handout


def test_five_shortlisted_services_make_a_one_page_large_print_handout_of_the_clws_choice(
        page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + PARKHEAD)
    ready(page)
    ids = add_results(page, 5)

    handout = _print_handout(page)
    assert handout.locator(".handout .item").evaluate_all("items => items.map(i => i.dataset.id)") == ids
    expect(handout.locator("#handout-map .map-number")).to_have_count(5)
    expect(handout.locator("#fit")).to_have_text("This handout fits one A4 page.")
    text = handout.locator(".handout").inner_text()
    assert "G31 4EB" not in text and "G31+4EB" not in handout.url and "loneliness" not in handout.url
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}\b", text), "dates and times in plain words"
    screenshot(handout, "handout-five")
    no_serious_accessibility_problems(handout)
    handout.emulate_media(media="print")
    sizes = handout.evaluate("""() => {
        const size = s => parseFloat(getComputedStyle(document.querySelector(s)).fontSize);
        return {body: Math.min(...['.handout .intro', '.handout dd', '.handout .description', '.handout figcaption']
                               .map(size)), heading: size('.handout .item h2'), title: size('.handout h1')};
    }""")
    assert sizes["body"] >= PT_14 - 0.01, sizes
    assert sizes["heading"] > sizes["body"] and sizes["title"] > sizes["heading"], sizes
    screenshot(handout, "handout-five-print")
    pdf = handout.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    handout.close()

    left_out = ids[2]
    page.locator(f"#shortlist-items input[value='{left_out}']").uncheck()  # the CLW's choice
    handout = _print_handout(page)
    shown = handout.locator(".handout .item").evaluate_all("items => items.map(i => i.dataset.id)")
    assert shown == [i for i in ids if i != left_out]
    handout.close()


def test_a_handout_too_long_for_one_page_says_so_and_what_to_remove(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + PARKHEAD)
    ready(page)
    ids = add_results(page, 9)
    open_handout(page, scotland_site, ids)
    expect(page.locator(".handout .item")).to_have_count(9)  # every one: nothing dropped silently
    fit = page.locator("#fit")
    expect(fit).to_contain_text("does not fit one A4 page")
    expect(fit).to_contain_text("Remove one service")
    screenshot(page, "handout-too-long")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) > 1  # it said so truthfully
    page.emulate_media(media="print")
    expect(fit).to_be_hidden()  # said on screen, not printed


def test_the_handout_map_shows_the_areas_outline_with_tiles_off(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + PARKHEAD)
    ready(page)
    ids = add_results(page, 3)
    open_handout(page, scotland_site, ids)
    expect(page.locator("#handout-map img.leaflet-tile")).to_have_count(0)  # no tiles at all
    expect(page.locator("#handout-map svg path")).not_to_have_count(0)  # Glasgow City's outline
    expect(page.locator("#handout-map .map-number")).to_have_count(3)
    expect(page.locator(".handout figcaption")).to_contain_text("Glasgow City")
    page.locator(".handout-figure").screenshot(path=str(screenshot(page, "handout-map-no-tiles")))


def test_the_reach_select_sends_a_30_minute_drive_and_an_old_walk_link_still_works(
        page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + "/?postcode=DD1+1DB&need=food")
    expect(page.locator("#reach")).to_have_value("")  # automatic: the library chooses, and says why
    page.select_option("#reach", "drive-30")
    with page.expect_navigation():
        page.click("#search-form button[type=submit]")
    assert parse_qs(urlparse(page.url).query)["reach"] == ["drive-30"]
    expect(page.locator("#reach")).to_have_value("drive-30")
    expect(page.locator("#reach option:checked")).to_have_text("30-minute drive (estimate)")
    expect(page.locator(".result .freshness").first).not_to_be_empty()
    page.goto(scotland_site + "/?postcode=G31+4EB&need=food&walk=20")
    expect(page.locator("#reach")).to_have_value("walk-20")
    response = page.goto(scotland_site + "/?postcode=G31+4EB&need=food&reach=teleport-5")
    assert response is not None and response.status == 400
    expect(page.locator(".error")).to_contain_text("teleport-5")


def test_the_trussell_trust_food_bank_says_referral_needed_on_the_handout(page: Page, scotland_site: str) -> None:
    """Needs the search library's how_to_get_in (the search branch of issue 15)."""
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + "/?postcode=DD1+1DB&need=food&reach=drive-30")
    ready(page)
    page.locator(".result", has=page.locator(".name", has_text="Dundee & Angus")).locator(
        ".shortlist-toggle").first.click()
    handout = _print_handout(page)
    item = handout.locator(".handout .item", has_text="Dundee & Angus")
    expect(item.locator(".how")).to_contain_text("Referral needed")
    expect(handout.locator(".intro")).not_to_contain_text("just go along")


def _names(page: Page, section: str = "") -> list[str]:
    """The result names in order, in the first list or under the heading ``section``."""
    if section:
        lists = page.locator("h3", has_text=section).locator("xpath=following-sibling::ol[1]")
    else:
        lists = page.locator("ol.result-list").first
    return lists.locator(".result .name").all_inner_texts()


def test_dundee_and_lewis_offer_their_real_food_banks_nearest_first(page: Page, scotland_site: str) -> None:
    """Issue 15 saw "Parkhead Food bank (demo), 102.7 km away" for Dundee and 282 km for Lewis."""
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + "/?postcode=DD1+1DB&need=food")
    ready(page)
    expect(page.locator(".message")).to_contain_text("The nearest is Dundee & Angus, 3.2 km away")
    assert _names(page, "Nearest beyond the limit")[0] == "Dundee & Angus"
    assert not any("(demo)" in name for name in _names(page, "Nearest beyond the limit"))
    page.goto(scotland_site + "/?postcode=HS2+9AB&need=food")
    ready(page)
    expect(page.locator(".reach-why")).to_contain_text("HS2 9AB is rural")
    expect(page.locator(".reach-why")).to_contain_text("30-minute drive")
    assert _names(page)[0] == "Eilean Siar"
    expect(page.locator(".result").first).to_contain_text("9.1 km, about 18 min drive (estimate)")
    screenshot(page, "search-lewis-rural")


def test_a_rural_search_finds_within_a_30_minute_drive_what_a_walk_does_not(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + "/?postcode=HS2+9AB&need=food&reach=walk-30")
    ready(page)
    expect(page.locator(".message")).to_contain_text("Nothing for food insecurity within 1.8 km")
    wider = page.locator(".wider a", has_text="30-minute drive")
    expect(wider).to_be_visible()
    wider.click()  # search wider: the same search, further
    ready(page)
    assert parse_qs(urlparse(page.url).query)["reach"] == ["drive-30"]
    assert parse_qs(urlparse(page.url).query)["need"] == ["food"]
    assert _names(page)[0] == "Eilean Siar"


def test_a_typed_phrase_with_an_unknown_word_still_searches(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + "/")
    page.fill("#postcode", "G31 4EB")
    page.fill("#more_needs", "widowed, skint, benifits, football")
    with page.expect_navigation():
        page.click("#search-form button[type=submit]")
    ready(page)
    expect(page.locator(".error")).to_have_count(0)
    words = page.locator(".words")
    expect(words.first).to_contain_text("widowed: bereavement")
    expect(words.first).to_contain_text("skint: money")
    expect(words.nth(1)).to_contain_text("football")  # searched for in names and descriptions
    expect(page.locator(".result .tag", has_text="matches your words").first).to_be_visible()
    assert page.locator(".result").count() >= 3
    screenshot(page, "search-words")
    no_serious_accessibility_problems(page)


def test_a_problem_reported_from_a_search_result_appears_in_the_review_queue(page: Page, scotland_site: str) -> None:
    sign_in(page, scotland_site, "viewer")
    page.goto(scotland_site + "/?postcode=DD1+1DB&need=food&reach=drive-30")
    ready(page)
    card = page.locator(".result", has=page.locator(".name", has_text="Dundee & Angus")).first
    card.locator("summary", has_text="Report a problem").click()
    card.locator("input[name=reason][value=wrong-times]").check()
    card.locator("textarea[name=note]").fill("Now open Thursdays only")
    with page.expect_navigation():
        card.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("Thank you")
    assert "postcode=DD1" in page.url  # back to the same search, shortlist and all
    page.context.clear_cookies()
    sign_in(page, scotland_site, "editor")
    page.goto(scotland_site + "/review")
    # Other tests report problems on the same server: find this one by its service.
    first = page.locator(".reported-service", has=page.locator("h2", has_text="Dundee & Angus"))
    expect(first).to_have_count(1)
    expect(first).to_contain_text("Now open Thursdays only")
    expect(first).to_contain_text("viewer@example.org")
