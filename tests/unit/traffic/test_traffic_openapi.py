"""The OpenAPI description of the traffic API matches what the API really answers."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from traffic.errors import ForeignOwner, IfMatchRequired, InvalidTraffic, RevertConflict, StaleVersion, WriteFailed

pytestmark = pytest.mark.django_db
URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"
SCHEMA_PATH = "/api/v1/namespaces/{namespace}/services/{service}/traffic"


@pytest.fixture
def openapi(settings) -> dict:
    settings.ANONYMOUS_READ = True
    return Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()


def _properties(openapi: dict, name: str) -> set[str]:
    return set(openapi["components"]["schemas"][name]["properties"])


def test_every_field_the_schema_describes_is_in_the_real_answers(openapi, operator):
    # given a change made through the API
    written = operator.generic("PATCH", URL, json.dumps({"weights": {"v1": 100}}), content_type="application/json")
    # when the state, the change list and the config overview are read
    state = operator.get(URL).json()
    changes = operator.get("/api/v1/changes").json()
    config = operator.get("/api/v1/istio-config?namespace=bookinfo").json()
    # then each answer has exactly the described fields (no undocumented field, none missing)
    assert written.status_code == 200
    assert set(written.json()) == _properties(openapi, "TrafficWrite")
    assert set(state) == _properties(openapi, "TrafficState")
    assert set(changes["changes"][0]) == _properties(openapi, "Change")
    assert set(config) == _properties(openapi, "IstioConfig")
    assert set(config["resources"][0]) == _properties(openapi, "IstioConfigEntry")


def test_the_patch_body_fields_are_the_fields_meshui_changes(openapi):
    # given the fields the model accepts
    from traffic.specs import PATCH_FIELDS

    # then the documented request body names exactly those
    assert _properties(openapi, "PatchedTrafficPatch") == set(PATCH_FIELDS)


def test_writes_document_their_parameters_and_every_error_status(openapi):
    # given the PATCH operation
    operation = openapi["paths"][SCHEMA_PATH]["patch"]
    # then If-Match, dry_run and force are described, the answer's ETag too
    assert {(p["name"], p["in"]) for p in operation["parameters"]} >= {
        ("If-Match", "header"), ("dry_run", "query"), ("force", "query")}  # fmt: skip
    assert "ETag" in operation["responses"]["200"]["headers"]
    # and every status a write can answer, including each traffic error's own
    statuses = {int(code) for code in operation["responses"]}
    own = {StaleVersion.status, IfMatchRequired.status, ForeignOwner.status, InvalidTraffic.status, WriteFailed.status}
    assert own | {200, 401, 403, 415, 503} <= statuses
    assert set(operation["requestBody"]["content"]) == {"application/json", "application/merge-patch+json"}
    revert = openapi["paths"]["/api/v1/changes/{change_id}/revert"]["post"]
    assert {RevertConflict.status, 404} <= {int(code) for code in revert["responses"]}
