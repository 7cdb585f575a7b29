"""A loopback Kubernetes API server for Istio's VirtualService and DestinationRule (tests only).

It speaks the real REST paths of ``networking.istio.io`` custom resources, served at ``v1``,
``v1beta1`` and ``v1alpha3`` (one storage, ``apiVersion`` follows the URL as on a real server):

* GET / LIST (namespaced and all-namespaces), POST (201), PUT (needs ``metadata.resourceVersion``:
  missing → 422, stale → 409 Conflict, never creates → 404), merge PATCH
  (``application/merge-patch+json``; a ``resourceVersion`` in the body is a precondition;
  ``application/json`` → 415 as on a real server; JSON patch is not implemented and is also
  answered 415, which a real server would not do), DELETE (``preconditions.resourceVersion``
  honoured; answers Status Success).
* ``resourceVersion`` is one counter for the whole store, bumped by every persisted write; a
  no-op update keeps it; ``generation`` grows when ``spec`` changes.
* ``dryRun=All`` runs every check and persists nothing (no resourceVersion on a dry-run create).
* ``spec`` is validated against the CRD's ``openAPIV3Schema`` (the fixture CRDs) → 422 Invalid
  with one cause per error, in the server's message format.
* ``managedFields``: an ``Update`` entry per field manager (``fieldManager`` or the User-Agent
  prefix); ``ownerReferences`` are stored as sent.
* Error bodies are ``metav1.Status`` built from the templates of
  ``../shared/fixtures/kubernetes/status/message_formats.yaml`` (field order, compact JSON with a
  trailing newline, Go's ``\\u0026 \\u003c \\u003e`` escaping).
* Server-side apply (``application/apply-patch+yaml``): ``fieldManager`` required, creates a
  missing object, 409 conflict with another manager's fields unless ``force=true``.
* RBAC: ``deny(verb, plural)`` makes that verb 403 Forbidden for the requesting user (the
  ``Impersonate-User`` header when present, else ``user``).
* A server in trouble: ``break_writes(n, answer)`` makes the n-th write request (POST, PUT,
  PATCH, DELETE, counted from the start) hang (accepted, never answered until ``stop()``;
  optionally after persisting it: the answer lost between etcd's commit and the client), or
  answer what kube-apiserver answers when etcd cannot be reached (500 ``ServerTimeout``,
  apimachinery ``NewServerTimeout`` via the registry's ``InterpretCreateError``/``Update``/``Delete``)
  or while it shuts down (503 ``ServiceUnavailable`` "apiserver is shutting down", apiserver
  ``filters.WithWaitGroup``; its ``Retry-After`` header is not sent), persisting nothing.
* ``requests`` logs every request as ``(method, path, query)``, in arrival order.

Writes are serialised by one lock, so concurrent writers with the same resourceVersion see
exactly one winner. ``stop()`` shuts the server down and joins its thread.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import yaml
from jsonschema import Draft7Validator

from tests.support.fixtures import SHARED_FIXTURES

GROUP = "networking.istio.io"
VERSIONS = ("v1", "v1beta1", "v1alpha3")
KINDS = {"virtualservices": "VirtualService", "destinationrules": "DestinationRule"}
FIXTURES = SHARED_FIXTURES
CRD_FILES = {
    "virtualservices": FIXTURES / "istio" / "crds" / "virtualservices.networking.istio.io.yaml",
    "destinationrules": FIXTURES / "istio" / "crds" / "destinationrules.networking.istio.io.yaml",
}
_PATH = re.compile(
    r"^/apis/networking\.istio\.io/(?P<version>[^/]+)(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?/?$"
)
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
ACCEPTED_PATCHES = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"


def _nullable(node: Any) -> Any:
    """OpenAPI ``nullable: true`` as JSON-schema types (the server accepts null there)."""
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        if out.pop("nullable", False) and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@functools.cache
def _load_schemas() -> dict[tuple[str, str], Draft7Validator]:
    """The spec validators per (plural, version), parsed once per process (the CRDs are large)."""
    schemas = {}
    for plural, path in CRD_FILES.items():
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        for version in crd["spec"]["versions"]:
            spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
            schemas[(plural, version["name"])] = Draft7Validator(_nullable(spec_schema))
    return schemas


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None,
                status: str = "Failure") -> bytes:  # fmt: skip
    """A ``metav1.Status`` exactly as kube-apiserver writes it (field order, escaping, newline)."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status}
    if message:
        body["message"] = message
    if reason:
        body["reason"] = reason
    if details:
        body["details"] = details
    body["code"] = code
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return (text + "\n").encode()


def _go_value(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _cause(error: Any) -> dict[str, str]:
    """One schema error as the apiextensions validator reports it (reason, message, field)."""
    path = "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return {"reason": "FieldValueRequired", "message": "Required value", "field": f"{path}.{missing}"}
    if error.validator == "type":
        actual = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}.get(
            type(error.instance), "null")  # fmt: skip
        wanted = error.validator_value if isinstance(error.validator_value, str) else error.validator_value[0]
        return {"reason": "FieldValueTypeInvalid",
                "message": f'Invalid value: "{actual}": {path} in body must be of type {wanted}: "{actual}"',
                "field": path}  # fmt: skip
    if error.validator == "enum":
        supported = ", ".join(_go_value(v) for v in error.validator_value)
        return {"reason": "FieldValueNotSupported",
                "message": f"Unsupported value: {_go_value(error.instance)}: supported values: {supported}",
                "field": path}  # fmt: skip
    if error.validator == "maximum":
        return {"reason": "FieldValueInvalid",
                "message": f"Invalid value: {_go_value(error.instance)}: {path} in body should be less than or equal "
                           f"to {error.validator_value}", "field": path}  # fmt: skip
    if error.validator == "minimum":
        return {"reason": "FieldValueInvalid",
                "message": f"Invalid value: {_go_value(error.instance)}: {path} in body should be greater than or "
                           f"equal to {error.validator_value}", "field": path}  # fmt: skip
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {_go_value(error.instance)}: {error.message}",
            "field": path}  # fmt: skip


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _fields_v1(obj: dict) -> dict:
    """The ``fieldsV1`` set of a whole-object writer: labels, annotations, ownerReferences and spec
    keys (Istio's lists have no list-type, so each list is owned atomically)."""
    fields: dict[str, Any] = {}
    meta = obj.get("metadata") or {}
    meta_fields = {f"f:{k}": {".": {}, **{f"f:{n}": {} for n in meta[k]}} for k in ("labels", "annotations")
                   if meta.get(k)}  # fmt: skip
    if meta.get("ownerReferences"):
        meta_fields["f:ownerReferences"] = {".": {}, **{f'k:{{"uid":"{r.get("uid", "")}"}}': {}
                                                        for r in meta["ownerReferences"]}}  # fmt: skip
    if meta_fields:
        fields["f:metadata"] = meta_fields
    if isinstance(obj.get("spec"), dict):
        fields["f:spec"] = {".": {}, **{f"f:{k}": {} for k in obj["spec"]}}
    return fields


class _Refusal(Exception):
    def __init__(self, code: int, body: bytes) -> None:
        super().__init__(code)
        self.code = code
        self.body = body


class _NoAnswer(Exception):
    """The request was accepted and is never answered: the handler closes the connection."""


@dataclass(frozen=True)
class _Fault:
    answer: Literal["hang", 500, 503]
    after_persisting: bool


class _Server(ThreadingHTTPServer):
    # Room for many simultaneous writers (the default backlog of 5 would refuse connections).
    request_queue_size = 128


class FakeKubeApiServer:
    """The server and its store. ``url`` is ``http://127.0.0.1:<port>``; see the module docstring."""

    def __init__(self, user: str = "system:serviceaccount:meshui:meshui", versions: tuple[str, ...] = VERSIONS) -> None:
        self.user = user
        # The versions the CRDs serve: Istio before 1.22 has no v1 (its paths are then 404).
        self.versions = versions
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.resource_version = 1000
        self.denied: set[tuple[str, str]] = set()
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        # Called with (method, path) before a request is handled: lets a test act as another client
        # whose write lands between meshui's read and its write.
        self.before_handling: Callable[[str, str], None] | None = None
        self.writes_received = 0
        self.faults: dict[int, _Fault] = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.schemas = _load_schemas()
        self.httpd = _Server(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.stopping.set()  # hanging requests end (unanswered) with the server
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def deny(self, verb: str, plural: str) -> None:
        """RBAC: refuse ``verb`` (get, list, create, update, patch, delete) on ``plural``."""
        self.denied.add((verb, plural))

    def break_writes(self, number: int, answer: Literal["hang", 500, 503], *, count: int = 1,
                     after_persisting: bool = False) -> None:  # fmt: skip
        """Make write requests ``number`` .. ``number + count - 1`` (counted from 1 since the server
        started) fail with ``answer`` (see the module docstring). ``after_persisting`` (hang only)
        stores the write before the answer is lost."""
        if after_persisting and answer != "hang":
            raise ValueError("only a hanging write may be persisted: the 500 and 503 answers persist nothing")
        for index in range(number, number + count):
            self.faults[index] = _Fault(answer, after_persisting)

    def put_object(self, obj: dict, manager: str = "kubectl-client-side-apply") -> dict:
        """Store ``obj`` as if ``manager`` had created it (seeding); returns the stored object."""
        plural = next(p for p, k in KINDS.items() if k == obj["kind"])
        with self.lock:
            stored = self._prepare_create(plural, obj["metadata"].get("namespace", "default"), copy.deepcopy(obj),
                                          manager, obj["apiVersion"].split("/")[1])  # fmt: skip
            self._persist(plural, stored)
            return copy.deepcopy(stored)

    def replace_object(self, plural: str, obj: dict, manager: str) -> dict:
        """Update ``obj`` (its resourceVersion must be current) as ``manager`` would with a PUT."""
        meta = obj["metadata"]
        with self.lock:
            return self._update(
                plural,
                meta["namespace"],
                meta["name"],
                copy.deepcopy(obj),
                manager,
                obj["apiVersion"].split("/")[1],
                dry_run=False,
            )[1]

    def get_object(self, plural: str, namespace: str, name: str) -> dict | None:
        with self.lock:
            found = self.objects.get((plural, namespace, name))
            return copy.deepcopy(found) if found else None

    # --- semantics -------------------------------------------------------------------------

    def _now(self) -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _not_found(self, plural: str, name: str) -> _Refusal:
        return _Refusal(404, status_body(404, "NotFound", f'{plural}.{GROUP} "{name}" not found',
                                         {"name": name, "group": GROUP, "kind": plural}))  # fmt: skip

    def _conflict(self, plural: str, name: str) -> _Refusal:
        return _Refusal(409, status_body(
            409, "Conflict", f'Operation cannot be fulfilled on {plural}.{GROUP} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
            {"name": name, "group": GROUP, "kind": plural}))  # fmt: skip

    def _authorize(self, verb: str, plural: str, namespace: str | None, name: str | None, user: str) -> None:
        if (verb, plural) not in self.denied:
            return
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        subject = f'{plural}.{GROUP} "{name}"' if name else f"{plural}.{GROUP}"
        details = {"name": name, "group": GROUP, "kind": plural} if name else {"group": GROUP, "kind": plural}
        raise _Refusal(403, status_body(403, "Forbidden", f'{subject} is forbidden: User "{user}" cannot {verb} '
                                        f'resource "{plural}" in API group "{GROUP}" {scope}', details))  # fmt: skip

    def _validate(self, plural: str, version: str, obj: dict) -> None:
        name = (obj.get("metadata") or {}).get("name", "")
        causes = [_cause(e) for e in sorted(self.schemas[(plural, version)].iter_errors(obj.get("spec") or {}),
                                            key=lambda e: list(map(str, e.absolute_path)))]  # fmt: skip
        if not causes:
            return
        texts = [f"{c['field']}: {c['message']}" for c in causes]
        joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        raise _Refusal(
            422,
            status_body(
                422,
                "Invalid",
                f'{KINDS[plural]}.{GROUP} "{name}" is invalid: {joined}',
                {"name": name, "group": GROUP, "kind": KINDS[plural], "causes": causes},
            ),
        )

    def _manage(self, obj: dict, manager: str, version: str) -> None:
        entries = [e for e in obj["metadata"].get("managedFields") or []
                   if not (e.get("manager") == manager and e.get("operation") == "Update")]  # fmt: skip
        entries.append({"apiVersion": f"{GROUP}/{version}", "fieldsType": "FieldsV1", "fieldsV1": _fields_v1(obj),
                        "manager": manager, "operation": "Update", "time": self._now()})  # fmt: skip
        obj["metadata"]["managedFields"] = entries

    def _prepare_create(self, plural: str, namespace: str, obj: dict, manager: str, version: str) -> dict:
        meta = obj.setdefault("metadata", {})
        if meta.get("namespace", namespace) != namespace:
            raise _Refusal(400, status_body(400, "BadRequest", "the namespace of the provided object does not match "
                                            "the namespace sent on the request"))  # fmt: skip
        self._validate(plural, version, obj)
        if (plural, namespace, meta.get("name")) in self.objects:
            name = meta["name"]
            raise _Refusal(409, status_body(409, "AlreadyExists", f'{plural}.{GROUP} "{name}" already exists',
                                            {"name": name, "group": GROUP, "kind": plural}))  # fmt: skip
        obj.pop("status", None)
        meta.pop("resourceVersion", None)
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=self._now(), generation=1)
        self._manage(obj, manager, version)
        return obj

    def _persist(self, plural: str, obj: dict) -> None:
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        self.objects[(plural, obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj

    def _update(self, plural: str, namespace: str, name: str, new: dict, manager: str, version: str,
                dry_run: bool) -> tuple[int, dict]:  # fmt: skip
        current = self.objects.get((plural, namespace, name))
        if current is None:
            raise self._not_found(plural, name)
        sent = (new.get("metadata") or {}).get("resourceVersion")
        if not sent:
            raise _Refusal(422, status_body(
                422, "Invalid", f'{plural}.{GROUP} "{name}" is invalid: metadata.resourceVersion: Invalid value: 0: '
                "must be specified for an update",
                {"name": name, "group": GROUP, "kind": plural, "causes": [
                    {"reason": "FieldValueInvalid", "message": "Invalid value: 0: must be specified for an update",
                     "field": "metadata.resourceVersion"}]}))  # fmt: skip
        if sent != current["metadata"]["resourceVersion"]:
            raise self._conflict(plural, name)
        self._validate(plural, version, new)
        result = copy.deepcopy(new)
        meta = result.setdefault("metadata", {})
        for key in ("uid", "creationTimestamp", "generation", "namespace", "name"):
            meta[key] = current["metadata"][key]
        meta["managedFields"] = copy.deepcopy(current["metadata"].get("managedFields") or [])
        result.pop("status", None)
        if "status" in current:
            result["status"] = current["status"]
        if result.get("spec") != current.get("spec"):
            meta["generation"] = current["metadata"]["generation"] + 1
        same_body = {k: v for k, v in result.items() if k != "metadata"} == {
            k: v for k, v in current.items() if k != "metadata"}  # fmt: skip
        same_meta = all(meta.get(k) == current["metadata"].get(k) for k in ("labels", "annotations", "ownerReferences"))
        unchanged = same_body and same_meta
        if unchanged:
            return 200, copy.deepcopy(current)
        self._manage(result, manager, version)
        if dry_run:
            return 200, result
        self._persist(plural, result)
        return 200, copy.deepcopy(result)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
               raw: bytes) -> tuple[int, bytes]:  # fmt: skip
        """One request → (status, body). The single entry point of every verb."""
        self.requests.append((method, path, query))
        if self.before_handling is not None:
            self.before_handling(method, path)
        match = _PATH.match(path)
        if not match or match["plural"] not in KINDS or match["version"] not in self.versions:
            return 404, status_body(404, "NotFound", "the server could not find the requested resource",
                                    {})  # fmt: skip
        version, namespace, plural, name = match["version"], match["namespace"], match["plural"], match["name"]
        user = headers.get("Impersonate-User") or self.user
        manager = (query.get("fieldManager") or [""])[0] or (headers.get("User-Agent") or "unknown").split("/")[0]
        dry_run = (query.get("dryRun") or [""])[0] == "All"
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}.get(method, "")  # fmt: skip
        fault = self._fault(method)
        try:
            if fault is not None and not fault.after_persisting:
                self._fail(fault, method, plural)
            self._authorize(verb, plural, namespace, name, user)
            body = json.loads(raw) if raw and method != "PATCH" else None
            with self.lock:
                code, out = self._dispatch(method, version, namespace, plural, name, body, raw, headers, manager,
                                           dry_run, (query.get("fieldManager") or [""])[0],
                                           (query.get("force") or [""])[0] == "true")  # fmt: skip
            if fault is not None:
                self._fail(fault, method, plural)
        except _Refusal as refusal:
            return refusal.code, refusal.body
        if isinstance(out, bytes):
            return code, out
        return code, json.dumps(out, sort_keys=True, separators=(",", ":")).encode()

    def _fault(self, method: str) -> _Fault | None:
        """The fault set for this request when it is a write (each write request is numbered)."""
        if method == "GET":
            return None
        with self.lock:
            self.writes_received += 1
            return self.faults.get(self.writes_received)

    def _fail(self, fault: _Fault, method: str, plural: str) -> None:
        """Raise what ``fault`` answers; a hang waits for ``stop()`` (outside the store's lock)."""
        if fault.answer == "hang":
            self.stopping.wait()
            raise _NoAnswer
        if fault.answer == 503:
            raise _Refusal(503, status_body(503, "ServiceUnavailable", "apiserver is shutting down"))
        operation = {"POST": "create", "DELETE": "delete"}.get(method, "update")  # PATCH updates in the registry
        raise _Refusal(500, status_body(500, "ServerTimeout", f"The {operation} operation against {plural}.{GROUP} "
                                        "could not be completed at this time, please try again.",
                                        {"name": operation, "group": GROUP, "kind": plural,
                                         "retryAfterSeconds": 2}))  # fmt: skip

    def _apply(self, version: str, namespace: str, plural: str, name: str, raw: bytes, manager: str, force: bool,
               dry_run: bool) -> tuple[int, dict]:  # fmt: skip
        """Server-side apply at the granularity of spec's top-level fields (Istio's lists are atomic).

        Needs ``fieldManager`` (422); creates a missing object (201); a field another manager owns
        with a different value is a 409 conflict unless ``force=true`` moves the ownership; fields
        this manager applied before and leaves out now are removed.
        """
        if not manager:
            raise _Refusal(422, status_body(
                422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
                "for apply patch", {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                    {"reason": "FieldValueRequired", "message": "Required value: is required for apply patch",
                     "field": "fieldManager"}]}))  # fmt: skip
        applied = yaml.safe_load(raw.decode() or "{}") or {}
        applied.setdefault("metadata", {}).setdefault("name", name)
        current = self.objects.get((plural, namespace, name))
        if current is None:
            obj = self._prepare_create(plural, namespace, copy.deepcopy(applied), manager, version)
            obj["metadata"]["managedFields"][-1]["operation"] = "Apply"
            if not dry_run:
                self._persist(plural, obj)
            return 201, self._served(obj, version)
        wanted = applied.get("spec") or {}
        entries = current["metadata"].get("managedFields") or []
        conflicts = []
        for entry in entries:
            if entry.get("manager") == manager:
                continue
            owned = {k[2:] for k in ((entry.get("fieldsV1") or {}).get("f:spec") or {}) if k.startswith("f:")}
            for field in sorted(owned & set(wanted)):
                if wanted[field] != (current.get("spec") or {}).get(field):
                    conflicts.append((entry, field))
        if conflicts and not force:
            raise _Refusal(409, self._apply_conflict(conflicts))
        previous = next((e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"), None)
        before = {k[2:] for k in (((previous or {}).get("fieldsV1") or {}).get("f:spec") or {}) if k.startswith("f:")}
        spec = dict(current.get("spec") or {})
        for field in before - set(wanted):
            spec.pop(field, None)
        spec.update(wanted)
        new = _merge_patch(current, {k: v for k, v in applied.items() if k not in ("spec", "status")})
        new["spec"] = spec
        new["metadata"]["resourceVersion"] = applied["metadata"].get("resourceVersion") or current["metadata"][
            "resourceVersion"]  # fmt: skip
        code, obj = self._update(plural, namespace, name, new, manager, version, dry_run)
        taken = {field for _, field in conflicts}
        others = [e for e in obj["metadata"].get("managedFields") or [] if e.get("manager") != manager]
        for entry in others:
            for field in taken:
                ((entry.get("fieldsV1") or {}).get("f:spec") or {}).pop(f"f:{field}", None)
        obj["metadata"]["managedFields"] = [*others, {
            "apiVersion": f"{GROUP}/{version}", "fieldsType": "FieldsV1",
            "fieldsV1": _fields_v1({"metadata": applied["metadata"], "spec": wanted}), "manager": manager,
            "operation": "Apply", "time": self._now()}]  # fmt: skip
        if not dry_run:
            self.objects[(plural, namespace, name)] = obj
        return code, self._served(obj, version)

    def _apply_conflict(self, conflicts: list[tuple[dict, str]]) -> bytes:
        def who(entry: dict) -> str:
            text = f'"{entry["manager"]}"'
            if entry.get("operation") == "Update":
                text += f" using {entry.get('apiVersion')}"
                if entry.get("time"):
                    text += f" at {entry['time']}"
            return text

        causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {who(e)}", "field": f".spec.{f}"}
                  for e, f in conflicts]  # fmt: skip
        if len(conflicts) == 1:
            message = f"Apply failed with 1 conflict: conflict with {who(conflicts[0][0])}: .spec.{conflicts[0][1]}"
        else:
            by_manager: dict[str, list[str]] = {}
            for entry, field in conflicts:
                by_manager.setdefault(who(entry), []).append(f".spec.{field}")
            parts = [f"conflicts with {m}:\n" + "\n".join(f"- {p}" for p in paths)
                     for m, paths in sorted(by_manager.items())]  # fmt: skip
            message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(parts)
        return status_body(409, "Conflict", message, {"causes": causes})

    def _served(self, obj: dict, version: str) -> dict:
        out = copy.deepcopy(obj)
        out["apiVersion"] = f"{GROUP}/{version}"
        return out

    def _dispatch(self, method: str, version: str, namespace: str | None, plural: str, name: str | None,
                  body: Any, raw: bytes, headers: Any, manager: str, dry_run: bool, manager_param: str = "",
                  force: bool = False) -> tuple[int, Any]:  # fmt: skip
        if method == "GET" and name is None:
            items = [self._served(o, version) for (p, ns, _), o in sorted(self.objects.items())
                     if p == plural and (namespace is None or ns == namespace)]  # fmt: skip
            return 200, {"apiVersion": f"{GROUP}/{version}", "items": items, "kind": f"{KINDS[plural]}List",
                         "metadata": {"continue": "", "resourceVersion": str(self.resource_version)}}  # fmt: skip
        if method in ("POST", "PUT") and isinstance(body, dict) and body.get("apiVersion") != f"{GROUP}/{version}":
            raise _Refusal(
                400,
                status_body(
                    400,
                    "BadRequest",
                    f"the API version in the data ({body.get('apiVersion')})"
                    f" does not match the expected API version ({GROUP}/{version})",
                ),
            )
        if method == "POST" and name is None and namespace:
            obj = self._prepare_create(plural, namespace, body, manager, version)
            if dry_run:
                return 201, self._served(obj, version)
            self._persist(plural, obj)
            return 201, self._served(obj, version)
        if name is None or namespace is None:
            raise _Refusal(405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the "
                                            "requested resource", {}))  # fmt: skip
        current = self.objects.get((plural, namespace, name))
        if method == "GET":
            if current is None:
                raise self._not_found(plural, name)
            return 200, self._served(current, version)
        if method == "PUT":
            code, obj = self._update(plural, namespace, name, body, manager, version, dry_run)
            return code, self._served(obj, version)
        if method == "PATCH" and headers.get("Content-Type", "").split(";")[0] == APPLY_PATCH:
            return self._apply(version, namespace, plural, name, raw, manager_param, force, dry_run)
        if method == "PATCH":
            if headers.get("Content-Type", "").split(";")[0] != MERGE_PATCH:
                raise _Refusal(
                    415,
                    status_body(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an "
                        f"unknown format - accepted media types include: {ACCEPTED_PATCHES}",
                    ),
                )
            if current is None:
                raise self._not_found(plural, name)
            patch = json.loads(raw)
            merged = _merge_patch(current, patch)
            if not ((patch.get("metadata") or {}).get("resourceVersion")):
                merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            code, obj = self._update(plural, namespace, name, merged, manager, version, dry_run)
            return code, self._served(obj, version)
        if method == "DELETE":
            if current is None:
                raise self._not_found(plural, name)
            wanted = ((body or {}).get("preconditions") or {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise self._conflict(plural, name)
            if not dry_run:
                del self.objects[(plural, namespace, name)]
            return 200, status_body(
                200,
                "",
                "",
                {"name": name, "group": GROUP, "kind": plural, "uid": current["metadata"]["uid"]},
                status="Success",
            )
        raise _Refusal(405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the "
                                        "requested resource", {}))  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Go's net/http (the real API server) sets TCP_NODELAY; without it the headers and the
            # body leave as two segments and delayed ACKs add ~40 ms to every keep-alive request.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    code, body = server.handle(self.command, parts.path, parse_qs(parts.query), self.headers, raw)
                except _NoAnswer:
                    self.close_connection = True
                    return
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hanging_listener() -> socket.socket:
    """A socket that accepts connections (kernel backlog) and never answers. Close it in teardown."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return listener


def kubeconfig(url: str, path: Path, context: str = "fake") -> Path:
    """Write a kubeconfig whose ``context`` points at ``url`` with a bearer token; returns ``path``."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "loopback", "cluster": {"server": url}}],
        "users": [{"name": "meshui", "user": {"token": "loopback-token"}}],
        "contexts": [{"name": context, "context": {"cluster": "loopback", "user": "meshui"}}],
    }), encoding="utf-8")  # fmt: skip
    return path
