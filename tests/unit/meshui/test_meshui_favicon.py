"""Every page names meshui's icon, and /favicon.ico leads to it (no 404 in the browser's console)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_pages_link_the_icon_and_favicon_ico_redirects_to_it():
    page = Client().get("/login/")
    assert b'rel="icon" type="image/svg+xml" href="/static/img/favicon.svg"' in page.content
    answer = Client().get("/favicon.ico")
    assert answer.status_code == 301
    assert answer["Location"] == "/static/img/favicon.svg"
