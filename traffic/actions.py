"""Writes: validate → write through the backend → record in the audit log.

``change_traffic`` (PATCH), ``delete_traffic`` (DELETE) and ``revert_change`` share one path,
``_execute``: read the snapshot (fresh, never a cached read: see ``traffic.backends.base``),
check If-Match (``StaleVersion``), check that the service exists (``UnknownTarget`` unless
forced), check the owner (``ForeignOwner`` unless forced), compute the
resources after the change, validate them (a write may not introduce a schema error or a
blocking semantic finding: ``InvalidTraffic`` naming the resource path), plan the ordered
writes and hand them to the backend with a compare-and-swap on the version read.

Concurrent writers (decision 0021): the writes of one service queue behind one lock per process,
so meshui's own writers in a process never race; a compare-and-swap still lost (another process,
kubectl, a git push) is, without If-Match, recomputed on a fresh read after a short random pause
until ``MESHUI_WRITE_CONTENTION_S`` runs out (``WriteContention``, 409 with Retry-After). With
If-Match a lost race is the caller's to resolve: ``StaleVersion`` (412) at once.
"""

from __future__ import annotations

import difflib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction

from traffic.backends.base import MeshBackend, Snapshot
from traffic.errors import ForeignOwner, InvalidTraffic, RevertConflict, StaleVersion, UnknownTarget, WriteContention
from traffic.fetch import seen_services, seen_versions, service_resources, state_of
from traffic.models import TrafficChange
from traffic.parse import (
    DESTINATION_RULE,
    VIRTUAL_SERVICE,
    ParsedService,
    name_of,
    namespace_of,
    parse_service,
)
from traffic.render import Write, plan_writes, render
from traffic.specs import PATCH_FIELDS, SpecError, apply_patch, cleared, to_wire
from traffic.validate import introduced_problems, validate_all

FOREIGN_OWNERS = ("flagger", "argo-rollouts")
# Pause before recomputing a write that lost a compare-and-swap: random in [0, cap), the cap
# doubling from the first to the last value so that racing processes spread out.
RETRY_PAUSE_S = (0.02, 0.5)

# One lock per (backend, namespace, service): the writers of one service in this process queue.
_service_locks: dict[tuple[str, str, str], threading.Lock] = {}
_service_locks_guard = threading.Lock()


def _service_lock(backend: MeshBackend, namespace: str, service: str) -> threading.Lock:
    with _service_locks_guard:
        return _service_locks.setdefault((backend.name, namespace, service), threading.Lock())


@dataclass(frozen=True)
class Actor:
    """Who writes: always the authenticated principal, never a value from the request body."""

    user: Any
    username: str
    auth_method: str
    is_admin: bool = False


@dataclass
class Outcome:
    """The result of a write: the state after it, and what was (or would be) done."""

    state: dict[str, Any]
    diff: str
    writes: list[str]
    change: TrafficChange | None = None
    dry_run: bool = False
    warnings: list[dict] = field(default_factory=list)


def _key(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(resource.get("kind")), namespace_of(resource), name_of(resource))


def _replace(resources: Sequence[dict], writes: Sequence[Write]) -> list[dict]:
    """``resources`` after ``writes``."""
    result = {_key(r): r for r in resources}
    for write in writes:
        key = (write.kind, write.namespace, write.name)
        if write.body is None:
            result.pop(key, None)
        else:
            result[key] = write.body
    return list(result.values())


def _yaml_of(resources: Sequence[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for resource in sorted(resources, key=_key):
        lines.append("---\n")
        lines.extend(yaml.safe_dump(dict(resource), sort_keys=False).splitlines(keepends=True))
    return lines


def unified_diff(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> str:
    """A unified diff of the YAML of two sets of resources."""
    return "".join(difflib.unified_diff(_yaml_of(before), _yaml_of(after), "before", "after"))


_STRING_MATCH_WORDS = {"exact": "=", "prefix": "starts with", "regex": "matches"}


def _string_match(match: Mapping[str, Any]) -> str:
    ((kind, text),) = match.items()
    return f"{_STRING_MATCH_WORDS.get(kind, kind)} {text}"


def _condition(match: Mapping[str, Any]) -> str:
    """One Istio HTTPMatchRequest in words: ``header x-group = test and uri starts with /api``."""
    words = []
    for key, value in match.items():
        if key in ("headers", "queryParams", "withoutHeaders") and isinstance(value, Mapping):
            noun = {"headers": "header", "queryParams": "query", "withoutHeaders": "no header"}[key]
            words.extend(f"{noun} {name} {_string_match(m)}" for name, m in value.items())
        elif key in ("uri", "method", "scheme", "authority") and isinstance(value, Mapping):
            words.append(f"{key} {_string_match(value)}")
        else:
            words.append(f"{key} {json.dumps(value, separators=(',', ':'))}")
    return " and ".join(words)


def _weights(weights: Mapping[str, Any]) -> str:
    return ", ".join(f"{subset} {weight}" for subset, weight in weights.items())


def _short(name: str, value: Any) -> str:
    """A field of the model in words, as the change list shows it."""
    if value in (None, {}, []):
        return "none"
    if name == "weights":
        return _weights(value)
    if name == "routes":
        return "; ".join(f"{' or '.join(_condition(m) for m in route['match'])} → {_weights(route['weights'])}"
                         for route in value)  # fmt: skip
    if name == "fault":
        parts = []
        if value.get("abort"):
            parts.append(f"abort {value['abort']['http_status']} for {value['abort']['percent']:g}%")
        if value.get("delay"):
            parts.append(f"delay {value['delay']['fixed_delay']} for {value['delay']['percent']:g}%")
        return " and ".join(parts) or "none"
    if name == "retries":
        text = f"{value['attempts']} attempts"
        if value.get("per_try_timeout"):
            text += f", {value['per_try_timeout']} each"
        if value.get("retry_on"):
            text += f", on {value['retry_on']}"
        return text
    if name == "circuit_breaker":
        return ", ".join(f"{key.replace('_', ' ')} {item}" for key, item in value.items())
    return str(value)


def summarize(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """``weights: v1 100 → v1 90, v2 10; timeout: none → 2s`` (the fields that changed, in words:
    ``routes: none → header x-group = test → v3 100``, ``fault: none → abort 503 for 10%``)."""
    parts = [
        f"{name.replace('_', ' ')}: {_short(name, before.get(name))} → {_short(name, after.get(name))}"
        for name in PATCH_FIELDS if before.get(name) != after.get(name)
    ]  # fmt: skip
    return "; ".join(parts)[:480] or "no change to the model"


def _check_exists(snapshot: Snapshot, parsed: ParsedService, force: bool) -> None:
    """``UnknownTarget`` (404) when neither telemetry (the last hour) nor the backend's routing
    knows the service, unless ``force`` (an admin's). When telemetry is unavailable meshui cannot
    tell and lets the write through: routing must stay editable while Prometheus is down."""
    if force or parsed.vs is not None or parsed.dr is not None or parsed.others:
        return
    seen = seen_services()
    namespace, service = snapshot.namespace, snapshot.service
    if seen is None or (namespace, service) in seen:
        return
    hint = "; an admin may write anyway with ?force=true (e.g. for a service that has had no traffic yet)"
    namespace_known = any(ns == namespace for ns, _ in seen) or any(
        namespace_of(r) == namespace for r in snapshot.resources
    )
    if not namespace_known:
        raise UnknownTarget("unknown_namespace", f"namespace {namespace!r} is in no telemetry of the last hour and "
                            f"holds no routing{hint}", "namespace")  # fmt: skip
    raise UnknownTarget("unknown_service", f"service {namespace}/{service} is in no telemetry of the last hour "
                        f"and has no routing{hint}", "service")  # fmt: skip


def _check_owner(parsed: ParsedService, force: bool, actor: Actor) -> None:
    if parsed.owner in FOREIGN_OWNERS and not force:
        raise ForeignOwner(
            message=f"{parsed.owner} manages the routing of {parsed.spec.namespace}/{parsed.spec.service}; an admin "
            "may override with ?force=true",
            details={"owner": parsed.owner},
        )


def _pair(resources: Sequence[Mapping[str, Any]], kind: str) -> dict | None:
    return next((dict(r) for r in resources if r.get("kind") == kind), None)


def _record(fields: dict[str, Any], new_version: str) -> TrafficChange:
    """The audit row of an applied change (called by the backend inside its critical section)."""
    with transaction.atomic():
        return TrafficChange.objects.create(**fields, version_after=new_version)


def check_if_match(snapshot: Snapshot, if_match: str | None) -> None:
    """``StaleVersion`` (412) when ``if_match`` is given and is not the version of ``snapshot``
    (a fresh read: a cached version could refuse a current If-Match or pass a stale one)."""
    if if_match is not None and if_match != snapshot.version:
        raise StaleVersion(
            message=f"If-Match {if_match[:40]!r} is stale: the current version is "
            f"{snapshot.version!r}; read the routing again"
        )


@contextmanager
def _queued(backend: MeshBackend, namespace: str, service: str, patience_s: float) -> Iterator[None]:
    """Hold the service's write lock of this process, waiting at most ``patience_s``."""
    lock = _service_lock(backend, namespace, service)
    if not lock.acquire(timeout=patience_s):
        raise _contention(namespace, service, patience_s)
    try:
        yield
    finally:
        lock.release()


def _contention(namespace: str, service: str, patience_s: float) -> WriteContention:
    return WriteContention(
        message=f"{namespace}/{service} kept changing under concurrent writers for {patience_s:g} s; nothing was "
        "written: try again, or send If-Match to be told at once"
    )


def _execute(
    backend: MeshBackend,
    namespace: str,
    service: str,
    target: Callable[[ParsedService], tuple[dict | None, dict | None, dict | None, dict | None]],
    *,
    actor: Actor,
    operation: str,
    if_match: str | None,
    dry_run: bool,
    force: bool,
    reverts: TrafficChange | None = None,
    read: Snapshot | None = None,
) -> Outcome:
    patience_s = float(getattr(settings, "MESHUI_WRITE_CONTENTION_S", 10.0))
    deadline = time.monotonic() + patience_s
    with _queued(backend, namespace, service, patience_s):
        versions = seen_versions(namespace, service)
        pause_cap_s = RETRY_PAUSE_S[0]
        while True:
            # The caller's fresh read serves the first attempt; a retry reads again.
            snapshot, read = read or backend.snapshot(namespace, service, fresh=True), None
            check_if_match(snapshot, if_match)
            parsed = parse_service(snapshot.resources, namespace, service, versions)
            # A revert puts back what an audited change found: the service existed then.
            _check_exists(snapshot, parsed, force or reverts is not None)
            _check_owner(parsed, force, actor)
            vs_before, vs_after, dr_before, dr_after = target(parsed)
            writes = plan_writes(namespace, vs_before, vs_after, dr_before, dr_after)
            after_resources = _replace(snapshot.resources, writes)
            problems = introduced_problems(validate_all(snapshot.resources), validate_all(after_resources))
            if problems:
                first = problems[0]
                raise InvalidTraffic(
                    message=f"the change would make {first.kind} {first.namespace}/{first.name} invalid: "
                    f"{first.message}",
                    field=f"{first.kind}/{first.name}/{first.path}",
                    details={"validations": [p.to_wire() for p in problems]},
                )
            parsed_after = parse_service(after_resources, namespace, service, versions)
            before_mine = service_resources(parsed)
            after_mine = service_resources(parsed_after)
            diff = unified_diff(before_mine, after_mine)
            labels = [w.label for w in writes]
            if dry_run and writes:
                # The store vets the writes without keeping them (Kubernetes: dryRun=All runs the
                # API server's schema, webhooks and RBAC), so a dry run fails where the write would.
                backend.check_writes(writes, actor=actor.user)
            if dry_run or not writes:
                state = state_of(parsed_after, snapshot.version, after_resources, synced_at=snapshot.synced_at,
                                 from_cache=snapshot.from_cache)  # fmt: skip
                return Outcome(state, diff, labels, dry_run=dry_run)
            summary = (f"revert of change #{reverts.pk}" if reverts
                       else summarize(to_wire(parsed.spec), to_wire(parsed_after.spec)))  # fmt: skip
            if operation == "delete":
                summary = "removed meshui routing: " + summary

            record = partial(_record, dict(
                actor=actor.username, actor_user=actor.user, auth_method=actor.auth_method,
                backend=backend.name, namespace=namespace, service=service, operation=operation,
                summary=summary, before={**to_wire(parsed.spec), "owner": parsed.owner},
                after={**to_wire(parsed_after.spec), "owner": parsed_after.owner},
                before_resources=before_mine, after_resources=after_mine, diff=diff,
                version_before=snapshot.version, reverts=reverts,
            ))  # fmt: skip
            try:
                change = backend.apply(
                    namespace,
                    service,
                    writes,
                    snapshot.version,
                    record,
                    actor=actor.user,
                    message=f"meshui: {namespace}/{service}: {summary} (by {actor.username})",
                )
            except StaleVersion:
                if if_match is not None:
                    raise
                pause_s = random.uniform(0, pause_cap_s)
                if time.monotonic() + pause_s >= deadline:
                    raise _contention(namespace, service, patience_s) from None
                time.sleep(pause_s)
                pause_cap_s = min(pause_cap_s * 2, RETRY_PAUSE_S[1])
                continue
            # The state meshui has just written, on top of the read it was computed from.
            state = state_of(parsed_after, change.version_after, after_resources, synced_at=snapshot.synced_at,
                             from_cache=snapshot.from_cache)  # fmt: skip
            return Outcome(state, diff, labels, change=change)


def change_traffic(
    backend: MeshBackend, namespace: str, service: str, patch: Any, *, actor: Actor,
    if_match: str | None = None, dry_run: bool = False, force: bool = False, read: Snapshot | None = None,
) -> Outcome:  # fmt: skip
    """Apply a PATCH body (``weights``, ``routes``, ``fault``, ``timeout``, ``retries``, ``circuit_breaker``).

    ``read``: a fresh snapshot the caller already made (to check If-Match first), used instead of
    reading again.

    Raises ``StaleVersion`` (412), ``UnknownTarget`` (404), ``ForeignOwner`` (409),
    ``WriteContention`` (409), ``InvalidTraffic`` (400, naming the field) or ``WriteFailed``
    (502); returns the new state (or the would-be state on dry run).
    """

    def target(parsed: ParsedService) -> tuple[dict | None, dict | None, dict | None, dict | None]:
        try:
            new = apply_patch(parsed.spec, patch, [s.name for s in parsed.available_subsets])
        except SpecError as error:
            raise InvalidTraffic(message=error.message, field=error.field) from None
        touches_default = isinstance(patch, dict) and {"weights", "fault", "timeout", "retries"} & set(patch)
        if touches_default and not parsed.default_editable:
            raise InvalidTraffic(
                message="the default route of this VirtualService sends traffic to other hosts; meshui does not "
                "edit it (edit the resource by hand)",
                field="weights",
            )
        vs_after, dr_after = render(parsed.spec, new, parsed.vs, parsed.dr, parsed.available_subsets)
        return parsed.vs, vs_after, parsed.dr, dr_after

    return _execute(backend, namespace, service, target, actor=actor, operation="patch", if_match=if_match,
                    dry_run=dry_run, force=force, read=read)  # fmt: skip


def delete_traffic(
    backend: MeshBackend, namespace: str, service: str, *, actor: Actor,
    if_match: str | None = None, dry_run: bool = False, force: bool = False, read: Snapshot | None = None,
) -> Outcome:  # fmt: skip
    """Remove the routing meshui manages for the service (its own resources go; hand-written
    ones lose only the managed parts). Raises and reads as ``change_traffic``."""

    def target(parsed: ParsedService) -> tuple[dict | None, dict | None, dict | None, dict | None]:
        vs_after, dr_after = render(parsed.spec, cleared(parsed.spec), parsed.vs, parsed.dr, parsed.available_subsets)
        return parsed.vs, vs_after, parsed.dr, dr_after

    return _execute(backend, namespace, service, target, actor=actor, operation="delete", if_match=if_match,
                    dry_run=dry_run, force=force, read=read)  # fmt: skip


def revert_change(backend: MeshBackend, change: TrafficChange, *, actor: Actor, force: bool = False) -> Outcome:
    """Put back the resources as they were before ``change`` if nothing changed since.

    Raises ``RevertConflict`` (409, ``details.diff`` = current → before) when the service's
    version is no longer ``change.version_after``; the revert is itself a recorded change.
    """
    if change.backend != backend.name:
        raise RevertConflict(
            message=f"change #{change.pk} was made on the {change.backend} backend, meshui now uses {backend.name}"
        )
    snapshot = backend.snapshot(change.namespace, change.service, fresh=True)
    if snapshot.version != change.version_after:
        parsed = parse_service(snapshot.resources, change.namespace, change.service)
        raise RevertConflict(
            message=f"{change.namespace}/{change.service} changed after change #{change.pk}: revert by hand or "
            "with a new change",
            details={"diff": unified_diff(service_resources(parsed), change.before_resources),
                     "version": snapshot.version},
        )  # fmt: skip

    def target(parsed: ParsedService) -> tuple[dict | None, dict | None, dict | None, dict | None]:
        before, after = change.before_resources, change.after_resources
        vs_now = parsed.vs if parsed.vs is not None else _pair(after, VIRTUAL_SERVICE)
        dr_now = parsed.dr if parsed.dr is not None else _pair(after, DESTINATION_RULE)
        return vs_now, _pair(before, VIRTUAL_SERVICE), dr_now, _pair(before, DESTINATION_RULE)

    return _execute(backend, change.namespace, change.service, target, actor=actor, operation="revert",
                    if_match=change.version_after, dry_run=False, force=force, reverts=change,
                    read=snapshot)  # fmt: skip
