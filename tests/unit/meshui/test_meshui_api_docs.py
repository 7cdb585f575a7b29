"""The API documentation works air-gapped: the schema validates and Swagger UI loads nothing from outside."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_names_the_graph_endpoints(settings):
    # given anonymous read (as in the demo)
    settings.ANONYMOUS_READ = True
    # when
    response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    # then
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/graph", "/api/v1/namespaces"} <= set(paths)


def test_swagger_ui_references_only_this_server(settings):
    # given
    settings.ANONYMOUS_READ = True
    # when
    page = Client().get("/api/docs/").content.decode()
    # then every script and stylesheet is a local path
    urls = re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r'(?:url|src)\s*[:=]\s*"(https?://[^"]+)"', page)
    assert urls
    assert [url for url in urls if url.startswith(("http://", "https://", "//"))] == []
