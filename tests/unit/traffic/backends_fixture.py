"""The three traffic stores behind one test interface, each reached natively (never through meshui).

``LocalStore`` (rows of the database), ``GitopsStore`` (YAML files in a real git repository)
and ``KubernetesStore`` (the loopback API server, through the raw ``kubernetes`` client) all offer:

* ``seed(filename, text)``: put the documents of a YAML text into the store as an operator
  would (rows; the file committed as it is; objects created with POST);
* ``native()``: everything the store holds, exactly (raw row text and version counters; file
  bytes, HEAD and ``git status``; the API server's list bodies): equal before and after
  means nothing was written;
* ``content()``: what a revert must put back exactly (``native()`` without what only ever
  grows: the version counter, the git history, the server's resourceVersions);
* ``documents()``: the VirtualServices and DestinationRules as plain dicts, server-set
  metadata dropped, sorted, to compare with the audit log;
* ``edit(kind, namespace, name, change)``: an external edit: ``change`` mutates the document
  (a hand edit of the row and its version counter; of the file, committed; a kubectl-style PUT);
* ``reset()``: empty the store (between Hypothesis examples).

``audit_log()`` is the audit table, row by row. The ``store`` fixture (conftest) yields one
store per backend, with meshui configured to use it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from django.db import connection
from django.db.models import F
from kubernetes import client

from tests.support.gitrepo import git, new_repository
from traffic.models import LocalResource, LocalServiceVersion, TrafficChange

BACKENDS = ("local", "gitops", "kubernetes")
ROUTING_KINDS = ("VirtualService", "DestinationRule")
GROUP = "networking.istio.io"
PLURALS = {"VirtualService": "virtualservices", "DestinationRule": "destinationrules"}
# Metadata the API server sets and bumps on every write: not part of what a resource says.
SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")
RAW_TIMEOUT_S = 10

Change = Callable[[dict], None]


def _namespace(document: dict) -> str:
    return str((document.get("metadata") or {}).get("namespace") or "default")


def _key(document: dict) -> tuple[str, str, str]:
    return (str(document.get("kind")), _namespace(document), str((document.get("metadata") or {}).get("name")))


def normalize(resource: dict) -> dict:
    """``resource`` as it says it: server-set metadata and status dropped, the namespace explicit."""
    out = copy.deepcopy(resource)
    metadata = out.setdefault("metadata", {})
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    metadata.setdefault("namespace", "default")
    out.pop("status", None)
    return out


def keyed(resources: list[dict]) -> dict[tuple[str, str, str], dict]:
    """``{(kind, namespace, name): normalized resource}``."""
    return {_key(normalize(r)): normalize(r) for r in resources}


def _sorted(documents: list[dict]) -> list[dict]:
    return sorted((normalize(d) for d in documents if d.get("kind") in ROUTING_KINDS), key=_key)


def _yaml_documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def audit_log() -> list[dict]:
    """Every audit row with every column, oldest first."""
    return list(TrafficChange.objects.order_by("id").values())


class LocalStore:
    """The ``local`` backend's tables, read and written with plain SQL and the ORM."""

    name = "local"

    def seed(self, filename: str, text: str) -> None:
        for document in _yaml_documents(text):
            kind, namespace, name = _key(document)
            LocalResource.objects.create(namespace=namespace, kind=kind, name=name, body=document)

    def _rows(self) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT namespace, kind, name, body FROM {LocalResource._meta.db_table} "  # noqa: S608
                           "ORDER BY namespace, kind, name")  # fmt: skip
            return list(cursor.fetchall())

    def native(self) -> dict[str, Any]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT namespace, service, counter FROM {LocalServiceVersion._meta.db_table} "  # noqa: S608
                           "ORDER BY namespace, service")  # fmt: skip
            versions = list(cursor.fetchall())
        return {"rows": self._rows(), "versions": versions}

    def content(self) -> list[tuple]:
        return self._rows()

    def documents(self) -> list[dict]:
        return _sorted([row.body for row in LocalResource.objects.all()])

    def edit(self, kind: str, namespace: str, name: str, change: Change) -> None:
        """Edit the row by hand and bump the version counter of the service of that name, as a
        hand edit of the database must (the counter is the local backend's version)."""
        row = LocalResource.objects.get(namespace=namespace, kind=kind, name=name)
        change(row.body)
        row.save()
        LocalServiceVersion.objects.get_or_create(namespace=namespace, service=name)
        LocalServiceVersion.objects.filter(namespace=namespace, service=name).update(counter=F("counter") + 1)

    def reset(self) -> None:
        LocalResource.objects.all().delete()
        LocalServiceVersion.objects.all().delete()


class GitopsStore:
    """A git repository under ``tmp_path`` with an initial commit; ``MESHUI_GITOPS_DIR`` points at it."""

    name = "gitops"

    def __init__(self, settings: Any, tmp_path: Path) -> None:
        self.settings = settings
        self.tmp_path = tmp_path
        self.generation = 0
        settings.MESHUI_MESH_BACKEND = "gitops"
        settings.DATA_DIR = tmp_path / "data"
        self.root = self._new_repository()

    def _new_repository(self) -> Path:
        self.generation += 1
        root = new_repository(self.tmp_path / f"gitops-{self.generation}")
        self.settings.MESHUI_GITOPS_DIR = str(root)
        return root

    def _files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file() and ".git" not in p.relative_to(self.root).parts)

    def seed(self, filename: str, text: str) -> None:
        path = self.root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", f"seed {filename}")

    def native(self) -> dict[str, Any]:
        files = {str(p.relative_to(self.root)): p.read_bytes() for p in self._files()}
        return {"files": files, "head": git(self.root, "rev-parse", "HEAD"),
                "status": git(self.root, "status", "--porcelain")}  # fmt: skip

    def content(self) -> dict[str, str]:
        return {str(p.relative_to(self.root)): p.read_text(encoding="utf-8") for p in self._files()}

    def documents(self) -> list[dict]:
        return _sorted([d for p in self._files() if p.suffix in (".yaml", ".yml") for d in _yaml_documents(
            p.read_text(encoding="utf-8"))])  # fmt: skip

    def edit(self, kind: str, namespace: str, name: str, change: Change) -> None:
        """Rewrite the file holding the document (PyYAML, not meshui's writer) and commit it."""
        for path in self._files():
            documents = _yaml_documents(path.read_text(encoding="utf-8"))
            found = [d for d in documents if _key(d) == (kind, namespace, name)]
            if found:
                change(found[0])
                path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
                if git(self.root, "status", "--porcelain"):  # an edit to what is there already is no commit
                    git(self.root, "commit", "-q", "-am", f"hand edit of {kind} {namespace}/{name}")
                return
        raise LookupError(f"no {kind} {namespace}/{name} in {self.root}")

    def reset(self) -> None:
        self.root = self._new_repository()


class KubernetesStore:
    """The loopback API server, reached with the official client as kubectl would."""

    name = "kubernetes"

    def __init__(self, api: client.CustomObjectsApi) -> None:
        self.api = api

    def seed(self, filename: str, text: str) -> None:
        """Create each VirtualService and DestinationRule of ``text`` (the server serves no other kind)."""
        for document in _yaml_documents(text):
            if document.get("kind") in PLURALS:
                self.api.create_namespaced_custom_object(
                    GROUP, "v1", _namespace(document), PLURALS[document["kind"]], document,
                    field_manager="kubectl-client-side-apply", _request_timeout=RAW_TIMEOUT_S)  # fmt: skip

    def _list(self, plural: str) -> list[dict]:
        return self.api.list_cluster_custom_object(GROUP, "v1", plural, _request_timeout=RAW_TIMEOUT_S)["items"]

    def native(self) -> dict[str, bytes]:
        return {plural: self.api.list_cluster_custom_object(GROUP, "v1", plural, _preload_content=False,
                                                            _request_timeout=RAW_TIMEOUT_S).data
                for plural in PLURALS.values()}  # fmt: skip

    def content(self) -> list[dict]:
        return self.documents()

    def documents(self) -> list[dict]:
        return _sorted([item for plural in PLURALS.values() for item in self._list(plural)])

    def edit(self, kind: str, namespace: str, name: str, change: Change) -> None:
        """GET, change, PUT with the resourceVersion read: ``kubectl edit``."""
        current = self.api.get_namespaced_custom_object(GROUP, "v1", namespace, PLURALS[kind], name,
                                                        _request_timeout=RAW_TIMEOUT_S)  # fmt: skip
        change(current)
        self.api.replace_namespaced_custom_object(GROUP, "v1", namespace, PLURALS[kind], name, current,
                                                  field_manager="kubectl-edit",
                                                  _request_timeout=RAW_TIMEOUT_S)  # fmt: skip

    def reset(self) -> None:
        for plural in PLURALS.values():
            for item in self._list(plural):
                meta = item["metadata"]
                self.api.delete_namespaced_custom_object(GROUP, "v1", meta["namespace"], plural, meta["name"],
                                                         _request_timeout=RAW_TIMEOUT_S)  # fmt: skip


Store = LocalStore | GitopsStore | KubernetesStore
