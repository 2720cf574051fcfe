"""An admin runs the accounts in a real browser: add, reset, sign the person in, remove."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_pages import no_serious_accessibility_problems


def test_an_admin_adds_an_account_resets_it_and_the_person_signs_in_with_what_was_shown(
        page: Page, browser: Browser, site: str) -> None:
    sign_in(page, site, "admin")
    page.click("text=Accounts")
    no_serious_accessibility_problems(page)
    page.fill("#new-email", "new.clw@example.org")
    page.fill("#new-name", "New CLW")
    page.select_option("#new-role", "viewer")
    page.click("button:has-text('Add the account')")
    expect(page.locator("h1")).to_have_text("Account added")
    first = page.locator(".password code").inner_text()

    page.goto(f"{site}/accounts")
    screenshot(page, "accounts")
    page.click("button[aria-label='Reset password new.clw@example.org']")
    expect(page.locator("h1")).to_contain_text("Reset the password of new.clw@example.org?")
    page.click("button:has-text('Reset the password')")
    password = page.locator(".password code").inner_text()
    assert password != first and len(password) >= 10

    person = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    person.goto(f"{site}/login")
    person.fill("#email", "new.clw@example.org")
    person.fill("#password", first)
    person.click("button[type=submit].primary")
    expect(person.locator(".error")).to_contain_text("do not match")  # the old one no longer works
    person.fill("#email", "new.clw@example.org")
    person.fill("#password", password)
    person.click("button[type=submit].primary")
    person.goto(f"{site}/account")
    expect(person.locator("main")).to_contain_text("Signed in as new.clw@example.org (viewer)")
    no_serious_accessibility_problems(person)

    page.goto(f"{site}/accounts")
    page.click("button[aria-label='Remove new.clw@example.org']")
    expect(page.locator("main")).to_contain_text("This cannot be undone")
    page.click("button:has-text('Remove the account')")
    expect(page.locator(".flash")).to_contain_text("new.clw@example.org is removed")
    person.goto(f"{site}/account")
    assert "/login" in person.url  # their session ended with the account
    person.context.close()
