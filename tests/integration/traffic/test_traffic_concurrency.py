"""Concurrent PATCHes against live daphne servers: with the same If-Match exactly one wins; without
If-Match every one lands, one after the other, none lost.

Two daphne processes on 127.0.0.1 share one database (SQLite file, then a throwaway
PostgreSQL database), so writers really race on the version's compare-and-swap; on the gitops
backend they also share one git repository, so they race on its lock and its version digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.support.gitrepo import git, new_repository
from tests.support.meshui_servers import api_request, meshui_servers, temporary_postgres_database
from tests.unit.traffic.test_traffic_gitops import HAND_WRITTEN

pytestmark = pytest.mark.integration

WRITERS = 30


@pytest.fixture
def postgres_url() -> Iterator[str]:
    try:
        with temporary_postgres_database("meshui_traffic") as url:
            yield url
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432: {error}")


def _race(tmp_path: Path, database_url: str, *, if_match: bool = True,
          **extra_env: str) -> tuple[list[int], list[dict], dict]:  # fmt: skip
    """30 PATCHes (with one If-Match, or none), alternating between two daphne servers sharing
    ``database_url`` (and ``extra_env``: the backend's settings); returns the statuses, the
    changes listed after them and the final state (with the raw results under ``_results``)."""
    with meshui_servers(tmp_path, 2, username="racer", DATABASE_URL=database_url, **extra_env) as servers:
        token = servers.token
        urls = [f"{base}/api/v1/namespaces/bookinfo/services/reviews/traffic" for base in servers.urls]
        version = api_request("GET", urls[0], token)[1]["version"]
        headers = {"If-Match": f'"{version}"'} if if_match else {}
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            results = list(pool.map(
                lambda i: api_request("PATCH", urls[i % 2], token, {"weights": {"v1": 100 - i, "v2": i}}, **headers),
                range(1, WRITERS + 1),
            ))  # fmt: skip
        changes = api_request("GET", f"{servers.urls[1]}/api/v1/changes", token)[1]["changes"]
        final = api_request("GET", urls[1], token)[1]
        return [status for status, _ in results], changes, final | {"_results": results}


def _assert_one_winner(statuses: list[int], changes: list[dict], final: dict) -> None:
    assert sorted(set(statuses)) == [200, 412], statuses
    assert statuses.count(200) == 1
    assert statuses.count(412) == WRITERS - 1
    winner = next(body for status, body in final["_results"] if status == 200)
    assert len(changes) == 1
    assert changes[0]["after"]["weights"] == winner["weights"] == final["weights"]
    assert changes[0]["after"] == {key: final[key] for key in changes[0]["after"]}


def test_concurrent_patches_with_one_if_match_have_one_winner_on_sqlite(tmp_path):
    # given a fresh SQLite database behind two daphne servers
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    # when 30 writers PATCH with the same If-Match
    statuses, changes, final = _race(tmp_path, url)
    # then one 200, the rest 412, one audit row matching the state
    _assert_one_winner(statuses, changes, final)


def test_concurrent_patches_with_one_if_match_have_one_winner_on_postgresql(tmp_path, postgres_url):
    # given a throwaway PostgreSQL database behind two daphne servers
    # when 30 writers PATCH with the same If-Match
    statuses, changes, final = _race(tmp_path, postgres_url)
    # then one 200, the rest 412, one audit row matching the state
    _assert_one_winner(statuses, changes, final)


def test_concurrent_patches_with_one_if_match_have_one_winner_on_gitops(tmp_path):
    # given two daphne servers on one SQLite database and one git repository of hand-written routing
    root = new_repository(tmp_path / "gitops", {"apps/reviews.yaml": HAND_WRITTEN})
    # when 30 writers PATCH with the same If-Match
    statuses, changes, final = _race(tmp_path, f"sqlite:///{tmp_path / 'race.sqlite3'}",
                                     MESHUI_MESH_BACKEND="gitops", MESHUI_GITOPS_DIR=str(root))  # fmt: skip
    # then one 200, the rest 412, one audit row matching the state
    _assert_one_winner(statuses, changes, final)
    # and one new commit, by the token's user, of files that parse and hold the winner's weights
    weights = final["weights"]
    assert git(root, "log", "--format=%an|%s").splitlines() == [
        f"racer|meshui: bookinfo/reviews: weights: v1 100 → v1 {weights['v1']}, v2 {weights['v2']} (by racer)",
        "hand|initial",
    ]
    assert git(root, "status", "--porcelain") == ""
    text = (root / "apps" / "reviews.yaml").read_text(encoding="utf-8")
    vs, dr, unrelated = yaml.safe_load_all(text)
    assert {r["destination"]["subset"]: r["weight"] for r in vs["spec"]["http"][0]["route"]} == weights
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v1", "v2"]
    assert unrelated == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated"},
                         "data": {"key": "value"}}  # fmt: skip
    assert text.startswith("# Routing of the reviews service — owned by the books team.\n")
    assert "  - reviews   # the short name on purpose\n" in text
    assert "  key: value  # keep me\n" in text


def _assert_all_landed_in_a_chain(statuses: list[int], changes: list[dict], final: dict) -> None:
    """Every writer got 200, each wrote one audited change, and the changes form one chain of
    versions (each began from the one before it ended: no update was lost or overwritten
    unseen), the last of which is the state."""
    assert statuses == [200] * WRITERS, [body for status, body in final["_results"] if status != 200][:3]
    assert len(changes) == WRITERS
    ids = sorted(body["change_id"] for _, body in final["_results"])
    assert ids == sorted(change["id"] for change in changes)
    chain = list(reversed(changes))  # oldest first
    for earlier, later in pairwise(chain):
        assert later["version_before"] == earlier["version_after"], (earlier, later)
    assert chain[-1]["after"]["weights"] == final["weights"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_concurrent_patches_without_if_match_all_land_one_after_the_other(tmp_path, request, database):
    # given two daphne servers on one database (SQLite file, or a throwaway PostgreSQL database)
    url = (f"sqlite:///{tmp_path / 'race.sqlite3'}" if database == "sqlite"
           else request.getfixturevalue("postgres_url"))  # fmt: skip
    # when 30 writers PATCH at once without If-Match (a patience that a loaded CI machine cannot exhaust)
    statuses, changes, final = _race(tmp_path, url, if_match=False, MESHUI_WRITE_CONTENTION_S="60")
    # then all 30 land, in one chain of versions, none lost
    _assert_all_landed_in_a_chain(statuses, changes, final)
