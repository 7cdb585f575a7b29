"""Pure core: parse → model → render round-trips, golden renders, ordering, validations, owners."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
import yaml

from tests.support.fixtures import SHARED_FIXTURES
from traffic.parse import owner_of, parse_service
from traffic.render import plan_writes, render
from traffic.specs import TrafficSpec, apply_patch, to_wire
from traffic.validate import schema_errors, validate_all

FIXTURES = SHARED_FIXTURES
SAMPLES = sorted((FIXTURES / "istio" / "samples").glob("*.yaml"))
SERVICES = ("reviews", "ratings", "details", "productpage")


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _bookinfo(path: Path) -> list[dict]:
    docs = _docs(path)
    for doc in docs:
        doc.setdefault("metadata", {}).setdefault("namespace", "bookinfo")
    return docs


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_bookinfo_samples_round_trip_through_the_model(sample):
    # given the sample with every Bookinfo subset defined
    docs = _bookinfo(sample) + [d for d in _bookinfo(FIXTURES / "istio/samples/destination-rule-all.yaml")
                                if sample.name != "destination-rule-all.yaml"]  # fmt: skip
    for service in SERVICES:
        parsed = parse_service(docs, "bookinfo", service)
        # when the model is rendered back onto the resources it was read from
        vs, dr = render(parsed.spec, parsed.spec, parsed.vs, parsed.dr, parsed.available_subsets)
        # then nothing changes, and a fresh render of the model parses to the same model
        assert (vs, dr) == (parsed.vs, parsed.dr)
        fresh_vs, fresh_dr = render(TrafficSpec("bookinfo", service), parsed.spec, None, None, parsed.spec.subsets)
        reparsed = parse_service([r for r in (fresh_vs, fresh_dr) if r], "bookinfo", service)
        assert (reparsed.spec.weights, reparsed.spec.routes, reparsed.spec.fault, reparsed.spec.timeout) == (
            parsed.spec.weights, parsed.spec.routes, parsed.spec.fault, parsed.spec.timeout)  # fmt: skip


def test_the_80_20_sample_reads_as_its_weights_and_its_test_route():
    # given
    docs = _bookinfo(FIXTURES / "istio/samples/virtual-service-reviews-80-20.yaml")
    jason = _bookinfo(FIXTURES / "istio/samples/virtual-service-reviews-test-v2.yaml")
    # when
    weights = parse_service(docs, "bookinfo", "reviews").spec.weights
    routes = to_wire(parse_service(jason, "bookinfo", "reviews").spec)["routes"]
    # then
    assert weights == {"v1": 80, "v2": 20}
    assert routes == [{"match": [{"headers": {"end-user": {"exact": "jason"}}}], "weights": {"v2": 100}}]


def test_a_weight_split_renders_as_kialis_wizard_writes_it():
    # given
    wizard = json.loads((FIXTURES / "kiali/wizard/reviews-virtualservice.json").read_text())
    spec = TrafficSpec("bookinfo", "reviews")
    new = apply_patch(spec, {"weights": {"v1": 33, "v2": 33, "v3": 34}}, ["v1", "v2", "v3"])
    # when
    vs, _ = render(spec, new, None, None, ())
    # then
    assert vs["spec"]["http"] == wizard["spec"]["http"]
    assert vs["spec"]["hosts"] == wizard["spec"]["hosts"]
    assert (vs["apiVersion"], vs["kind"]) == (wizard["apiVersion"], wizard["kind"])


def test_every_rendered_resource_is_valid_istio():
    # given
    spec = TrafficSpec("bookinfo", "reviews")
    new = apply_patch(spec, {
        "weights": {"v1": 90, "v2": 10}, "routes": [{"match": [{"uri": {"prefix": "/x"}}], "weights": {"v3": 100}}],
        "fault": {"delay": {"fixed_delay": "7s", "percent": 10}, "abort": {"http_status": 503, "percent": 1.5}},
        "timeout": "10s", "retries": {"attempts": 2, "retry_on": "5xx,reset"},
        "circuit_breaker": {"http1_max_pending_requests": 10, "max_ejection_percent": 50, "base_ejection_time": "30s"},
    }, ["v1", "v2", "v3"])  # fmt: skip
    # when
    vs, dr = render(spec, new, None, None, ())
    # then
    assert validate_all([vs, dr]) == []


def test_make_before_break_orders_the_writes():
    # given a meshui rule with v1, v2 and a change to v2, v3
    spec = TrafficSpec("bookinfo", "reviews")
    first = apply_patch(spec, {"weights": {"v1": 50, "v2": 50}}, ["v1", "v2", "v3"])
    vs1, dr1 = render(spec, first, None, None, ())
    second = apply_patch(first, {"weights": {"v2": 50, "v3": 50}}, ["v1", "v2", "v3"])
    vs2, dr2 = render(first, second, vs1, dr1, ())
    # when
    steps = plan_writes("bookinfo", vs1, vs2, dr1, dr2)
    # then the rule gains v3 first, loses v1 last
    subsets = [[s["name"] for s in w.body["spec"]["subsets"]] for w in steps if w.kind == "DestinationRule"]
    assert [w.kind for w in steps] == ["DestinationRule", "VirtualService", "DestinationRule"]
    assert subsets == [["v2", "v3", "v1"], ["v2", "v3"]]


def test_kiali_subset_presence_cases():
    # given Kiali's transcribed expectations
    expected = json.loads((FIXTURES / "kiali/validations/expected.json").read_text())["subsetPresenceChecker"]
    for case in expected["cases"]:
        docs = _docs(FIXTURES / "kiali/validations" / case["file"])
        vs = next(d for d in docs if d["kind"] == "VirtualService")
        # when
        found = [(v.severity, v.path) for v in validate_all(docs)
                 if v.code == "subset_not_found" and v.name == vs["metadata"]["name"]]  # fmt: skip
        # then
        assert found == [(v["severity"], v["path"]) for v in case["validations"]], case["file"]


@pytest.mark.parametrize("case", ["virtualServiceDestinationRules", "dupmatches"])
def test_istioctl_analyzer_cases(case):
    # given
    cases = json.loads((FIXTURES / "istio/analyzers/expected.json").read_text())["cases"]
    spec = next(c for c in cases if c["name"] == case)
    docs = [d for f in spec["inputFiles"] for d in _docs(FIXTURES / "istio/analyzers" / f)]
    codes = {"virtualServiceDestinationRules": {"subset_not_found": "IST0101"},
             "dupmatches": {"unreachable_rule": "IST0130", "ineffective_match": "IST0131"}}[case]  # fmt: skip
    # when
    found = collections.Counter(
        (codes[v.code], f"VirtualService {v.namespace}/{v.name}") for v in validate_all(docs) if v.code in codes
    )
    # then
    wanted = collections.Counter(
        (code, resource if "/" in resource else resource.replace(" ", " default/"))
        for _, code, resource in spec["expected"]
    )
    assert found == wanted


def test_crd_schema_refuses_the_invalid_destination_rules_and_accepts_the_valid():
    # given
    invalid = _docs(FIXTURES / "istio/invalid/destinationrule-invalid.yaml")
    valid = _docs(FIXTURES / "istio/invalid/destinationrule-valid.yaml")
    # when
    messages = [(doc.pop("_err").split(":")[0], [e.path for e in schema_errors(doc)]) for doc in invalid]
    # then
    assert [(err, paths) for err, paths in messages] == [
        ("spec.trafficPolicy.loadBalancer.warmup.minimumPercent",
         ["spec/trafficPolicy/loadBalancer/warmup/minimumPercent"]),
        ("spec.trafficPolicy.loadBalancer.warmup.duration", ["spec/trafficPolicy/loadBalancer/warmup"]),
        ("spec.trafficPolicy.loadBalancer.warmup.aggression", ["spec/trafficPolicy/loadBalancer/warmup/aggression"]),
    ]
    assert [schema_errors(doc) for doc in valid] == [[] for _ in valid]


@pytest.mark.parametrize(
    ("file", "kind", "name", "owner"),
    [
        ("flagger_faq_istio_generated.yaml", "VirtualService", "frontend", "flagger"),
        ("argo_rollouts_istio_subset_split.yaml", "VirtualService", None, "argo-rollouts"),
        ("argo_rollouts_istio_subset_split.yaml", "DestinationRule", None, "argo-rollouts"),
        ("argo_rollouts_getting_started_virtualsvc.yaml", "VirtualService", None, "unmanaged"),
    ],
)
def test_progressive_delivery_controllers_are_recognised(file, kind, name, owner):
    # given
    docs = _docs(FIXTURES / "kubernetes/controllers" / file)
    resource = next(d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"]))
    # when / then
    assert owner_of([resource], docs) == owner
