"""The traffic API on the kubernetes backend, against the loopback API server, through the real client.

Every test talks HTTP to ``tests.support.fake_kube_apiserver`` with the official ``kubernetes``
client configured from a kubeconfig file (``MESHUI_KUBECONFIG``), as a deployment would.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.fake_kube_apiserver import FakeKubeApiServer, closed_port, hanging_listener, kubeconfig
from tests.support.fixtures import SHARED_FIXTURES
from tests.unit.traffic.kube_fixtures import TIMEOUT_S, raw_api
from traffic.backends import get_backend
from traffic.backends import kubernetes as kubernetes_backend  # also registers the backend by name
from traffic.errors import InvalidTraffic, StaleVersion
from traffic.models import TrafficChange
from traffic.render import Write

URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"
FIXTURES = SHARED_FIXTURES / "kubernetes"
# Allowed slack over the configured timeout for a down or hanging API server (client set-up, one snapshot).
MARGIN_S = 2.0
# The read cache's TTL in the tests about it: longer than any test, expiry is shown by moving its clock.
CACHE_TTL_S = 60.0
GROUP = "networking.istio.io"
pytestmark = pytest.mark.django_db


@pytest.fixture
def cached(kube, settings):
    """``kube`` with the read cache on."""
    settings.MESHUI_KUBE_CACHE_TTL_S = CACHE_TTL_S
    return kube


def patch(client_, body, url=URL, **headers):
    return client_.generic("PATCH", url, json.dumps(body), content_type="application/json", headers=headers)


def _error_bodies() -> dict[str, dict]:
    cases = json.loads((FIXTURES / "status" / "istio_crd_error_bodies.json").read_text())["cases"]
    return {case["id"]: case for case in cases}


def _vs(name: str = "reviews", weight: object = 100, api: str = "networking.istio.io/v1") -> dict:
    return {"apiVersion": api, "kind": "VirtualService", "metadata": {"name": name, "namespace": "bookinfo"},
            "spec": {"hosts": ["reviews"], "http": [{"route": [
                {"destination": {"host": "reviews", "subset": "v1"}, "weight": weight}]}]}}  # fmt: skip


def _dr(subsets: tuple[str, ...] = ("v1",)) -> dict:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "reviews", "namespace": "bookinfo"},
        "spec": {"host": "reviews", "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]},
    }


def _lists(server: FakeKubeApiServer) -> list[str]:
    """The paths of the LIST requests the server received, in order."""
    return [path for method, path, _ in server.requests
            if method == "GET" and path.endswith(("/virtualservices", "/destinationrules"))]  # fmt: skip


def _kubectl_edit_timeout(api: client.CustomObjectsApi, timeout: str) -> None:
    """What ``kubectl edit`` does to the VirtualService: GET, change, PUT with the resourceVersion read."""
    vs = api.get_namespaced_custom_object(GROUP, "v1", "bookinfo", "virtualservices", "reviews", _request_timeout=5)
    vs["spec"]["http"][0]["timeout"] = timeout
    api.replace_namespaced_custom_object(GROUP, "v1", "bookinfo", "virtualservices", "reviews", vs,
                                         field_manager="kubectl-edit", _request_timeout=5)  # fmt: skip


def _version_on_the_server(api: client.CustomObjectsApi) -> str:
    """The version of bookinfo/reviews computed from the server's own lists (no meshui read)."""
    items = []
    for plural in ("virtualservices", "destinationrules"):
        items += api.list_namespaced_custom_object(GROUP, "v1", "bookinfo", plural, _request_timeout=5)["items"]
    return kubernetes_backend.service_version(items, "bookinfo", "reviews")


def _after_the_ttl(monkeypatch) -> None:
    later = time.monotonic() + CACHE_TTL_S + 1
    monkeypatch.setattr(kubernetes_backend.READ_CACHE, "clock", lambda: later)


def _written(server: FakeKubeApiServer) -> dict:
    """What the cluster holds, as the routing sees it: spec and labels of each object."""
    return {key: (obj["spec"], obj["metadata"].get("labels")) for key, obj in server.objects.items()}


# --- the traffic API on this backend ----------------------------------------------------------


def test_patch_weights_creates_the_destination_rule_then_the_virtual_service_as_field_manager_meshui(kube, operator):
    # given an empty cluster
    etag = operator.get(URL).headers["ETag"]
    # when
    response = patch(operator, {"weights": {"v1": 90, "v3": 10}}, **{"If-Match": etag})
    # then
    body = response.json()
    assert response.status_code == 200, body
    assert body["writes"] == ["create DestinationRule bookinfo/reviews", "create VirtualService bookinfo/reviews"]
    posts = [path for method, path, _ in kube.requests if method == "POST"]
    assert posts == ["/apis/networking.istio.io/v1/namespaces/bookinfo/destinationrules",
                     "/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices"]  # fmt: skip
    vs = kube.get_object("virtualservices", "bookinfo", "reviews")
    assert [r["weight"] for r in vs["spec"]["http"][0]["route"]] == [90, 10]
    assert [e["manager"] for e in vs["metadata"]["managedFields"]] == ["meshui"]
    assert response.headers["ETag"] != etag
    assert operator.get(URL).headers["ETag"] == response.headers["ETag"]
    assert TrafficChange.objects.get().version_after == body["version"]


def test_a_weight_shift_updates_with_the_resource_version_read(kube, operator):
    # given
    patch(operator, {"weights": {"v1": 100}})
    before = kube.get_object("virtualservices", "bookinfo", "reviews")["metadata"]["resourceVersion"]
    # when
    response = patch(operator, {"weights": {"v1": 50, "v2": 50}})
    # then
    assert response.status_code == 200, response.json()
    vs = kube.get_object("virtualservices", "bookinfo", "reviews")
    assert [r["weight"] for r in vs["spec"]["http"][0]["route"]] == [50, 50]
    assert int(vs["metadata"]["resourceVersion"]) > int(before)
    assert vs["metadata"]["generation"] == 2


def test_a_stale_if_match_is_412_and_writes_nothing(kube, operator):
    # given
    stale = operator.get(URL).headers["ETag"]
    patch(operator, {"weights": {"v1": 100}})
    version = kube.resource_version
    # when
    response = patch(operator, {"weights": {"v2": 100}}, **{"If-Match": stale})
    # then
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "stale_version"
    assert kube.resource_version == version


def test_dry_run_returns_the_would_be_state_and_writes_nothing(kube, operator):
    # when
    response = operator.generic("PATCH", URL + "?dry_run=true", json.dumps({"weights": {"v1": 80, "v2": 20}}),
                                content_type="application/json")  # fmt: skip
    # then
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert response.json()["weights"] == {"v1": 80, "v2": 20}
    assert (kube.objects, TrafficChange.objects.count()) == ({}, 0)


def test_revert_restores_the_before_in_the_cluster(kube, operator):
    # given
    patch(operator, {"weights": {"v1": 100}})
    patch(operator, {"weights": {"v1": 50, "v2": 50}})
    latest = TrafficChange.objects.first()
    # when
    reverted = operator.post(f"/api/v1/changes/{latest.pk}/revert")
    # then
    assert reverted.status_code == 200, reverted.json()
    vs = kube.get_object("virtualservices", "bookinfo", "reviews")
    assert vs["spec"]["http"][0]["route"] == [{"destination": {"host": "reviews.bookinfo.svc.cluster.local",
                                                               "subset": "v1"}}]  # fmt: skip
    assert operator.get(URL).json()["weights"] == {"v1": 100}


def test_delete_removes_the_virtual_service_before_the_destination_rule(kube, operator):
    # given
    patch(operator, {"weights": {"v1": 50, "v2": 50}})
    # when
    response = operator.delete(URL)
    # then
    assert response.status_code == 200, response.json()
    deletes = [path.rsplit("/", 2)[-2] for method, path, _ in kube.requests if method == "DELETE"]
    assert deletes == ["virtualservices", "destinationrules"]
    assert kube.objects == {}


def test_flagger_owned_virtual_service_from_the_real_object_is_409_unless_an_admin_forces(kube, operator, admin):
    # given Flagger's generated apex VirtualService (v1beta1, ownerReferences → Canary)
    documents = yaml.safe_load_all((FIXTURES / "controllers" / "flagger_faq_istio_generated.yaml").read_text())
    flagger_vs = next(d for d in documents if d and d["kind"] == "VirtualService" and d["metadata"]["name"] ==
                      "frontend" and d["metadata"].get("ownerReferences"))  # fmt: skip
    kube.put_object(flagger_vs, manager="flagger")
    url = "/api/v1/namespaces/test/services/frontend/traffic"
    # when
    refused = patch(operator, {"timeout": "3s"}, url=url)
    forced = admin.generic("PATCH", url + "?force=true", json.dumps({"timeout": "3s"}), content_type="application/json")
    # then
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"owner": "flagger"}
    assert forced.status_code == 200, forced.json()
    stored = kube.get_object("virtualservices", "test", "frontend")
    assert stored["metadata"]["ownerReferences"][0]["kind"] == "Canary"
    assert stored["spec"]["http"][-1] == {"route": [{"destination": {"host": "frontend"}}], "timeout": "3s"}
    # written back at v1, the version it was read at (the server converts: one storage, same schema)
    puts = [path for method, path, _ in kube.requests if method == "PUT"]
    assert puts == ["/apis/networking.istio.io/v1/namespaces/test/virtualservices/frontend"]


def test_a_virtual_service_written_by_rollouts_controller_is_argo_owned(kube, operator):
    # given the API server recorded Argo Rollouts' controller as a field manager of the VS
    kube.put_object(_vs(api="networking.istio.io/v1alpha3"), manager="rollouts-controller")
    # when
    read = operator.get(URL).json()
    refused = patch(operator, {"timeout": "3s"})
    # then
    assert read["owner"] == "argo-rollouts"
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"owner": "argo-rollouts"}


def test_objects_stored_at_older_versions_are_listed(kube):
    # given Argo's getting-started VirtualService, written at v1alpha3
    argo = yaml.safe_load((FIXTURES / "controllers" / "argo_rollouts_getting_started_virtualsvc.yaml").read_text())
    argo["metadata"]["namespace"] = "bookinfo"
    kube.put_object(argo)
    # when
    listed = get_backend().list_resources("bookinfo")
    # then
    assert [(r["apiVersion"], r["metadata"]["name"]) for r in listed] == [
        ("networking.istio.io/v1", "rollouts-demo-vsvc")
    ]


def test_an_istio_without_v1_is_read_and_written_at_v1beta1(kube, operator):
    # given an API server whose Istio CRDs serve only v1beta1 and v1alpha3
    kube.versions = ("v1beta1", "v1alpha3")
    # when
    response = patch(operator, {"weights": {"v1": 100}})
    # then
    assert response.status_code == 200, response.json()
    lists = [path for method, path, _ in kube.requests if method == "GET"]
    assert lists[:3] == ["/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices",
                         "/apis/networking.istio.io/v1beta1/namespaces/bookinfo/virtualservices",
                         "/apis/networking.istio.io/v1beta1/namespaces/bookinfo/destinationrules"]  # fmt: skip
    posts = [path for method, path, _ in kube.requests if method == "POST"]
    assert posts == ["/apis/networking.istio.io/v1beta1/namespaces/bookinfo/destinationrules",
                     "/apis/networking.istio.io/v1beta1/namespaces/bookinfo/virtualservices"]  # fmt: skip


# --- error mapping ----------------------------------------------------------------------------


def test_rbac_refusing_the_first_write_is_403_naming_the_permission_and_writes_nothing(kube, operator):
    # given
    kube.deny("create", "destinationrules")
    # when
    response = patch(operator, {"weights": {"v1": 100}})
    # then
    error = response.json()["error"]
    assert response.status_code == 403
    assert error["code"] == "kubernetes_forbidden"
    assert (error["details"]["verb"], error["details"]["resource"], error["details"]["namespace"]) == (
        "create",
        "destinationrules",
        "bookinfo",
    )
    assert 'User "system:serviceaccount:meshui:meshui" cannot create' in error["message"]
    assert (kube.objects, TrafficChange.objects.count()) == ({}, 0)


def test_a_refused_second_write_is_compensated_and_reported(kube, operator):
    # given RBAC lets meshui create DestinationRules but not VirtualServices
    kube.deny("create", "virtualservices")
    # when
    response = patch(operator, {"weights": {"v1": 100}})
    # then the DestinationRule created first was deleted again: nothing is left half-written
    error = response.json()["error"]
    assert response.status_code == 403
    assert error["details"]["applied"] == ["create DestinationRule bookinfo/reviews"]
    assert error["details"]["failed"] == "create VirtualService bookinfo/reviews"
    assert (error["details"]["compensated"], error["details"]["undone"]) == (
        True,
        ["create DestinationRule bookinfo/reviews"],
    )
    assert kube.objects == {}
    undo = [(method, query.get("dryRun")) for method, path, query in kube.requests if method == "DELETE"]
    assert undo == [("DELETE", None)]
    assert TrafficChange.objects.count() == 0


def test_a_refused_second_delete_recreates_the_deleted_virtual_service(kube, operator):
    # given meshui routing, and RBAC that lets meshui delete VirtualServices but not DestinationRules
    patch(operator, {"weights": {"v1": 50, "v2": 50}})
    before = kube.get_object("virtualservices", "bookinfo", "reviews")
    kube.deny("delete", "destinationrules")
    # when
    response = operator.delete(URL)
    # then the VirtualService deleted first is back with the same spec and labels
    error = response.json()["error"]
    assert response.status_code == 403
    assert (error["details"]["applied"], error["details"]["compensated"]) == (
        ["delete VirtualService bookinfo/reviews"],
        True,
    )
    after = kube.get_object("virtualservices", "bookinfo", "reviews")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert kube.get_object("destinationrules", "bookinfo", "reviews") is not None
    assert TrafficChange.objects.count() == 1


def test_a_second_write_failing_and_its_undo_failing_is_502_naming_each_step(kube, operator):
    # given
    kube.deny("create", "virtualservices")
    kube.deny("delete", "destinationrules")
    # when
    response = patch(operator, {"weights": {"v1": 100}})
    # then
    error = response.json()["error"]
    assert response.status_code == 502
    assert error["code"] == "backend_write_failed"
    assert (error["details"]["applied"], error["details"]["failed"], error["details"]["compensated"]) == (
        ["create DestinationRule bookinfo/reviews"],
        "create VirtualService bookinfo/reviews",
        False,
    )
    assert [f["step"] for f in error["details"]["undo_failures"]] == ["create DestinationRule bookinfo/reviews"]
    assert error["details"]["cause"] == "kubernetes_forbidden"


def test_an_update_updated_elsewhere_between_read_and_write_is_412_and_the_first_step_is_rolled_back(kube):
    # given a service with a DestinationRule and a VirtualService, and a write that updates both
    kube.put_object(_dr(("v1",)))
    kube.put_object(_vs())
    backend = get_backend()
    snapshot = backend.snapshot("bookinfo", "reviews")
    dr = next(r for r in snapshot.resources if r["kind"] == "DestinationRule")
    vs = next(r for r in snapshot.resources if r["kind"] == "VirtualService")
    new_dr = {
        **dr,
        "spec": {
            "host": "reviews",
            "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}],
        },
    }
    new_vs = {**vs, "spec": {**vs["spec"], "http": [{"route": [
        {"destination": {"host": "reviews", "subset": "v2"}, "weight": 100}]}]}}  # fmt: skip
    writes = [Write("DestinationRule", "bookinfo", "reviews", new_dr, dr),
              Write("VirtualService", "bookinfo", "reviews", new_vs, vs)]  # fmt: skip
    # and another client edits the VirtualService once meshui has written the DestinationRule
    edited = {}

    def other_writer(method: str, path: str) -> None:
        if method == "PUT" and path.endswith("/virtualservices/reviews") and not edited:
            current = kube.get_object("virtualservices", "bookinfo", "reviews")
            current["spec"]["http"][0]["timeout"] = "9s"
            edited["vs"] = kube.replace_object("virtualservices", current, manager="kubectl-edit")

    kube.before_handling = other_writer
    # when
    with pytest.raises(StaleVersion) as raised:
        backend.apply("bookinfo", "reviews", writes, snapshot.version, lambda version: version)
    # then the server's optimistic lock refused the stale PUT, the DR update was undone
    assert raised.value.details["applied"] == ["update DestinationRule bookinfo/reviews"]
    assert raised.value.details["compensated"] is True
    stored_dr = kube.get_object("destinationrules", "bookinfo", "reviews")
    assert stored_dr["spec"] == dr["spec"]
    assert kube.get_object("virtualservices", "bookinfo", "reviews")["spec"]["http"][0]["timeout"] == "9s"
    assert raised.value.details["version"] == backend.snapshot("bookinfo", "reviews").version
    assert raised.value.details["current"]["timeout"] == "9s"


def test_a_schema_error_from_the_api_server_is_400_with_its_causes(kube):
    # given a write the API server's CRD schema refuses (meshui's own validation is bypassed here)
    backend = get_backend()
    snapshot = backend.snapshot("bookinfo", "reviews")
    write = Write("VirtualService", "bookinfo", "reviews", _vs(weight="string"), None)
    # when
    with pytest.raises(InvalidTraffic) as raised:
        backend.apply("bookinfo", "reviews", [write], snapshot.version, lambda version: version)
    # then
    assert raised.value.status == 400
    assert raised.value.field == "VirtualService/reviews/spec.http[0].route[0].weight"
    message = 'Invalid value: "string": spec.http[0].route[0].weight in body must be of type integer: "string"'
    assert raised.value.details["causes"] == [
        {"reason": "FieldValueTypeInvalid", "field": "spec.http[0].route[0].weight", "message": message}
    ]
    assert kube.objects == {}


def test_check_writes_is_a_server_side_dry_run_that_persists_nothing(kube):
    # given
    backend = get_backend()
    good = Write("VirtualService", "bookinfo", "reviews", _vs(), None)
    bad = Write("VirtualService", "bookinfo", "reviews", _vs(weight="string"), None)
    # when
    backend.check_writes([good])
    with pytest.raises(InvalidTraffic) as raised:
        backend.check_writes([bad])
    # then
    assert [query.get("dryRun") for method, _, query in kube.requests if method == "POST"] == [["All"], ["All"]]
    assert raised.value.details["causes"][0]["field"] == "spec.http[0].route[0].weight"
    assert kube.objects == {}


def test_impersonation_makes_the_cluster_judge_the_signed_in_user(kube, operator, settings):
    # given
    settings.MESHUI_KUBE_IMPERSONATE = True
    kube.deny("create", "destinationrules")
    # when
    response = patch(operator, {"weights": {"v1": 100}})
    # then
    assert response.status_code == 403
    assert 'User "olivia" cannot create resource "destinationrules"' in response.json()["error"]["message"]


def test_api_server_down_is_503_kubernetes_unavailable_within_the_timeout(kube, operator, settings, tmp_path):
    # given a kubeconfig pointing at a closed port
    settings.MESHUI_KUBECONFIG = str(kubeconfig(f"http://127.0.0.1:{closed_port()}", tmp_path / "down"))
    # when
    started = time.monotonic()
    response = patch(operator, {"weights": {"v1": 100}})
    elapsed = time.monotonic() - started
    # then
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "kubernetes_unavailable"
    assert elapsed < TIMEOUT_S + MARGIN_S


def test_api_server_hanging_is_503_kubernetes_unavailable_within_the_timeout(kube, operator, settings, tmp_path):
    # given a server that accepts connections and never answers
    listener = hanging_listener()
    try:
        port = listener.getsockname()[1]
        settings.MESHUI_KUBECONFIG = str(kubeconfig(f"http://127.0.0.1:{port}", tmp_path / "hang"))
        # when
        started = time.monotonic()
        response = operator.get(URL)
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    # then
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "kubernetes_unavailable"
    assert elapsed < TIMEOUT_S + MARGIN_S


def test_an_unreadable_kubeconfig_is_503_kubernetes_unavailable(kube, operator, settings, tmp_path):
    # given
    settings.MESHUI_KUBECONFIG = str(tmp_path / "missing-kubeconfig")
    # when
    response = operator.get(URL)
    # then
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "kubernetes_unavailable"


# --- the API server failing mid-change --------------------------------------------------------


def test_a_second_write_that_hangs_is_503_within_the_timeout_and_the_first_is_undone(kube, operator):
    # given an empty cluster whose API server never answers meshui's second write
    kube.break_writes(2, "hang")
    # when
    started = time.monotonic()
    response = patch(operator, {"weights": {"v1": 100}})
    elapsed = time.monotonic() - started
    # then the DestinationRule created first was deleted again, guarded by its own resourceVersion
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (503, "kubernetes_unavailable")
    assert elapsed < TIMEOUT_S + MARGIN_S
    assert (error["details"]["applied"], error["details"]["failed"]) == (
        ["create DestinationRule bookinfo/reviews"], "create VirtualService bookinfo/reviews")  # fmt: skip
    assert error["details"]["undone"] == ["create DestinationRule bookinfo/reviews"]
    assert error["details"]["compensated"] is True
    assert kube.objects == {}
    assert TrafficChange.objects.count() == 0


def test_a_second_write_applied_before_the_server_hung_is_undone_too(kube, operator):
    # given a server that stores meshui's second write and then never answers it
    kube.break_writes(2, "hang", after_persisting=True)
    # when
    started = time.monotonic()
    response = patch(operator, {"weights": {"v1": 100}})
    elapsed = time.monotonic() - started
    # then meshui listed again, found its VirtualService and deleted it before the DestinationRule
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (503, "kubernetes_unavailable")
    assert elapsed < TIMEOUT_S + MARGIN_S
    assert (error["details"]["compensated"], error["details"]["undone"]) == (
        True, ["create VirtualService bookinfo/reviews", "create DestinationRule bookinfo/reviews"])  # fmt: skip
    deletes = [path.rsplit("/", 2)[-2] for method, path, _ in kube.requests if method == "DELETE"]
    assert deletes == ["virtualservices", "destinationrules"]
    assert kube.objects == {}


@pytest.mark.parametrize("answer", [500, 503])
def test_a_second_write_answered_5xx_is_503_and_the_cluster_holds_the_objects_as_before(kube, operator, answer):
    # given a DestinationRule and a VirtualService, and a server failing meshui's second write
    kube.put_object(_dr(("v1",)))
    kube.put_object(_vs())
    before = _written(kube)
    vs_version = kube.get_object("virtualservices", "bookinfo", "reviews")["metadata"]["resourceVersion"]
    kube.break_writes(2, answer)
    # when the change updates the rule (gaining v2), then the VirtualService
    response = patch(operator, {"weights": {"v1": 50, "v2": 50}})
    # then the rule was put back with the resourceVersion its update returned; the VirtualService is untouched
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (503, "kubernetes_unavailable")
    assert error["details"]["status_code"] == answer
    assert (error["details"]["applied"], error["details"]["undone"]) == (
        ["update DestinationRule bookinfo/reviews"], ["update DestinationRule bookinfo/reviews"])  # fmt: skip
    assert _written(kube) == before
    assert kube.get_object("virtualservices", "bookinfo", "reviews")["metadata"]["resourceVersion"] == vs_version


def test_an_undo_that_hangs_too_is_502_naming_each_step_within_one_timeout_per_request(kube, operator):
    # given a server that stops answering writes from meshui's second one on (the undo included)
    kube.break_writes(2, "hang", count=2)
    # when
    started = time.monotonic()
    response = patch(operator, {"weights": {"v1": 100}})
    elapsed = time.monotonic() - started
    # then: one timeout for the failed step, one for the undo
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (502, "backend_write_failed")
    assert elapsed < 2 * TIMEOUT_S + MARGIN_S
    assert (error["details"]["applied"], error["details"]["failed"]) == (
        ["create DestinationRule bookinfo/reviews"], "create VirtualService bookinfo/reviews")  # fmt: skip
    assert error["details"]["compensated"] is False
    assert [f["step"] for f in error["details"]["undo_failures"]] == ["create DestinationRule bookinfo/reviews"]
    assert error["details"]["cause"] == "kubernetes_unavailable"
    assert list(kube.objects) == [("destinationrules", "bookinfo", "reviews")]


def test_a_failed_undo_leaves_the_older_steps_so_no_route_names_a_removed_subset(kube, operator):
    # given meshui's routing to v1, and a shift to v2: rule with v1+v2, VirtualService to v2, rule with v2
    patch(operator, {"weights": {"v1": 100}})
    kube.break_writes(5, 503, count=2)  # the third step, then the undo of the second
    # when
    response = patch(operator, {"weights": {"v2": 100}})
    # then the undo stopped at the second step: the rule keeps v1 and v2, under a VirtualService to v2
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (502, "backend_write_failed")
    assert error["details"]["applied"] == ["update DestinationRule bookinfo/reviews",
                                           "update VirtualService bookinfo/reviews"]  # fmt: skip
    assert (error["details"]["undone"], [f["step"] for f in error["details"]["undo_failures"]]) == (
        [], ["update VirtualService bookinfo/reviews"])  # fmt: skip
    dr = kube.get_object("destinationrules", "bookinfo", "reviews")
    vs = kube.get_object("virtualservices", "bookinfo", "reviews")
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v2", "v1"]
    assert [r["destination"]["subset"] for r in vs["spec"]["http"][0]["route"]] == ["v2"]


def test_a_step_whose_outcome_cannot_be_learned_undoes_nothing_older_and_is_502(kube, operator):
    # given a server that never answers meshui's second write, and then refuses meshui to list
    kube.break_writes(2, "hang")

    def refuse_lists_once_writes_hang(method: str, path: str) -> None:
        if method == "POST" and path.endswith("/virtualservices"):
            kube.deny("list", "virtualservices")

    kube.before_handling = refuse_lists_once_writes_hang
    # when
    response = patch(operator, {"weights": {"v1": 100}})
    # then the DestinationRule stays: the VirtualService might be there and need it
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (502, "backend_write_failed")
    assert [f["step"] for f in error["details"]["undo_failures"]] == ["create VirtualService bookinfo/reviews"]
    assert error["details"]["undo_failures"][0]["reason"].startswith("unknown whether it was applied: ")
    assert error["details"]["undone"] == []
    assert list(kube.objects) == [("destinationrules", "bookinfo", "reviews")]


# --- the read cache ---------------------------------------------------------------------------


def test_a_second_get_within_the_ttl_lists_nothing_and_says_how_old_its_data_is(cached, operator):
    # given
    cached.put_object(_vs())
    first = operator.get(URL)
    lists = _lists(cached)
    time.sleep(0.01)
    # when
    second = operator.get(URL)
    # then
    assert _lists(cached) == lists == ["/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices",
                                       "/apis/networking.istio.io/v1/namespaces/bookinfo/destinationrules"]  # fmt: skip
    assert (first.json()["from_cache"], second.json()["from_cache"]) == (False, True)
    assert second.json()["synced_at"] == first.json()["synced_at"]
    assert second.json()["sync_age_s"] > first.json()["sync_age_s"]
    assert second.headers["ETag"] == first.headers["ETag"]


def test_after_the_ttl_a_get_lists_again(cached, operator, monkeypatch):
    # given
    operator.get(URL)
    # when
    _after_the_ttl(monkeypatch)
    response = operator.get(URL)
    # then
    assert len(_lists(cached)) == 4
    assert response.json()["from_cache"] is False


def test_ttl_zero_lists_on_every_read(cached, operator, settings):
    # given
    settings.MESHUI_KUBE_CACHE_TTL_S = 0
    # when
    bodies = [operator.get(URL).json() for _ in range(2)]
    # then
    assert len(_lists(cached)) == 4
    assert [b["from_cache"] for b in bodies] == [False, False]


def test_a_write_through_meshui_is_visible_to_the_next_get_at_once(cached, operator):
    # given a cached read of the service and of all namespaces
    operator.get(URL)
    operator.get("/api/v1/istio-config")
    # when
    written = patch(operator, {"weights": {"v1": 90, "v2": 10}})
    read = operator.get(URL)
    config = operator.get("/api/v1/istio-config").json()
    # then
    assert written.status_code == 200, written.json()
    assert (read.json()["weights"], read.json()["from_cache"]) == ({"v1": 90, "v2": 10}, False)
    assert read.headers["ETag"] == written.headers["ETag"]
    assert ([(r["kind"], r["name"]) for r in config["resources"]], config["from_cache"]) == (
        [("VirtualService", "reviews"), ("DestinationRule", "reviews")], False)  # fmt: skip


def test_a_kubectl_edit_shows_once_the_ttl_has_passed(cached, operator, tmp_path, monkeypatch):
    # given a cached read
    cached.put_object(_vs())
    operator.get(URL)
    # when another client edits the VirtualService
    _kubectl_edit_timeout(raw_api(cached, tmp_path), "7s")
    within = operator.get(URL).json()
    _after_the_ttl(monkeypatch)
    after = operator.get(URL).json()
    # then
    assert (within["timeout"], within["from_cache"]) == (None, True)
    assert (after["timeout"], after["from_cache"]) == ("7s", False)


def test_a_patch_with_the_cached_version_of_an_edited_service_is_412_and_writes_nothing(cached, operator, tmp_path):
    # given a cached read, then a kubectl edit the cache does not know of yet
    cached.put_object(_vs())
    stale = operator.get(URL).headers["ETag"]
    api = raw_api(cached, tmp_path)
    _kubectl_edit_timeout(api, "7s")
    version = cached.resource_version
    # when
    response = patch(operator, {"timeout": "3s"}, **{"If-Match": stale})
    # then nothing was written, and the next read shows the version the refusal named
    assert (response.status_code, response.json()["error"]["code"]) == (412, "stale_version")
    assert cached.resource_version == version
    assert TrafficChange.objects.count() == 0
    assert operator.get(URL).headers["ETag"] == f'"{_version_on_the_server(api)}"'


def test_a_patch_with_the_version_read_from_the_server_is_not_refused_because_of_the_cache(cached, operator,
                                                                                           tmp_path):  # fmt: skip
    # given a cached read, then a kubectl edit; the caller reads the version from the server itself
    cached.put_object(_dr(("v1",)))
    cached.put_object(_vs())
    operator.get(URL)
    api = raw_api(cached, tmp_path)
    _kubectl_edit_timeout(api, "7s")
    fresh = _version_on_the_server(api)
    # when
    response = patch(operator, {"retries": {"attempts": 2}}, **{"If-Match": f'"{fresh}"'})
    # then
    assert response.status_code == 200, response.json()
    vs = cached.get_object("virtualservices", "bookinfo", "reviews")
    assert (vs["spec"]["http"][0]["timeout"], vs["spec"]["http"][0]["retries"]) == ("7s", {"attempts": 2})


def test_concurrent_reads_of_a_namespace_cost_one_list_per_kind(cached):
    # given a first LIST slow enough for the other readers to arrive while it runs
    cached.put_object(_vs())
    held: list[str] = []

    def slow_first_list(method: str, path: str) -> None:
        if method == "GET" and path.endswith("/virtualservices") and not held:
            held.append(path)
            time.sleep(0.3)

    cached.before_handling = slow_first_list
    # when
    with ThreadPoolExecutor(max_workers=8) as pool:
        snapshots = list(pool.map(lambda _: get_backend().snapshot("bookinfo", "reviews"), range(8)))
    # then
    assert sorted(_lists(cached)) == ["/apis/networking.istio.io/v1/namespaces/bookinfo/destinationrules",
                                      "/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices"]  # fmt: skip
    assert {(s.version, len(s.resources)) for s in snapshots} == {(snapshots[0].version, 1)}


def test_fresh_reads_go_to_the_server_and_refresh_the_cache(cached):
    # given a cached read, then a kubectl-style edit
    backend = get_backend()
    backend.snapshot("bookinfo", "reviews")
    stored = cached.put_object(_vs())
    # when
    fresh = backend.snapshot("bookinfo", "reviews", fresh=True)
    reread = backend.snapshot("bookinfo", "reviews")
    # then
    assert len(_lists(cached)) == 4
    assert ([r["metadata"]["resourceVersion"] for r in fresh.resources], fresh.from_cache) == (
        [stored["metadata"]["resourceVersion"]], False)  # fmt: skip
    assert (reread.version, reread.from_cache) == (fresh.version, True)


def test_reads_made_for_a_user_are_neither_answered_from_nor_kept_in_the_cache(cached):
    # given a read cached for meshui's own identity
    get_backend().snapshot("bookinfo", "reviews")
    cached.put_object(_vs())
    backend = get_backend()
    backend.impersonate = "olivia"
    # when
    mine = [backend.snapshot("bookinfo", "reviews") for _ in range(2)]
    shared = get_backend().snapshot("bookinfo", "reviews")
    # then
    assert len(_lists(cached)) == 6
    assert [(len(s.resources), s.from_cache) for s in mine] == [(1, False), (1, False)]
    assert (len(shared.resources), shared.from_cache) == (0, True)


def test_the_cached_objects_are_copies_nobody_can_change_in_place(cached):
    # given
    cached.put_object(_vs())
    first = get_backend().snapshot("bookinfo", "reviews")
    # when
    first.resources[0]["spec"]["hosts"] = ["changed"]
    second = get_backend().snapshot("bookinfo", "reviews")
    # then
    assert (second.resources[0]["spec"]["hosts"], second.from_cache) == (["reviews"], True)


def test_the_istio_config_page_says_how_old_a_cached_list_is(cached, operator, django_user_model):
    # given a signed-in operator whose first visit read the lists
    operator.force_login(django_user_model.objects.get(username="olivia"))
    first = operator.get("/istio-config?namespace=bookinfo").content.decode()
    # when
    second = operator.get("/istio-config?namespace=bookinfo").content.decode()
    # then
    assert ('data-testid="config-synced"' in first, 'data-testid="config-synced"' in second) == (False, True)
    assert "Last synced " in second
    assert len(_lists(cached)) == 2


# --- freshness on every backend ---------------------------------------------------------------


@pytest.fixture(params=["local", "gitops", "kubernetes"])
def any_backend(request, settings, tmp_path):
    """meshui on each backend; kubernetes without its read cache (every read is live)."""
    if request.param == "kubernetes":
        request.getfixturevalue("kube")
    elif request.param == "gitops":
        (tmp_path / "gitops").mkdir()
        settings.MESHUI_MESH_BACKEND = "gitops"
        settings.MESHUI_GITOPS_DIR = str(tmp_path / "gitops")
        settings.DATA_DIR = tmp_path / "data"
    return request.param


def _millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_every_answer_says_when_its_data_was_read(any_backend, operator):
    # given
    before = _millisecond(datetime.now(UTC))
    # when
    answers = [operator.get(URL).json(), patch(operator, {"weights": {"v1": 100}}).json(),
               operator.get("/api/v1/istio-config?namespace=bookinfo").json()]  # fmt: skip
    answers.append(operator.post(f"/api/v1/changes/{TrafficChange.objects.get().pk}/revert").json())
    answers.append(operator.delete(URL).json())
    after = datetime.now(UTC)
    # then
    assert [a.get("error") for a in answers] == [None] * 5
    for answer in answers:
        assert answer["from_cache"] is False
        assert before <= datetime.fromisoformat(answer["synced_at"]) <= after
        assert answer["synced_at"].endswith("+00:00")
        assert isinstance(answer["sync_age_s"], float)
        assert 0.0 <= answer["sync_age_s"] <= (after - before).total_seconds()


# --- concurrency ------------------------------------------------------------------------------


def test_twenty_four_threads_applying_on_one_version_have_exactly_one_winner(kube):
    # given
    kube.put_object(_dr(("v1", "v2")))
    kube.put_object(_vs())
    version = get_backend().snapshot("bookinfo", "reviews").version

    def attempt(weight: int) -> str:
        backend = get_backend()
        vs = next(r for r in backend.snapshot("bookinfo", "reviews").resources if r["kind"] == "VirtualService")
        body = {**vs, "spec": {**vs["spec"], "http": [{"route": [
            {"destination": {"host": "reviews", "subset": "v1"}, "weight": weight}]}]}}  # fmt: skip
        try:
            return backend.apply("bookinfo", "reviews", [Write("VirtualService", "bookinfo", "reviews", body, vs)],
                                 version, lambda new: "won")  # fmt: skip
        except StaleVersion:
            return "stale"

    # when
    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = list(pool.map(attempt, range(1, 25)))
    # then
    assert outcomes.count("won") == 1
    assert outcomes.count("stale") == 23


def test_the_fake_api_server_lets_one_of_twenty_four_same_resource_version_puts_win(kube, tmp_path):
    # given
    stored = kube.put_object(_vs())
    api = raw_api(kube, tmp_path)

    def put(weight: int) -> int:
        body = {**stored, "spec": {"hosts": ["reviews"], "http": [{"route": [
            {"destination": {"host": "reviews"}, "weight": weight}]}]}}  # fmt: skip
        try:
            api.replace_namespaced_custom_object("networking.istio.io", "v1", "bookinfo", "virtualservices",
                                                 "reviews", body, _request_timeout=5)  # fmt: skip
            return 200
        except ApiException as error:
            return error.status

    # when
    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(put, range(1, 25)))
    # then
    assert sorted(statuses) == [200] + [409] * 23


# --- the fake server's faithfulness -----------------------------------------------------------


@pytest.mark.parametrize(("case", "method", "path", "body"), [
    ("vs_get_not_found", "GET", "virtualservices/reviews", None),
    ("vs_create_already_exists", "POST", "virtualservices", "vs"),
    ("vs_update_stale_resource_version", "PUT", "virtualservices/reviews", "stale"),
    ("vs_update_without_resource_version", "PUT", "virtualservices/reviews", "vs"),
    ("vs_create_weight_wrong_type", "POST", "virtualservices", "bad"),
])  # fmt: skip
def test_the_fake_api_server_answers_the_real_status_bodies(kube, case, method, path, body):
    # given
    if case != "vs_get_not_found" and case != "vs_create_weight_wrong_type":
        kube.put_object(_vs())
    payload = {"vs": _vs(), "bad": _vs(weight="string"),
               "stale": {**_vs(), "metadata": {"name": "reviews", "namespace": "bookinfo", "resourceVersion": "1"}},
               None: None}[body]  # fmt: skip
    raw = json.dumps(payload).encode() if payload else b""
    # when
    code, answer = kube.handle(method, f"/apis/networking.istio.io/v1/namespaces/bookinfo/{path}", {},
                               {"Content-Type": "application/json"}, raw)  # fmt: skip
    # then
    expected = _error_bodies()[case]
    assert (code, answer.decode()) == (expected["http_status"], expected["raw_body"])


def test_the_fake_api_server_refuses_a_json_patch_content_type_with_415(kube):
    # given
    kube.put_object(_vs())
    # when
    code, answer = kube.handle("PATCH", "/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices/reviews",
                               {}, {"Content-Type": "application/json"}, b"{}")  # fmt: skip
    # then
    assert (code, answer.decode()) == (415, _error_bodies()["vs_patch_wrong_content_type"]["raw_body"])


def test_the_fake_api_server_merge_patch_with_a_stale_resource_version_is_409(kube, tmp_path):
    # given
    stored = kube.put_object(_vs())
    api = raw_api(kube, tmp_path)
    # when
    api.patch_namespaced_custom_object(
        "networking.istio.io",
        "v1",
        "bookinfo",
        "virtualservices",
        "reviews",
        {"metadata": {"labels": {"team": "books"}}},
        field_manager="kubectl-label",
    )
    with pytest.raises(ApiException) as raised:
        api.patch_namespaced_custom_object(
            "networking.istio.io",
            "v1",
            "bookinfo",
            "virtualservices",
            "reviews",
            {"metadata": {"resourceVersion": stored["metadata"]["resourceVersion"], "labels": {"team": "x"}}},
        )
    # then
    now = kube.get_object("virtualservices", "bookinfo", "reviews")
    assert raised.value.status == 409
    assert now["metadata"]["labels"] == {"team": "books"}
    assert [e["manager"] for e in now["metadata"]["managedFields"]] == ["kubectl-client-side-apply", "kubectl-label"]
    assert now["metadata"]["generation"] == 1


def test_the_fake_api_server_apply_conflicts_with_rollouts_controller_until_forced(kube):
    # given a VirtualService whose spec.http Argo Rollouts' controller last updated (entry as in argo-rollouts#3854)
    kube.put_object(_vs())
    kube.objects[("virtualservices", "bookinfo", "reviews")]["metadata"]["managedFields"] = [
        {"apiVersion": "networking.istio.io/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:http": {}}},
         "manager": "rollouts-controller", "operation": "Update"}]  # fmt: skip
    path = "/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices/reviews"
    applied = json.dumps(_vs(weight=100) | {"spec": {"hosts": ["reviews"], "http": [
        {"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}}).encode()  # fmt: skip
    headers = {"Content-Type": "application/apply-patch+yaml"}
    # when
    unnamed = kube.handle("PATCH", path, {}, headers, applied)
    refused = kube.handle("PATCH", path, {"fieldManager": ["kiali"]}, headers, applied)
    forced = kube.handle("PATCH", path, {"fieldManager": ["kiali"], "force": ["true"]}, headers, applied)
    # then
    bodies = _error_bodies()
    assert (unnamed[0], unnamed[1].decode()) == (422, bodies["vs_apply_without_field_manager"]["raw_body"])
    assert (refused[0], refused[1].decode()) == (409, bodies["vs_apply_conflict_with_rollouts_controller"]["raw_body"])
    assert forced[0] == 200
    stored = kube.get_object("virtualservices", "bookinfo", "reviews")
    assert stored["spec"]["http"] == [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]
    owners = [(e["manager"], e["operation"], e["fieldsV1"].get("f:spec")) for e in stored["metadata"]["managedFields"]]
    assert owners == [("rollouts-controller", "Update", {}), ("kiali", "Apply", {".": {}, "f:hosts": {}, "f:http": {}})]


def test_the_fake_api_server_apply_creates_a_missing_object_with_201(kube):
    # when
    code, body = kube.handle("PATCH", "/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices/reviews",
                             {"fieldManager": ["kiali"]}, {"Content-Type": "application/apply-patch+yaml"},
                             yaml.safe_dump(_vs()).encode())  # fmt: skip
    # then
    created = json.loads(body)
    assert code == 201
    assert created["metadata"]["resourceVersion"] == str(kube.resource_version)
    assert [(e["manager"], e["operation"]) for e in created["metadata"]["managedFields"]] == [("kiali", "Apply")]
