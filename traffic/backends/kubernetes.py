"""The ``kubernetes`` backend: Istio routing read and written through the Kubernetes API server.

* Client: the official ``kubernetes`` package. ``MESHUI_KUBECONFIG`` (+ ``MESHUI_KUBE_CONTEXT``)
  when set, else the in-cluster service account. Every request carries
  ``_request_timeout=(MESHUI_KUBE_TIMEOUT_S, MESHUI_KUBE_TIMEOUT_S)`` and urllib3 retries are off,
  so an API server that is down or hangs costs one timeout: ``KubernetesUnavailable`` (503).
* Resources: ``networking.istio.io`` VirtualService and DestinationRule, read at the newest
  version the server serves (``v1``, else ``v1beta1``, else ``v1alpha3``: same schema) and
  written at the version of the object's own ``apiVersion``.
* Version of a service: a digest of ``(kind, name, resourceVersion)`` of the service's
  VirtualServices and DestinationRules, so any write to them (meshui's, kubectl's, a
  controller's) changes it.
* Reads are kept per process for ``MESHUI_KUBE_CACHE_TTL_S`` (``READ_CACHE``: per API server,
  namespace or all, kind; single flight, so concurrent readers of a namespace share one LIST;
  0 turns it off). ``fresh=True`` reads (every write path: the If-Match check, the state a
  change is computed from, ``apply``'s re-read, the state a 412 reports) go to the server and
  refresh what is kept; ``apply`` forgets the namespace's lists once it has written, so this
  process's next read shows meshui's own write. Reads made for a user (impersonation) are never
  answered from the cache nor kept in it: that user's RBAC judges them, not meshui's.
* Writes: create = POST, update = PUT carrying the ``resourceVersion`` read (the API server's
  optimistic lock), delete = DELETE with a ``resourceVersion`` precondition; field manager
  ``meshui``. A 409 from the server (Conflict or AlreadyExists) means someone wrote since the
  read: ``StaleVersion`` (412) with ``details.version`` and ``details.current`` (the state
  now). A failure at step N undoes steps 1..N-1 newest first, each with the resourceVersion its
  own write returned; if every undo succeeds, the error of step N is raised (nothing was
  written), else ``WriteFailed`` naming each step. A step that got no answer (timeout, lost
  connection, 5xx) may have been applied all the same: its kind is listed again, and if it was
  applied it is undone too. The undo stops at the first step it cannot undo (or whose outcome
  it cannot learn): undoing older steps under a newer one could leave a state that no prefix
  of the make-before-break plan has, such as a route to a subset already removed.
* Error mapping: 422 Invalid / 400 → ``InvalidTraffic`` (400) with the server's causes; 403 →
  ``KubernetesForbidden`` (403) naming verb, resource and namespace; connection errors,
  timeouts and 5xx → ``KubernetesUnavailable`` (503).
* ``check_writes`` runs the writes with ``dryRun=All`` (the server's admission and schema
  checks, nothing persisted): what backs meshui's ``dry_run``.
* ``MESHUI_KUBE_IMPERSONATE``: writes and reads made for a user carry ``Impersonate-User`` so the
  cluster's RBAC decides (the service account then needs only ``impersonate`` on users).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from django.conf import settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from meshui.errors import MeshuiError
from traffic.backends.base import Listing, MeshBackend, Snapshot, register, utc_now
from traffic.backends.list_cache import ListCache
from traffic.errors import BackendUnavailable, InvalidTraffic, StaleVersion, WriteFailed
from traffic.parse import destination_rules_for, virtual_services_for
from traffic.render import Write

T = TypeVar("T")
GROUP = "networking.istio.io"
VERSIONS = ("v1", "v1beta1", "v1alpha3")
PLURALS = {"VirtualService": "virtualservices", "DestinationRule": "destinationrules"}
FIELD_MANAGER = "meshui"
# Server-set metadata a create must not carry (the server assigns it; managedFields is the
# server's record of writers, never sent back).
_SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "deletionTimestamp")
_FORBIDDEN = re.compile(r'cannot (?P<verb>\w+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
                        r'(?: in the namespace "(?P<namespace>[^"]+)")?')  # fmt: skip
# The lists read in this process: (items, API version served) per (API server, namespace, plural);
# two kinds for up to 256 namespaces (or all of them) at a time.
READ_CACHE: ListCache[tuple[tuple[dict, ...], str]] = ListCache(max_entries=512)


class KubernetesUnavailable(BackendUnavailable):
    """The API server cannot be reached, does not answer within the timeout, or fails (5xx)."""

    code = "kubernetes_unavailable"
    status = 503


class KubernetesForbidden(MeshuiError):
    """RBAC refused a request; ``details`` name the verb, resource, group and namespace missing."""

    code = "kubernetes_forbidden"
    status = 403


@dataclass(frozen=True)
class _Done:
    """An applied step and what undoes it."""

    write: Write
    result: dict | None  # the object the server returned (None for a delete)


def _timeout() -> float:
    return float(getattr(settings, "MESHUI_KUBE_TIMEOUT_S", 5.0))


def _cache_ttl() -> float:
    return float(getattr(settings, "MESHUI_KUBE_CACHE_TTL_S", 5.0))


def _api_client() -> client.ApiClient:
    """An ``ApiClient`` from ``MESHUI_KUBECONFIG`` (+ context) or the in-cluster service account.

    Shared per configuration (and kubeconfig file modification time) so requests reuse the
    connection pool. Raises ``KubernetesUnavailable`` when neither gives a configuration.
    """
    path = getattr(settings, "MESHUI_KUBECONFIG", "")
    context = getattr(settings, "MESHUI_KUBE_CONTEXT", "") or None
    try:
        stamp = os.stat(path).st_mtime_ns if path else 0
    except OSError as error:
        raise KubernetesUnavailable(message=f"MESHUI_KUBECONFIG {path} cannot be read: {error.strerror}",
                                    details={"reason": str(error)[:300]}) from None  # fmt: skip
    return _cached_client(path, context, stamp)


@functools.lru_cache(maxsize=8)
def _cached_client(path: str, context: str | None, stamp: int) -> client.ApiClient:
    configuration = client.Configuration()
    try:
        if path:
            config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        else:
            # The in-cluster loader refreshes the projected service-account token by itself.
            config.load_incluster_config(client_configuration=configuration)
    except (ConfigException, OSError) as error:
        raise KubernetesUnavailable(message=f"no Kubernetes configuration: {error}",
                                    details={"reason": str(error)[:300]}) from None  # fmt: skip
    # One attempt per call: the bound on a down or hanging server is the timeout, not a multiple of it.
    configuration.retries = 0
    return client.ApiClient(configuration)


def _status(error: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _version_of(resource: dict | None) -> str:
    return str(((resource or {}).get("metadata") or {}).get("resourceVersion") or "")


def _holds(stored: dict, body: dict) -> bool:
    """Whether the ``stored`` object carries what ``body`` sets (spec, labels and annotations)."""
    meta, sent = stored.get("metadata") or {}, body.get("metadata") or {}
    return stored.get("spec") == body.get("spec") and all(
        (meta.get(key) or {}) == (sent.get(key) or {}) for key in ("labels", "annotations"))  # fmt: skip


def _for_create(body: dict) -> dict:
    out = copy.deepcopy(body)
    metadata = out.setdefault("metadata", {})
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    out.pop("status", None)
    return out


def _for_update(body: dict, resource_version: str) -> dict:
    out = copy.deepcopy(body)
    metadata = out.setdefault("metadata", {})
    metadata.pop("managedFields", None)
    metadata["resourceVersion"] = resource_version
    out.pop("status", None)
    return out


def service_version(resources: Sequence[dict], namespace: str, service: str) -> str:
    """The version of ``namespace/service``: a digest of its routing resources' resourceVersions."""
    mine = virtual_services_for(resources, namespace, service) + destination_rules_for(resources, namespace, service)
    keys = sorted((str(r.get("kind")), str(r["metadata"].get("name")), _version_of(r)) for r in mine)
    return "k" + hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:32] if keys else "k0"


@register
class KubernetesBackend(MeshBackend):
    """Resources live in the cluster; see the module docstring for the contract and the errors."""

    name = "kubernetes"
    _locks: dict[tuple[str, str], threading.Lock] = {}
    _locks_guard = threading.Lock()

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self.api = client.CustomObjectsApi(api_client or _api_client())
        self.timeout = _timeout()
        self.impersonate = ""
        self.served: str | None = None

    @property
    def host(self) -> str:
        """The API server's URL, as the client configuration names it."""
        return str(self.api.api_client.configuration.host)

    # --- calls -----------------------------------------------------------------------------

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``method`` with the timeout (and impersonation); transport failures → KubernetesUnavailable."""
        if self.impersonate:
            kwargs["_headers"] = {"Impersonate-User": self.impersonate}
        try:
            return method(*args, _request_timeout=(self.timeout, self.timeout), **kwargs)
        except ApiException as error:
            if error.status is None or error.status == 0 or error.status >= 500:
                raise KubernetesUnavailable(
                    message=f"the Kubernetes API server failed: {error.status} {error.reason}",
                    details={"reason": str(error.reason)[:300], "status_code": error.status},
                ) from None
            raise
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise KubernetesUnavailable(
                message=f"the Kubernetes API server at {self.host} did not answer within {self.timeout:g}s: "
                f"{type(error).__name__}",
                details={"reason": str(error)[:300], "host": self.host},
            ) from None

    def _refusal(self, error: ApiException, write: Write | None = None) -> MeshuiError:
        """The meshui error for an API error answer (not a 409: the caller decides about those)."""
        status = _status(error)
        message = str(status.get("message") or error.reason)
        if error.status == 403:
            found = _FORBIDDEN.search(message)
            details = found.groupdict() if found else {}
            return KubernetesForbidden(message=f"Kubernetes RBAC refused: {message}",
                                       details={**details, "status_message": message})  # fmt: skip
        if error.status in (400, 422):
            causes = (status.get("details") or {}).get("causes") or []
            field = causes[0].get("field") if causes else None
            where = f"{write.kind}/{write.name}/{field}" if write and field else (field or "")
            return InvalidTraffic(
                message=f"the Kubernetes API server refused the change: {message}",
                field=where or None,
                details={"causes": causes, "status_message": message},
            )
        if error.status == 404 and (write is None or (write.previous is None and write.body is not None)):
            return KubernetesUnavailable(message=f"the API server does not serve {GROUP} {self.served or ''} "
                                         f"here: {message}", details={"status_code": 404})  # fmt: skip
        if error.status == 404:
            return StaleVersion(message=f"{message}: it was deleted since it was read; read the routing again")
        return KubernetesUnavailable(message=f"unexpected answer from the Kubernetes API server: {error.status} "
                                     f"{message}", details={"status_code": error.status})  # fmt: skip

    def _load(self, plural: str, namespace: str | None) -> tuple[tuple[dict, ...], str]:
        """Every object of ``plural`` (in ``namespace``; None: all) from the server, at the newest
        version it serves, and that version."""
        for version in [self.served] if self.served else VERSIONS:
            try:
                if namespace is None:
                    found = self._call(self.api.list_cluster_custom_object, GROUP, version, plural)
                else:
                    found = self._call(self.api.list_namespaced_custom_object, GROUP, version, namespace, plural)
            except ApiException as error:
                if error.status == 404 and not self.served:
                    continue  # this Istio does not serve that version: try the older one
                raise self._refusal(error) from None
            self.served = version
            return tuple(found.get("items") or []), version
        raise KubernetesUnavailable(message=f"the API server serves no {GROUP} version of {plural} "
                                    f"({', '.join(VERSIONS)}): is Istio installed?")  # fmt: skip

    def _list(self, plural: str, namespace: str | None, fresh: bool) -> Listing:
        """``plural`` in ``namespace`` through ``READ_CACHE`` (``fresh``: from the server, refreshing
        what is kept); the objects are the caller's own copy."""
        ttl = _cache_ttl()
        if self.impersonate or ttl <= 0:
            synced_at = utc_now()
            return Listing(self._load(plural, namespace)[0], synced_at)
        key = (self.host, namespace, plural)
        load = functools.partial(self._load, plural, namespace)
        read = READ_CACHE.refresh(key, load) if fresh else READ_CACHE.get(key, ttl, load)
        items, served = read.value
        self.served = self.served or served
        # What is kept is shared by every request of the process: nobody may change it in place.
        return Listing(copy.deepcopy(items), read.synced_at, read.from_cache)

    def _both_kinds(self, namespace: str | None, fresh: bool) -> Listing:
        """VirtualServices then DestinationRules, synced when the older of the two lists was read."""
        services = self._list("virtualservices", namespace, fresh)
        rules = self._list("destinationrules", namespace, fresh)
        return Listing(services.resources + rules.resources, min(services.synced_at, rules.synced_at),
                       services.from_cache or rules.from_cache)  # fmt: skip

    # --- reading ---------------------------------------------------------------------------

    def snapshot(self, namespace: str, service: str, *, fresh: bool = False) -> Snapshot:
        """The namespace's VirtualServices and DestinationRules as the server returns them
        (``managedFields`` and ``ownerReferences`` included: they tell foreign owners), from the
        read cache unless ``fresh``."""
        listed = self._both_kinds(namespace, fresh)
        return Snapshot(namespace, service, listed.resources, service_version(listed.resources, namespace, service),
                        listed.synced_at, listed.from_cache)  # fmt: skip

    def listing(self, namespace: str | None) -> Listing:
        return self._both_kinds(namespace, fresh=False)

    def list_resources(self, namespace: str | None) -> list[dict]:
        return list(self.listing(namespace).resources)

    # --- writing ---------------------------------------------------------------------------

    def _write(self, write: Write, resource_version: str, dry_run: bool = False) -> dict | None:
        """One step against the server, at the version it serves (the body's ``apiVersion`` must
        match the URL's); returns the stored object (None for a delete)."""
        plural = PLURALS[write.kind]
        options = {"field_manager": FIELD_MANAGER, "dry_run": "All" if dry_run else None}
        version = self.served or self._served_version(write.namespace)
        if write.body is None:
            body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"resourceVersion": resource_version}}
            self._call(self.api.delete_namespaced_custom_object, GROUP, version, write.namespace, plural, write.name,
                       body=body, dry_run=options["dry_run"])  # fmt: skip
            return None
        api_version = f"{GROUP}/{version}"
        if write.previous is None:
            return self._call(self.api.create_namespaced_custom_object, GROUP, version, write.namespace, plural,
                              {**_for_create(write.body), "apiVersion": api_version}, **options)  # fmt: skip
        return self._call(self.api.replace_namespaced_custom_object, GROUP, version, write.namespace, plural,
                          write.name, {**_for_update(write.body, resource_version), "apiVersion": api_version},
                          **options)  # fmt: skip

    def _served_version(self, namespace: str) -> str:
        """The newest version the server serves, probed with a list in ``namespace`` (a write
        normally follows a snapshot, which already found it)."""
        self._load("virtualservices", namespace)
        return self.served or VERSIONS[0]

    def check_writes(self, writes: Sequence[Write], *, actor: Any = None) -> None:
        """Run ``writes`` with ``dryRun=All``: the server validates, authorizes and persists nothing.

        Raises what ``apply`` raises for the same step (``InvalidTraffic``, ``KubernetesForbidden``,
        ``StaleVersion``, ``KubernetesUnavailable``); returns None when the server accepts all.
        """
        self.impersonate = self._impersonated(actor)
        for write in writes:
            try:
                self._write(write, _version_of(write.previous), dry_run=True)
            except ApiException as error:
                if error.status == 409:
                    reason = _status(error).get("message", error.reason)
                    raise StaleVersion(message=f"{write.label}: {reason}") from None
                raise self._refusal(error, write) from None

    def _impersonated(self, actor: Any) -> str:
        if not getattr(settings, "MESHUI_KUBE_IMPERSONATE", False):
            return ""
        return str(getattr(actor, "username", "") or "")

    def _lock(self, namespace: str, service: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((namespace, service), threading.Lock())

    def apply(
        self,
        namespace: str,
        service: str,
        writes: Sequence[Write],
        expected_version: str,
        record: Callable[[str], T],
        *,
        actor: Any = None,
        message: str = "",
    ) -> T:
        """Perform ``writes`` in order with the API server's optimistic lock; see the module docstring.

        The process-wide lock per service keeps this process's writers in line (so ``record``
        runs before the next one reads); other processes and other clients are held off by the
        resourceVersion preconditions.
        """
        self.impersonate = self._impersonated(actor)
        with self._lock(namespace, service):
            current = self.snapshot(namespace, service, fresh=True)
            if current.version != expected_version:
                raise StaleVersion(message=f"the routing of {namespace}/{service} changed since version "
                                           f"{expected_version[:40]}: read it again",
                                   details=self._current(namespace, service))  # fmt: skip
            stored = {(r.get("kind"), r["metadata"].get("name")): r for r in current.resources}
            done: list[_Done] = []
            try:
                for write in writes:
                    seen = stored.get((write.kind, write.name))
                    try:
                        result = self._write(write, _version_of(seen))
                    except (ApiException, KubernetesUnavailable) as error:
                        raise self._failed(namespace, service, write, seen, error, done) from None
                    done.append(_Done(write, result))
                    if result is None:
                        stored.pop((write.kind, write.name), None)
                    else:
                        stored[(write.kind, write.name)] = result
                return record(service_version(list(stored.values()), namespace, service))
            finally:
                # Written, undone or refused: the lists kept of the namespace may be older than the cluster.
                for touched in {namespace, *(write.namespace for write in writes)}:
                    READ_CACHE.forget(self.host, touched)

    def _failed(self, namespace: str, service: str, write: Write, seen: dict | None,
                error: ApiException | KubernetesUnavailable, done: list[_Done]) -> MeshuiError:  # fmt: skip
        """The error to raise after ``write`` (to the object read as ``seen``) failed: undo what was
        applied, newest first, and say what happened (see the module docstring)."""
        cause: MeshuiError
        if isinstance(error, KubernetesUnavailable):
            cause = error
        elif error.status == 409:
            cause = StaleVersion(
                message=f"{write.label}: {_status(error).get('message', error.reason)}; read the routing again"
            )
        else:
            cause = self._refusal(error, write)
        steps = list(done)
        failures: list[dict[str, str]] = []
        if isinstance(error, KubernetesUnavailable):
            # No answer is not a refusal: the server may have applied the step before it hung or died.
            try:
                applied_anyway, now = self._outcome(write, seen)
            except MeshuiError as unknown:
                failures.append({"step": write.label, "reason": f"unknown whether it was applied: {unknown}"[:300]})
            else:
                if applied_anyway:
                    steps.append(_Done(write, now))
        undone: list[str] = []
        for step in [] if failures else reversed(steps):
            try:
                self._undo(step)
            except (ApiException, KubernetesUnavailable) as undo_error:
                failures.append({"step": step.write.label, "reason": str(getattr(undo_error, "body", "") or
                                                                          undo_error)[:300]})  # fmt: skip
                break  # the older steps stay applied: see the module docstring
            undone.append(step.write.label)
        applied = [step.write.label for step in done]
        if failures:
            return WriteFailed(
                f"{write.label} failed ({cause.message}); UNDO FAILED for {', '.join(f['step'] for f in failures)}: "
                "check the cluster",
                {"applied": applied, "failed": write.label, "compensated": False, "undone": undone,
                 "undo_failures": failures, "reason": cause.message, "cause": cause.code},
            )  # fmt: skip
        if not steps:
            if isinstance(cause, StaleVersion):
                cause.details = self._current(namespace, service)
            return cause
        cause.details = {**(cause.details or {}), "applied": applied, "failed": write.label, "compensated": True,
                         "undone": undone}  # fmt: skip
        if isinstance(cause, StaleVersion):
            cause.details.update(self._current(namespace, service))
        return cause

    def _outcome(self, write: Write, seen: dict | None) -> tuple[bool, dict | None]:
        """Whether ``write``, which got no answer, was applied all the same, and its object now.

        Lists the kind again (the permission the snapshot needed, no other): a delete was
        applied when the object is gone; a create or an update when the object holds what
        meshui sent under a resourceVersion other than the one read. Raises what ``_load``
        raises when the server cannot tell either.
        """
        items, _ = self._load(PLURALS[write.kind], write.namespace)
        now = next((o for o in items if (o.get("metadata") or {}).get("name") == write.name), None)
        if write.body is None:
            return now is None, None
        if now is None or _version_of(now) == _version_of(seen):
            return False, now
        return _holds(now, write.body), now

    def _current(self, namespace: str, service: str) -> dict[str, Any]:
        """``{"version", "current"}``: the service's state now, for a 412 (empty when it cannot be read)."""
        from traffic.fetch import traffic_state  # fetch imports the backend package: import at call time

        try:
            state = traffic_state(self, namespace, service, fresh=True)
        except MeshuiError:
            return {}
        return {"version": state["version"], "current": state}

    def _undo(self, step: _Done) -> None:
        """Put back what ``step`` changed, guarded by the resourceVersion ``step`` itself produced."""
        write = step.write
        if write.previous is None:
            self._write(Write(write.kind, write.namespace, write.name, None, step.result), _version_of(step.result))
        elif write.body is None:
            self._write(Write(write.kind, write.namespace, write.name, _for_create(write.previous), None), "")
        else:
            self._write(Write(write.kind, write.namespace, write.name, write.previous, step.result),
                        _version_of(step.result))  # fmt: skip
