"""The admin in a real browser: Chromium asks for /favicon.ico (the admin's pages name no icon) and gets it, so the
console of an admin page shows no error (a 404 there was logged on every admin page)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_an_admin_page_loads_in_chromium_without_a_console_error(live_server, browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(f"{live_server.url}/admin/login/")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)  # the icon is asked for after the page's own resources
    assert not errors, errors
    page.close()
