"""The local backend's change log as the demo mesh's routing history.

``history_from_states`` is pure: it turns ``(changed_at, namespace, service, state)`` records
(``state`` = the API JSON of the routing after a change) into what
``demo.simulate.RoutingProvider`` returns: ``{(namespace, service): [(unix_time, RoutingPolicy)]}``
oldest first. ``local_routing_history`` reads those records from the audit log of the
``local`` backend; pass it as ``DemoTelemetrySource(mesh, seed=..., routing=local_routing_history)``.
Only the default route reaches the demo (weights by the subsets' ``version`` label, abort,
delay, timeout): its simulated clients carry no headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from demo.simulate import Abort, Delay, RoutingPolicy
from traffic.specs import duration_seconds


def policy_of(state: Mapping[str, Any]) -> RoutingPolicy:
    """The demo policy of one traffic state (no weights: even split, as Kubernetes does)."""
    versions = {s["name"]: (s.get("labels") or {}).get("version", s["name"]) for s in state.get("subsets") or []}
    weights: dict[str, float] = {}
    for subset, weight in (state.get("weights") or {}).items():
        version = versions.get(subset, subset)
        weights[version] = weights.get(version, 0.0) + float(weight)
    fault = state.get("fault") or {}
    abort = fault.get("abort")
    delay = fault.get("delay")
    timeout = state.get("timeout")
    return RoutingPolicy(
        weights=weights,
        abort=Abort(float(abort["percent"]), int(abort["http_status"])) if abort else None,
        delay=Delay(float(delay["percent"]), duration_seconds(delay["fixed_delay"]) * 1000.0) if delay else None,
        timeout_ms=duration_seconds(timeout) * 1000.0 if timeout else None,
    )


def history_from_states(
    records: Iterable[tuple[float, str, str, Mapping[str, Any]]],
) -> dict[tuple[str, str], list[tuple[float, RoutingPolicy]]]:
    """Per service, the policies in force from each change on, oldest first."""
    history: dict[tuple[str, str], list[tuple[float, RoutingPolicy]]] = {}
    for changed_at, namespace, service, state in sorted(records, key=lambda r: r[0]):
        history.setdefault((namespace, service), []).append((changed_at, policy_of(state)))
    return history


def local_routing_history() -> dict[tuple[str, str], list[tuple[float, RoutingPolicy]]]:
    """The demo's routing history from the ``local`` backend's audit log (one query)."""
    from traffic.models import TrafficChange

    rows = TrafficChange.objects.filter(backend="local").order_by("id").values_list(
        "created_at", "namespace", "service", "after"
    )
    return history_from_states((created.timestamp(), ns, svc, after) for created, ns, svc, after in rows)
