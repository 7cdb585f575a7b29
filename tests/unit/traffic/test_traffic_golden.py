"""Golden renders through every backend: the Bookinfo samples, seeded natively, read through the API
as the samples say; the same weights back write nothing; a real change and its revert give the
sample back, exactly as the store held it.

Each sample goes in with ``destination-rule-all.yaml`` (the rules it does not define itself), so
every Bookinfo service has its subsets. The samples carry no namespace: they live in ``default``.
The change and revert go through each service a sample routes or has a rule for; the samples
that route none (gateways, egress) are read only.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.support.fixtures import SHARED_FIXTURES
from tests.unit.traffic.backends_fixture import audit_log, normalize

pytestmark = pytest.mark.django_db
SAMPLES_DIR = SHARED_FIXTURES / "istio" / "samples"
SAMPLES = sorted(p.name for p in SAMPLES_DIR.glob("*.yaml"))
RULES = "destination-rule-all.yaml"
SERVICES = ("productpage", "reviews", "ratings", "details")
SUBSETS = {"productpage": ["v1"], "reviews": ["v1", "v2", "v3"], "ratings": ["v1", "v2", "v2-mysql", "v2-mysql-vm"],
           "details": ["v1", "v2"]}  # fmt: skip
JASON = [{"headers": {"end-user": {"exact": "jason"}}}]
# What each sample says about the services it routes (fixtures README: "weights: reviews-50-v3 =
# v1 50 / v3 50; ..."); every other service of every sample has no routing. The jason routes of
# ratings-test-abort/-delay carry a fault, so they are hand-written routing the model reads around.
ROUTING: dict[str, dict[str, dict]] = {
    "fault-injection-details-v1.yaml": {
        "details": {"weights": {"v1": 100}, "fault": {"abort": {"http_status": 555, "percent": 100.0}, "delay": None}}},
    "virtual-service-all-v1.yaml": {service: {"weights": {"v1": 100}} for service in SERVICES},
    "virtual-service-details-v2.yaml": {"details": {"weights": {"v2": 100}}},
    "virtual-service-ratings-db.yaml": {"reviews": {"weights": {"v3": 100}}, "ratings": {"weights": {"v2": 100}}},
    "virtual-service-ratings-mysql-vm.yaml": {"reviews": {"weights": {"v3": 100}},
                                              "ratings": {"weights": {"v2-mysql-vm": 100}}},
    "virtual-service-ratings-mysql.yaml": {"reviews": {"weights": {"v3": 100}},
                                           "ratings": {"weights": {"v2-mysql": 100}}},
    "virtual-service-ratings-test-abort.yaml": {"ratings": {"weights": {"v1": 100}}},
    "virtual-service-ratings-test-delay.yaml": {"ratings": {"weights": {"v1": 100}}},
    "virtual-service-reviews-50-v3.yaml": {"reviews": {"weights": {"v1": 50, "v3": 50}}},
    "virtual-service-reviews-80-20.yaml": {"reviews": {"weights": {"v1": 80, "v2": 20}}},
    "virtual-service-reviews-90-10.yaml": {"reviews": {"weights": {"v1": 90, "v2": 10}}},
    "virtual-service-reviews-jason-v2-v3.yaml": {"reviews": {"weights": {"v3": 100},
                                                             "routes": [{"match": JASON, "weights": {"v2": 100}}]}},
    "virtual-service-reviews-test-v2.yaml": {"reviews": {"weights": {"v1": 100},
                                                         "routes": [{"match": JASON, "weights": {"v2": 100}}]}},
    "virtual-service-reviews-v2-v3.yaml": {"reviews": {"weights": {"v2": 50, "v3": 50}}},
    "virtual-service-reviews-v3.yaml": {"reviews": {"weights": {"v3": 100}}},
}  # fmt: skip
# A sample defining its own rule for a service gives it that rule's subsets.
OWN_SUBSETS = {("fault-injection-details-v1.yaml", "details"): ["v1"]}
MODEL_FIELDS = ("weights", "routes", "fault", "timeout", "retries", "circuit_breaker")


def _url(service: str) -> str:
    return f"/api/v1/namespaces/default/services/{service}/traffic"


def _documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _rules_not_in(sample_text: str) -> str:
    """``destination-rule-all.yaml`` without the rules the sample defines itself (verbatim otherwise)."""
    own = {d["metadata"]["name"] for d in _documents(sample_text) if d["kind"] == "DestinationRule"}
    chunks = [c for c in re.split(r"(?m)^---\n", (SAMPLES_DIR / RULES).read_text()) if c.strip()]
    kept = [c for c in chunks if yaml.safe_load(c)["metadata"]["name"] not in own]
    return "".join(f"{c}---\n" for c in kept)


def _subjects(sample_text: str) -> list[str]:
    """The Bookinfo services the sample itself routes or defines a rule for."""
    named = set()
    for document in _documents(sample_text):
        spec = document.get("spec") or {}
        if document["kind"] == "VirtualService":
            named.update(spec.get("hosts") or [])
        elif document["kind"] == "DestinationRule":
            named.add(spec.get("host"))
    return [service for service in SERVICES if service in named]


def _expected(sample: str, service: str) -> dict:
    nothing = {"weights": {}, "routes": [], "fault": None, "timeout": None, "retries": None, "circuit_breaker": None}
    subsets = OWN_SUBSETS.get((sample, service), SUBSETS[service])
    return {**nothing, **ROUTING.get(sample, {}).get(service, {}), "subsets": subsets, "owner": "unmanaged"}


def _model(state: dict) -> dict:
    return {**{k: state[k] for k in MODEL_FIELDS}, "subsets": [s["name"] for s in state["subsets"]],
            "owner": state["owner"]}  # fmt: skip


def _patch(client, service: str, body: dict, version: str):
    return client.generic("PATCH", _url(service), json.dumps(body), content_type="application/json",
                          headers={"If-Match": f'"{version}"'})  # fmt: skip


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_bookinfo_sample_reads_as_it_says_and_a_change_reverts_to_it(store, operator, sample):
    # given the sample and the Bookinfo rules it does not define, seeded natively
    text = (SAMPLES_DIR / sample).read_text(encoding="utf-8")
    store.seed(f"samples/{sample}", text)
    if sample != RULES and _rules_not_in(text):
        store.seed(f"samples/{RULES}", _rules_not_in(text))
    seeded_content, seeded_documents = store.content(), store.documents()
    # when each service is read, then it is what the sample says, from the resources as seeded
    for service in SERVICES:
        state = operator.get(_url(service)).json()
        assert _model(state) == _expected(sample, service), service
        shown = [normalize(yaml.safe_load(r["yaml"])) for r in state["resources"]]
        assert shown, service
        assert all(resource in seeded_documents for resource in shown), service
    for service in _subjects(text):
        state = operator.get(_url(service)).json()
        native, audit = store.native(), audit_log()
        # when the same weights and routes are written back, then nothing is written
        unchanged = {"weights": state["weights"] or None, "routes": state["routes"] or None}
        same = _patch(operator, service, unchanged, state["version"])
        assert (same.status_code, same.json()["change_id"], same.json()["writes"]) == (200, None, []), service
        assert (store.native(), audit_log()) == (native, audit), service
        # when a real change is made and reverted
        subsets = state["subsets"]
        weights = {subsets[0]["name"]: 30, subsets[1]["name"]: 70} if len(subsets) > 1 else {subsets[0]["name"]: 100}
        changed = _patch(operator, service, {"weights": weights, "timeout": "3s"}, state["version"])
        assert changed.status_code == 200, changed.json()
        assert (changed.json()["weights"], changed.json()["timeout"]) == (weights, "3s")
        assert store.documents() != seeded_documents
        reverted = operator.post(f"/api/v1/changes/{changed.json()['change_id']}/revert")
        # then the store holds the sample again, exactly
        assert reverted.status_code == 200, reverted.json()
        assert _model(reverted.json()) == _expected(sample, service)
        assert store.documents() == seeded_documents, service
        # every store, the gitops files included (their own indentation, comments and final newline)
        assert store.content() == seeded_content, service
        assert [c["operation"] for c in audit_log()[len(audit) :]] == ["patch", "revert"]
