"""An editor compares two records of one food bank side by side and keeps one, in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from assetmap.accounts import create_user
from assetmap.db import connect, init_database
from assetmap.io.assets import import_assets
from tests.browser.conftest import PASSWORD, screenshot, sign_in
from tests.browser.test_pages import no_serious_accessibility_problems
from tests.serving import serving
from tests.test_duplicates import GIVE_FOOD, OTHER, other_directory, write_page


@pytest.fixture
def two_records(tmp_path: Path, opendata: Path) -> Iterator[tuple[str, str]]:
    """A server over Give Food's food banks and another directory's record of "Glasgow NE"."""
    url = f"sqlite:///{tmp_path / 'assetmap.sqlite'}"
    engine = connect(url)
    init_database(engine)
    import_assets(engine, opendata / GIVE_FOOD)
    import_assets(engine, write_page(tmp_path / "other.json", [other_directory()]), source=OTHER)
    create_user(engine, "editor@example.org", "Test editor", PASSWORD, "editor")
    engine.dispose()
    with serving(url, tmp_path, env={"ASSETMAP_PUBLIC_SEARCH": ""}) as (base, _server):
        yield base, other_directory()["id"]


def test_an_editor_compares_the_two_records_and_keeps_one(page: Page, two_records: tuple[str, str]) -> None:
    base, other = two_records
    sign_in(page, base, "editor")
    page.goto(base + "/review")
    page.get_by_role("link", name="Possible duplicates").click()
    expect(page.get_by_role("heading", name="1. Glasgow NE and Glasgow North East Foodbank")).to_be_visible()
    row = page.get_by_role("row", name="Came from")
    expect(row).to_contain_text("Give Food")
    expect(row).to_contain_text(OTHER)
    expect(page.get_by_role("row", name="Phone")).to_contain_text("07951 749363")
    no_serious_accessibility_problems(page)
    page.set_viewport_size({"width": 1366, "height": 1000})
    print("screenshot:", screenshot(page, "duplicates"))
    # The other directory's record is kept: the one search hid until now.
    page.get_by_role("button", name="Same service: keep this one (Glasgow North East Foodbank)").click()
    expect(page.get_by_text("Marked as the same service")).to_be_visible()
    expect(page.get_by_text("Nothing to review")).to_be_visible()
    page.goto(f"{base}/services/{other}")
    expect(page.get_by_text("Also listed in Give Food")).to_be_visible()
    screenshot(page, "duplicates-kept")
