"""The gitops backend against a real git repository in a temporary directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from traffic.backends.gitops import GitopsBackend
from traffic.errors import WriteFailed
from traffic.models import TrafficChange

URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"
pytestmark = pytest.mark.django_db
HAND_WRITTEN = """\
# Routing of the reviews service — owned by the books team.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts:
  - reviews   # the short name on purpose
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: bookinfo
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated
data:
  key: value  # keep me
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout  # fmt: skip


@pytest.fixture
def repo(tmp_path, settings) -> Path:
    root = tmp_path / "gitops"
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "reviews.yaml").write_text(HAND_WRITTEN)
    git(root, "init", "-q")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "initial")
    settings.MESHUI_MESH_BACKEND = "gitops"
    settings.MESHUI_GITOPS_DIR = str(root)
    settings.DATA_DIR = tmp_path / "data"
    return root


def patch(client, body, **headers):
    return client.generic("PATCH", URL, json.dumps(body), content_type="application/json", headers=headers)


def test_a_weight_change_edits_the_file_in_place_and_commits_as_the_actor(repo, operator):
    # when
    response = patch(operator, {"weights": {"v1": 80, "v2": 20}})
    # then
    assert response.status_code == 200, response.json()
    text = (repo / "apps" / "reviews.yaml").read_text()
    assert text == HAND_WRITTEN.replace(
        "    - destination:\n        host: reviews\n        subset: v1\n---",
        "    - destination:\n        host: reviews\n        subset: v1\n      weight: 80\n"
        "    - destination:\n        host: reviews\n        subset: v2\n      weight: 20\n---",
    )
    log = git(repo, "log", "-1", "--format=%an|%s")
    assert log.strip() == "olivia|meshui: bookinfo/reviews: weights: v1 100 → v1 80, v2 20 (by olivia)"
    assert git(repo, "status", "--porcelain") == ""


def test_new_resources_go_to_namespace_slash_name(repo, operator):
    # when
    response = operator.generic(
        "PATCH", "/api/v1/namespaces/bookinfo/services/ratings/traffic", json.dumps({"timeout": "2s"}),
        content_type="application/json")  # fmt: skip
    # then
    assert response.status_code == 200, response.json()
    written = (repo / "bookinfo" / "ratings.yaml").read_text()
    assert "kind: VirtualService" in written
    assert "timeout: 2s" in written
    assert git(repo, "log", "-1", "--format=%an").strip() == "olivia"


def test_a_hand_edit_makes_a_stale_if_match_412(repo, operator):
    # given
    version = operator.get(URL).json()["version"]
    path = repo / "apps" / "reviews.yaml"
    path.write_text(path.read_text().replace("subset: v1\n---", "subset: v2\n---", 1))
    # when
    response = patch(operator, {"weights": {"v1": 100}}, **{"If-Match": f'"{version}"'})
    # then
    assert response.status_code == 412
    assert TrafficChange.objects.count() == 0


class FailingOnVirtualService(GitopsBackend):
    """Fails the write of any file that holds a VirtualService (a disk-full stand-in)."""

    def write_file(self, path: Path, text: str | None) -> None:
        if text is not None and "kind: VirtualService" in text:
            raise OSError("No space left on device")
        super().write_file(path, text)


def test_a_failed_second_write_undoes_the_first_and_reports_the_steps(repo, tmp_path):
    # given a change adding subset v3: DestinationRule in its own file first, then the VirtualService
    (repo / "apps" / "reviews.yaml").write_text(HAND_WRITTEN.split("---\n")[0])
    (repo / "apps" / "rule.yaml").write_text(HAND_WRITTEN.split("---\n")[1])
    before = {p.name: p.read_text() for p in (repo / "apps").iterdir()}
    from traffic import actions

    backend = FailingOnVirtualService(repo)
    actor = actions.Actor(None, "olivia", "session")
    # when
    with pytest.raises(WriteFailed) as failure:
        actions.change_traffic(backend, "bookinfo", "reviews", {"weights": {"v1": 50, "v3": 50}}, actor=actor)
    # then
    assert failure.value.details["applied"] == ["update DestinationRule bookinfo/reviews"]
    assert failure.value.details["failed"] == "update VirtualService bookinfo/reviews"
    assert failure.value.details["compensated"] is True
    assert {p.name: p.read_text() for p in (repo / "apps").iterdir()} == before
    assert TrafficChange.objects.count() == 0


def test_a_file_ending_with_a_document_separator_keeps_it_through_an_edit(repo, operator):
    # given the hand-written file ending with "---", as Istio's own samples do
    path = repo / "apps" / "reviews.yaml"
    path.write_text(HAND_WRITTEN + "---\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "end with a separator")
    weighted = HAND_WRITTEN.replace(
        "    - destination:\n        host: reviews\n        subset: v1\n---",
        "    - destination:\n        host: reviews\n        subset: v1\n      weight: 80\n"
        "    - destination:\n        host: reviews\n        subset: v2\n      weight: 20\n---",
    )
    # when
    response = patch(operator, {"weights": {"v1": 80, "v2": 20}})
    # then the separator is written back as it was, not as an explicit null document
    assert response.status_code == 200, response.json()
    assert path.read_text() == weighted + "---\n"
