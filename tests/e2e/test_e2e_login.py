"""Signing in through the browser against the real server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import VIEWER, screenshot

pytestmark = pytest.mark.e2e


def test_login_page_renders(meshui_server, page: Page):
    # when an anonymous visitor opens the login page
    response = page.goto(f"{meshui_server.url}/login/")
    # then the page, its form and the product header are there
    assert response is not None
    assert response.status == 200
    expect(page).to_have_title("Sign in · meshui")
    expect(page.locator(".site-header .brand")).to_have_text("meshui")
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.locator("link[rel=stylesheet]")).to_have_attribute("href", "/static/css/meshui.css")
    screenshot(page, "login")


def test_home_redirects_anonymous_visitors_to_login(meshui_server, page: Page):
    page.goto(f"{meshui_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


def test_wrong_password_shows_an_error(meshui_server, page: Page):
    # given the login page
    page.goto(f"{meshui_server.url}/login/")
    # when a wrong password is submitted
    page.get_by_label("Username").fill(VIEWER[0])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    # then the page says so and nobody is signed in
    expect(page.get_by_test_id("login-error")).to_contain_text("Please enter a correct username and password")
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    screenshot(page, "login-wrong-password")


def test_viewer_signs_in_reaches_home_and_signs_out(meshui_server, page: Page):
    # given the login page reached from the home page
    page.goto(f"{meshui_server.url}/")
    # when the viewer signs in
    page.get_by_label("Username").fill(VIEWER[0])
    page.get_by_label("Password").fill(VIEWER[1])
    page.get_by_test_id("login-submit").click()
    # then the home page greets them with their role
    expect(page).to_have_url(f"{meshui_server.url}/")
    expect(page.get_by_test_id("user-name")).to_have_text(VIEWER[0])
    expect(page.get_by_test_id("user-role")).to_have_text("viewer")
    expect(page.locator("h1")).to_have_text("Mesh overview")
    screenshot(page, "home-viewer")
    # and signing out brings back the login page
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(f"{meshui_server.url}/login/")
    expect(page.get_by_test_id("user-name")).to_have_count(0)
