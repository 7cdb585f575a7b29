"""The traffic API on the kubernetes backend, against the loopback API server, through the real client.

Every test talks HTTP to ``tests.support.fake_kube_apiserver`` with the official ``kubernetes``
client configured from a kubeconfig file (``MESHUI_KUBECONFIG``), as a deployment would.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.support.fake_kube_apiserver import FakeKubeApiServer, closed_port, hanging_listener, kubeconfig
from tests.support.fixtures import SHARED_FIXTURES
from traffic.backends import get_backend
from traffic.backends import kubernetes as kubernetes_backend  # noqa: F401  (registers the backend by name)
from traffic.errors import InvalidTraffic, StaleVersion
from traffic.models import TrafficChange
from traffic.render import Write

URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"
FIXTURES = SHARED_FIXTURES / "kubernetes"
TIMEOUT_S = 0.5
# Allowed slack over the configured timeout for a down or hanging API server (client set-up, one snapshot).
MARGIN_S = 2.0
pytestmark = pytest.mark.django_db


@pytest.fixture
def kube(settings, tmp_path):
    server = FakeKubeApiServer()
    settings.MESHUI_MESH_BACKEND = "kubernetes"
    settings.MESHUI_KUBECONFIG = str(kubeconfig(server.url, tmp_path / "kubeconfig"))
    settings.MESHUI_KUBE_CONTEXT = "fake"
    settings.MESHUI_KUBE_TIMEOUT_S = TIMEOUT_S
    settings.MESHUI_KUBE_IMPERSONATE = False
    try:
        yield server
    finally:
        server.stop()


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
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": "bookinfo"},
            "spec": {"host": "reviews", "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]}}


def _raw_api(server: FakeKubeApiServer, tmp_path: Path) -> client.CustomObjectsApi:
    configuration = client.Configuration()
    path = kubeconfig(server.url, tmp_path / "raw-kubeconfig")
    config.load_kube_config(str(path), client_configuration=configuration)
    return client.CustomObjectsApi(client.ApiClient(configuration))


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
        ("networking.istio.io/v1", "rollouts-demo-vsvc")]


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
        "create", "destinationrules", "bookinfo")
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
        True, ["create DestinationRule bookinfo/reviews"])
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
        ["delete VirtualService bookinfo/reviews"], True)
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
        ["create DestinationRule bookinfo/reviews"], "create VirtualService bookinfo/reviews", False)
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
    new_dr = {**dr, "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                           {"name": "v2", "labels": {"version": "v2"}}]}}
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
    assert raised.value.details["causes"] == [{
        "reason": "FieldValueTypeInvalid", "field": "spec.http[0].route[0].weight",
        "message": 'Invalid value: "string": spec.http[0].route[0].weight in body must be of type integer: "string"'}]
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
    api = _raw_api(kube, tmp_path)

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
    api = _raw_api(kube, tmp_path)
    # when
    api.patch_namespaced_custom_object("networking.istio.io", "v1", "bookinfo", "virtualservices", "reviews",
                                       {"metadata": {"labels": {"team": "books"}}}, field_manager="kubectl-label")
    with pytest.raises(ApiException) as raised:
        api.patch_namespaced_custom_object(
            "networking.istio.io", "v1", "bookinfo", "virtualservices", "reviews",
            {"metadata": {"resourceVersion": stored["metadata"]["resourceVersion"], "labels": {"team": "x"}}})
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
