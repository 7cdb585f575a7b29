"""The traffic API on the local backend, through Django's test client."""

from __future__ import annotations

import json

import pytest

from traffic.models import LocalResource, TrafficChange

URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"
pytestmark = pytest.mark.django_db


def patch(client, body, url=URL, content_type="application/json", **headers):
    return client.generic("PATCH", url, json.dumps(body), content_type=content_type, headers=headers)


def test_get_of_a_service_without_routing_lists_the_versions_telemetry_saw(operator):
    # when
    response = operator.get(URL)
    # then
    body = response.json()
    assert response.status_code == 200
    assert response.headers["ETag"] == '"0"'
    assert body["host"] == "reviews.bookinfo.svc.cluster.local"
    assert body["subsets"] == [{"name": n, "labels": {"version": n}} for n in ("v1", "v2", "v3")]
    assert (body["weights"], body["routes"], body["owner"], body["resources"]) == ({}, [], "none", [])
    assert (body["from_cache"], type(body["sync_age_s"]), body["synced_at"][-6:]) == (False, float, "+00:00")


def test_patch_weights_writes_the_destination_rule_and_virtual_service_and_records_the_change(operator):
    # when
    response = patch(operator, {"weights": {"v1": 90, "v3": 10}}, **{"If-Match": '"0"'})
    # then
    body = response.json()
    assert response.status_code == 200, body
    assert response.headers["ETag"] == '"1"'
    assert body["weights"] == {"v1": 90, "v3": 10}
    assert body["owner"] == "meshui"
    assert body["writes"] == ["create DestinationRule bookinfo/reviews", "create VirtualService bookinfo/reviews"]
    vs = LocalResource.objects.get(kind="VirtualService").body
    assert vs["spec"]["http"] == [{"route": [
        {"destination": {"host": "reviews.bookinfo.svc.cluster.local", "subset": "v1"}, "weight": 90},
        {"destination": {"host": "reviews.bookinfo.svc.cluster.local", "subset": "v3"}, "weight": 10},
    ]}]  # fmt: skip
    dr = LocalResource.objects.get(kind="DestinationRule").body
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v1", "v3"]
    change = TrafficChange.objects.get()
    assert (change.actor, change.auth_method, change.summary) == ("olivia", "session", "weights: none → v1 90, v3 10")
    assert body["validations"] == []


def test_a_stale_if_match_is_412_and_writes_nothing(operator):
    # given
    patch(operator, {"weights": {"v1": 100}})
    # when
    response = patch(operator, {"weights": {"v2": 100}}, **{"If-Match": '"0"'})
    # then
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "stale_version"
    assert TrafficChange.objects.count() == 1


def test_if_match_is_checked_before_the_body(operator):
    # given
    patch(operator, {"weights": {"v1": 100}})
    # when
    response = patch(operator, {"weights": {"v1": 50}}, **{"If-Match": '"0"'})
    # then
    assert response.status_code == 412


@pytest.mark.parametrize("header", ["garbage", '"unterminated', '""', 'W/garbage', '"a b"'])
def test_an_if_match_that_is_not_a_version_is_400_naming_the_header(operator, header):
    # given a routing that exists
    patch(operator, {"weights": {"v1": 100}})
    # when a write sends an If-Match that is no entity tag
    response = patch(operator, {"weights": {"v2": 100}}, **{"If-Match": header})
    # then it is told the header is malformed, not that the version is stale
    message = f'{header!r} is not a version: send it quoted, as the ETag of a GET, e.g. "3"'
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_parameter",
        "message": message,
        "field": "If-Match",
        "details": {"fields": {"If-Match": [message]}},
    }
    assert TrafficChange.objects.count() == 1


def test_a_weak_if_match_of_the_current_version_is_accepted(operator):
    # given
    etag = patch(operator, {"weights": {"v1": 100}}).headers["ETag"]
    # when
    response = patch(operator, {"weights": {"v2": 100}}, **{"If-Match": f"W/{etag}"})
    # then
    assert response.status_code == 200


def test_if_match_required_gives_428(operator, settings):
    # given
    settings.MESHUI_REQUIRE_IF_MATCH = True
    # when
    response = patch(operator, {"weights": {"v1": 100}})
    # then
    assert response.status_code == 428
    assert LocalResource.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weights": {"v1": 60, "v2": 30}}, "weights"),
        ({"weights": {"v9": 100}}, "weights.v9"),
        ({"weights": {"v1": 100.5}}, "weights.v1"),
        ({"weights": {"v1": 100}, "fault": {"abort": {"http_status": 600, "percent": 10}}}, "fault.abort.http_status"),
        ({"weights": {"v1": 100}, "fault": {"abort": {"http_status": 500, "percent": 101}}}, "fault.abort.percent"),
        ({"weights": {"v1": 100}, "timeout": "-1s"}, "timeout"),
        ({"weights": {"v1": 100}, "timeout": "2h"}, "timeout"),
        (
            {
                "weights": {"v1": 100},
                "routes": [{"match": [{"headers": {"X-Group": {"exact": "t"}}}], "weights": {"v2": 100}}],
            },
            "routes[0].match[0].headers",
        ),
        ({"weights": {"v1": 100}, "retries": {"attempts": -1}}, "retries.attempts"),
        ({"color": "blue"}, "color"),
        ([1, 2], "body"),
    ],
)
def test_invalid_changes_are_400_naming_the_field(operator, body, field):
    # when
    response = patch(operator, body)
    # then
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["field"] == field
    assert LocalResource.objects.count() == 0


def test_a_body_over_64_kb_is_400(operator):
    # when
    response = patch(operator, {"weights": {"v1": 100}, "pad": "x" * 70000})
    # then
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "body"


@pytest.mark.parametrize("size", [1024 * 1024, 3_000_000, 10 * 1024 * 1024])
def test_a_body_of_megabytes_is_400_naming_the_body(operator, size):
    # given a JSON body of 1 MiB, 3 MB (past Django's DATA_UPLOAD_MAX_MEMORY_SIZE) or 10 MiB
    body = b'{"pad": "' + b"x" * (size - 11) + b'"}'
    # when
    response = operator.generic("PATCH", URL, body, content_type="application/json")
    # then
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid_traffic", "message": "the body is larger than 65536 bytes", "field": "body"}
    }
    assert LocalResource.objects.count() == 0


def test_a_body_of_1000_nested_arrays_is_400_naming_the_body(operator):
    # when
    response = operator.generic("PATCH", URL, "[" * 1000 + "]" * 1000, content_type="application/json")
    # then
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_traffic",
            "message": "the body is not JSON: JSON parse error - JSON nested deeper than 64 levels",
            "field": "body",
        }
    }


def test_merge_patch_content_type_is_accepted_and_text_plain_is_415(operator):
    # when
    merged = patch(operator, {"weights": {"v2": 100}}, content_type="application/merge-patch+json")
    text = operator.generic("PATCH", URL, "weights", content_type="text/plain")
    # then
    assert merged.status_code == 200
    assert text.status_code == 415


def test_dry_run_returns_the_would_be_state_and_a_diff_and_writes_nothing(operator):
    # when
    response = operator.generic("PATCH", URL + "?dry_run=true", json.dumps({"weights": {"v1": 80, "v2": 20}}),
                                content_type="application/json")  # fmt: skip
    # then
    body = response.json()
    assert response.status_code == 200
    assert body["dry_run"] is True
    assert body["weights"] == {"v1": 80, "v2": 20}
    assert "+      weight: 80\n" in body["diff"]
    assert [r["kind"] for r in body["resources"]] == ["VirtualService", "DestinationRule"]
    assert (LocalResource.objects.count(), TrafficChange.objects.count()) == (0, 0)


def test_header_route_fault_timeout_retries_and_circuit_breaker_round_trip(operator):
    # given
    change = {
        "weights": {"v1": 80, "v2": 20},
        "routes": [{"match": [{"headers": {"x-group": {"exact": "test"}}}], "weights": {"v3": 100}}],
        "fault": {"abort": {"http_status": 500, "percent": 20.0}, "delay": None},
        "timeout": "2s",
        "retries": {"attempts": 3, "per_try_timeout": "2s", "retry_on": "5xx"},
        "circuit_breaker": {"max_connections": 100, "consecutive_5xx_errors": 5, "interval": "10s"},
    }
    # when
    patch(operator, change)
    body = operator.get(URL).json()
    # then
    assert {key: body[key] for key in change} == change
    assert [s["name"] for s in body["subsets"]] == ["v3", "v1", "v2"]


def test_delete_removes_meshui_routing_vs_first_when_subsets_go(operator):
    # given
    patch(operator, {"weights": {"v1": 50, "v2": 50}})
    # when
    response = operator.delete(URL)
    # then
    assert response.status_code == 200
    assert response.json()["writes"] == [
        "delete VirtualService bookinfo/reviews",
        "delete DestinationRule bookinfo/reviews",
    ]
    assert LocalResource.objects.count() == 0
    assert TrafficChange.objects.first().operation == "delete"


def test_changes_list_newest_first_and_revert_restores_the_before(operator):
    # given
    patch(operator, {"weights": {"v1": 100}})
    patch(operator, {"weights": {"v1": 50, "v2": 50}})
    latest = TrafficChange.objects.first()
    # when
    listed = operator.get("/api/v1/changes?namespace=bookinfo&service=reviews").json()["changes"]
    reverted = operator.post(f"/api/v1/changes/{latest.pk}/revert")
    # then
    assert [c["summary"] for c in listed] == ["weights: v1 100 → v1 50, v2 50", "weights: none → v1 100"]
    assert reverted.status_code == 200, reverted.json()
    assert reverted.json()["weights"] == {"v1": 100}
    assert TrafficChange.objects.first().reverts_id == latest.pk
    assert operator.get(URL).json()["weights"] == {"v1": 100}


def test_changes_since_a_time_are_those_applied_from_then_on(operator):
    # given two changes of reviews
    patch(operator, {"weights": {"v1": 100}})
    patch(operator, {"weights": {"v1": 50, "v2": 50}})
    second, first = TrafficChange.objects.all()[:2]
    # when the changes since each one's time are listed
    since_second = operator.get("/api/v1/changes", {"since": second.created_at.timestamp()}).json()["changes"]
    since_first = operator.get("/api/v1/changes", {"since": first.created_at.timestamp()}).json()["changes"]
    later = operator.get("/api/v1/changes", {"since": second.created_at.timestamp() + 1}).json()["changes"]
    # then each list starts at that time
    assert [c["id"] for c in since_second] == [second.pk]
    assert [c["id"] for c in since_first] == [second.pk, first.pk]
    assert later == []


@pytest.mark.parametrize("since", ["yesterday", "-1", "nan", "4102444801"])
def test_a_bad_since_is_400_naming_it(operator, since):
    response = operator.get("/api/v1/changes", {"since": since})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "since"


def test_revert_after_a_later_change_is_409_with_the_diff(operator):
    # given
    patch(operator, {"weights": {"v1": 100}})
    first = TrafficChange.objects.get()
    patch(operator, {"weights": {"v2": 100}})
    # when
    response = operator.post(f"/api/v1/changes/{first.pk}/revert")
    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "revert_conflict"
    assert "subset: v2" in response.json()["error"]["details"]["diff"]
    assert TrafficChange.objects.count() == 2


def _flagger_vs() -> dict:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "bookinfo", "ownerReferences": [
                {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "reviews", "uid": "1",
                 "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]}}  # fmt: skip


def test_foreign_owner_is_409_unless_an_admin_forces(operator, admin):
    # given
    LocalResource.objects.create(namespace="bookinfo", kind="VirtualService", name="reviews", body=_flagger_vs())
    # when
    refused = patch(operator, {"timeout": "3s"})
    forced_by_operator = operator.generic("PATCH", URL + "?force=true", json.dumps({"timeout": "3s"}),
                                          content_type="application/json")  # fmt: skip
    forced = admin.generic("PATCH", URL + "?force=true", json.dumps({"timeout": "3s"}), content_type="application/json")
    # then
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "foreign_owner"
    assert forced_by_operator.status_code == 403
    assert forced.status_code == 200, forced.json()
    body = LocalResource.objects.get(kind="VirtualService").body
    assert body["spec"]["http"][0] == {"route": [{"destination": {"host": "reviews"}}], "timeout": "3s"}
    assert body["metadata"]["ownerReferences"][0]["kind"] == "Canary"


def test_hand_written_routes_and_fields_survive_a_weight_change(operator):
    # given
    hand = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews-routes", "namespace": "bookinfo", "labels": {"team": "books"},
                         "annotations": {"note": "hand"}},
            "spec": {"hosts": ["reviews"], "http": [
                {"name": "canary", "match": [{"uri": {"prefix": "/beta"}}], "rewrite": {"uri": "/"},
                 "route": [{"destination": {"host": "reviews", "subset": "v3"}}]},
                {"route": [{"destination": {"host": "reviews", "subset": "v1"}}], "corsPolicy": {"allowOrigins": [
                    {"exact": "https://a.example"}]}}]}}  # fmt: skip
    rule = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "reviews", "namespace": "bookinfo"},
        "spec": {"host": "reviews", "subsets": [{"name": n, "labels": {"version": n}} for n in ("v1", "v2", "v3")]},
    }
    LocalResource.objects.create(namespace="bookinfo", kind="VirtualService", name="reviews-routes", body=hand)
    LocalResource.objects.create(namespace="bookinfo", kind="DestinationRule", name="reviews", body=rule)
    # when
    response = patch(operator, {"weights": {"v1": 70, "v2": 30}})
    # then
    assert response.status_code == 200, response.json()
    assert response.json()["owner"] == "unmanaged"
    body = LocalResource.objects.get(kind="VirtualService").body
    assert body["metadata"] == hand["metadata"]
    assert body["spec"]["http"][0] == hand["spec"]["http"][0]
    assert body["spec"]["http"][1] == {
        "route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 70},
                  {"destination": {"host": "reviews", "subset": "v2"}, "weight": 30}],
        "corsPolicy": {"allowOrigins": [{"exact": "https://a.example"}]},
    }  # fmt: skip
    assert LocalResource.objects.get(kind="DestinationRule").body == rule


def test_istio_config_lists_resources_with_their_validations(operator):
    # given
    LocalResource.objects.create(namespace="bookinfo", kind="VirtualService", name="ratings", body={
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "ratings", "namespace": "bookinfo"},
        "spec": {"hosts": ["ratings"], "http": [{"route": [{"destination": {"host": "ratings", "subset": "v9"}}]}]},
    })  # fmt: skip
    # when
    response = operator.get("/api/v1/istio-config?namespace=bookinfo")
    # then
    resources = response.json()["resources"]
    assert [(r["kind"], r["name"]) for r in resources] == [("VirtualService", "ratings")]
    assert sorted(response.json()) == ["backend", "from_cache", "resources", "sync_age_s", "synced_at"]
    assert response.json()["from_cache"] is False
    assert [(v["code"], v["path"]) for v in resources[0]["validations"]] == [
        ("subset_not_found", "spec/http[0]/route[0]/destination")
    ]


def test_change_summaries_are_written_in_words(operator):
    # given a header route, a fault, retries and a circuit breaker written one after the other
    patch(operator, {"routes": [{"match": [{"headers": {"x-group": {"exact": "test"}}, "uri": {"prefix": "/api"}}],
                                 "weights": {"v3": 100}}]})  # fmt: skip
    patch(operator, {"fault": {"abort": {"http_status": 503, "percent": 10}}, "retries": {"attempts": 3,
                     "per_try_timeout": "2s"}, "circuit_breaker": {"consecutive_5xx_errors": 5}})  # fmt: skip
    # then /changes says what they do, not their JSON
    summaries = [c.summary for c in TrafficChange.objects.order_by("pk")]
    assert summaries[0] == "routes: none → header x-group = test and uri starts with /api → v3 100"
    assert summaries[1] == ("fault: none → abort 503 for 10%; retries: none → 3 attempts, 2s each; "
                            "circuit breaker: none → consecutive 5xx errors 5")  # fmt: skip
    assert "{" not in "".join(summaries)
