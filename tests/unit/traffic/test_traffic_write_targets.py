"""Writes to what does not exist (404 unless an admin forces) and writers that race without
If-Match (recomputed on the fresh state; 409 ``write_contention`` when the race never ends)."""

from __future__ import annotations

import json
import time

import pytest
from django.db.models import F

from tests.unit.traffic.test_traffic_seen_versions import DownSource
from traffic.api import views
from traffic.backends.local import LocalBackend
from traffic.models import LocalServiceVersion, TrafficChange

pytestmark = pytest.mark.django_db


def url(namespace: str = "bookinfo", service: str = "reviews") -> str:
    return f"/api/v1/namespaces/{namespace}/services/{service}/traffic"


def patch(client, target: str, body: dict | None = None, **headers):
    return client.generic("PATCH", target, json.dumps(body or {"timeout": "2s"}), content_type="application/json",
                          headers=headers)  # fmt: skip


@pytest.mark.parametrize(
    ("target", "code", "field"),
    [
        (url("bookinfo", "reveiws"), "unknown_service", "service"),
        (url("bookinof", "reviews"), "unknown_namespace", "namespace"),
    ],
)
def test_a_write_to_what_no_telemetry_and_no_routing_knows_is_404_naming_it(operator, target, code, field):
    # given the demo mesh's telemetry (bookinfo/reviews exists) and no routing anywhere
    # when an operator patches a misspelt service, then a misspelt namespace
    response = patch(operator, target)
    # then 404 names the part at fault, and nothing is written or audited
    body = response.json()
    assert response.status_code == 404, body
    assert (body["error"]["code"], body["error"]["field"]) == (code, field)
    assert "force=true" in body["error"]["message"]
    assert TrafficChange.objects.count() == 0
    assert not LocalServiceVersion.objects.exists()


def test_a_dry_run_and_a_delete_of_an_unknown_service_are_404_too(operator):
    assert patch(operator, url("bookinfo", "ghost") + "?dry_run=true").status_code == 404
    assert operator.delete(url("bookinfo", "ghost")).status_code == 404


def test_an_admin_may_force_a_write_to_a_service_without_traffic_and_then_it_is_known(admin, operator):
    # given a service that has had no traffic yet
    # when an operator tries to force it, they are refused: force is the admin's
    assert patch(operator, url("bookinfo", "newsvc") + "?force=true").status_code == 403
    # when an admin forces the write
    response = patch(admin, url("bookinfo", "newsvc") + "?force=true")
    # then it is written and audited
    assert response.status_code == 200, response.json()
    assert TrafficChange.objects.get().service == "newsvc"
    # and from then on its routing makes it known: an operator may change it
    assert patch(operator, url("bookinfo", "newsvc"), {"timeout": "3s"}).status_code == 200


def test_with_telemetry_down_a_write_is_let_through(operator, monkeypatch):
    # given Prometheus down: meshui cannot tell whether the service exists
    import sources

    monkeypatch.setattr(sources, "telemetry_source", lambda: DownSource())
    from topology import service

    monkeypatch.setattr(service, "_shared_reads", service.SharedReads(ttl_s=5))
    # when an operator writes to a service it cannot check
    response = patch(operator, url("bookinfo", "unseen"))
    # then routing stays editable
    assert response.status_code == 200, response.json()


class RacedBackend(LocalBackend):
    """The local backend with another writer that changes the service between every read and the
    compare-and-swap, ``races`` times (None: forever)."""

    def __init__(self, races: int | None) -> None:
        self.races = races
        self.applies = 0

    def apply(self, namespace, service, writes, expected_version, record, **kwargs):
        self.applies += 1
        if self.races is None or self.applies <= self.races:
            LocalServiceVersion.objects.get_or_create(namespace=namespace, service=service)
            LocalServiceVersion.objects.filter(namespace=namespace, service=service).update(counter=F("counter") + 1)
        return super().apply(namespace, service, writes, expected_version, record, **kwargs)


def test_a_write_without_if_match_that_loses_races_is_recomputed_and_lands(operator, monkeypatch):
    # given another writer that wins the first three races
    backend = RacedBackend(races=3)
    monkeypatch.setattr(views, "get_backend", lambda: backend)
    # when an operator writes without If-Match
    response = patch(operator, url(), {"weights": {"v1": 80, "v2": 20}})
    # then the write is recomputed on the fresh state and lands on the fourth try
    assert response.status_code == 200, response.json()
    assert backend.applies == 4
    change = TrafficChange.objects.get()
    assert (change.version_before, change.version_after) == ("3", "4")


def test_a_race_that_never_ends_is_409_write_contention_within_its_bound(operator, monkeypatch, settings):
    # given a writer that always wins, and a patience of half a second
    settings.MESHUI_WRITE_CONTENTION_S = 0.5
    backend = RacedBackend(races=None)
    monkeypatch.setattr(views, "get_backend", lambda: backend)
    # when an operator writes without If-Match
    started = time.monotonic()
    response = patch(operator, url(), {"weights": {"v1": 80, "v2": 20}})
    elapsed = time.monotonic() - started
    # then 409 write_contention with Retry-After, within the configured bound, and nothing written
    body = response.json()
    assert response.status_code == 409, body
    assert body["error"]["code"] == "write_contention"
    assert response.headers["Retry-After"] == "1"
    assert backend.applies > 1
    assert elapsed < 0.5 + 1.5
    assert TrafficChange.objects.count() == 0


def test_with_if_match_a_lost_race_is_412_at_once(operator, monkeypatch):
    # given another writer that wins every race
    backend = RacedBackend(races=None)
    monkeypatch.setattr(views, "get_backend", lambda: backend)
    # when an operator writes with the version they read
    response = patch(operator, url(), {"weights": {"v1": 80, "v2": 20}}, **{"If-Match": '"0"'})
    # then they are told at once: their precondition no longer holds
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "stale_version"
    assert backend.applies == 1
