"""The gitops backend against a real git repository in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.gitrepo import git, new_repository
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


@pytest.fixture
def repo(tmp_path, settings) -> Path:
    root = new_repository(tmp_path / "gitops", {"apps/reviews.yaml": HAND_WRITTEN})
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
    git(repo, "commit", "-qam", "end with a separator")
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


MIXED_INDENTATION = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts:
    - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 80
    - destination:
        host: reviews
        subset: v2
      weight: 20"""


def test_an_edit_keeps_the_files_own_indentation_and_changes_only_its_lines(repo, operator):
    # given a hand-written file indenting hosts under its key but not http, without a final newline
    path = repo / "apps" / "reviews.yaml"
    path.write_text(MIXED_INDENTATION + "\n---\n" + HAND_WRITTEN.split("---\n", 1)[1].rstrip("\n"))
    # when the weights change
    response = patch(operator, {"weights": {"v1": 90, "v2": 10}})
    # then exactly the two weight lines differ: indentation, the other documents and the missing
    # final newline are as they were
    assert response.status_code == 200, response.json()
    before = (MIXED_INDENTATION + "\n---\n" + HAND_WRITTEN.split("---\n", 1)[1].rstrip("\n")).splitlines()
    after = path.read_text().splitlines()
    assert len(after) == len(before)
    assert [(b, a) for b, a in zip(before, after, strict=True) if a != b] == [
        ("      weight: 80", "      weight: 90"), ("      weight: 20", "      weight: 10")]  # fmt: skip
    assert not path.read_text().endswith("\n")


def test_new_lines_take_the_indentation_of_their_neighbours():
    # given ruamel's uniform rendering of a file whose hosts list is indented under its key
    from traffic.backends.gitops import keep_layout

    original = "spec:\n  hosts:\n    - reviews\n  http:\n  - route: a\n"
    before = "spec:\n  hosts:\n  - reviews\n  http:\n  - route: a\n"
    after = "spec:\n  hosts:\n  - reviews\n  - ratings\n  http:\n  - route: a\n  - route: b\n"
    # when the file is written with its own layout
    kept = keep_layout(original, before, after)
    # then the new host follows the hosts' indentation and the new route the routes'
    assert kept == "spec:\n  hosts:\n    - reviews\n    - ratings\n  http:\n  - route: a\n  - route: b\n"


def test_a_file_whose_lines_differ_from_the_rendering_gets_the_rendering():
    # given a file in flow style (not the same lines as ruamel's block rendering)
    from traffic.backends.gitops import keep_layout

    # when / then ruamel's layout is used as it is
    assert keep_layout("spec: {hosts: [a]}\n", "spec:\n  hosts:\n  - a\n", "spec:\n  hosts:\n  - b\n") == (
        "spec:\n  hosts:\n  - b\n")  # fmt: skip
