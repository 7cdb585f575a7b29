"""Writes: validate → write through the backend → record in the audit log.

``change_traffic`` (PATCH), ``delete_traffic`` (DELETE) and ``revert_change`` share one path,
``_execute``: read the snapshot (fresh, never a cached read: see ``traffic.backends.base``),
check If-Match (``StaleVersion``), check the owner (``ForeignOwner`` unless forced), compute the
resources after the change, validate them (a write may not introduce a schema error or a
blocking semantic finding: ``InvalidTraffic`` naming the resource path), plan the ordered
writes and hand them to the backend with a compare-and-swap on the version read. Without
If-Match a lost race is retried a few times.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import yaml
from django.db import transaction

from traffic.backends.base import MeshBackend, Snapshot
from traffic.errors import ForeignOwner, InvalidTraffic, RevertConflict, StaleVersion
from traffic.fetch import seen_versions, service_resources, state_of
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
# Without If-Match a write that loses a race is recomputed on the fresh state this many times.
MAX_ATTEMPTS = 5


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


def _short(value: Any) -> str:
    if value in (None, {}, []):
        return "none"
    if isinstance(value, dict) and all(isinstance(v, int) for v in value.values()):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return json.dumps(value, separators=(",", ":"))[:80]


def summarize(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """``weights: v1 100 → v1 90, v2 10; timeout: none → 2s`` (the fields that changed)."""
    parts = [
        f"{name}: {_short(before.get(name))} → {_short(after.get(name))}"
        for name in PATCH_FIELDS if before.get(name) != after.get(name)
    ]  # fmt: skip
    return "; ".join(parts)[:480] or "no change to the model"


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
    versions = seen_versions(namespace, service)
    for _ in range(MAX_ATTEMPTS):
        # The caller's fresh read serves the first attempt; a retry reads again.
        snapshot, read = read or backend.snapshot(namespace, service, fresh=True), None
        check_if_match(snapshot, if_match)
        parsed = parse_service(snapshot.resources, namespace, service, versions)
        _check_owner(parsed, force, actor)
        vs_before, vs_after, dr_before, dr_after = target(parsed)
        writes = plan_writes(namespace, vs_before, vs_after, dr_before, dr_after)
        after_resources = _replace(snapshot.resources, writes)
        problems = introduced_problems(validate_all(snapshot.resources), validate_all(after_resources))
        if problems:
            first = problems[0]
            raise InvalidTraffic(
                message=f"the change would make {first.kind} {first.namespace}/{first.name} invalid: {first.message}",
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
            continue
        # The state meshui has just written, on top of the read it was computed from.
        state = state_of(parsed_after, change.version_after, after_resources, synced_at=snapshot.synced_at,
                         from_cache=snapshot.from_cache)  # fmt: skip
        return Outcome(state, diff, labels, change=change)
    raise StaleVersion(message=f"{namespace}/{service} kept changing during the write; try again")


def change_traffic(
    backend: MeshBackend, namespace: str, service: str, patch: Any, *, actor: Actor,
    if_match: str | None = None, dry_run: bool = False, force: bool = False, read: Snapshot | None = None,
) -> Outcome:  # fmt: skip
    """Apply a PATCH body (``weights``, ``routes``, ``fault``, ``timeout``, ``retries``, ``circuit_breaker``).

    ``read``: a fresh snapshot the caller already made (to check If-Match first), used instead of
    reading again.

    Raises ``StaleVersion`` (412), ``ForeignOwner`` (409), ``InvalidTraffic`` (400, naming the
    field) or ``WriteFailed`` (502); returns the new state (or the would-be state on dry run).
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
