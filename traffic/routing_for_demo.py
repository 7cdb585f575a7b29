"""The local backend's change log as the demo mesh's routing history.

``history_from_states`` is pure: it turns ``(changed_at, namespace, service, state)`` records
(``state`` = the API JSON of the routing after a change) into what
``demo.simulate.RoutingProvider`` returns: ``{(namespace, service): [(unix_time, RoutingPolicy)]}``
oldest first. ``local_routing_history`` reads those records from the audit log of the
``local`` backend; pass it as ``DemoTelemetrySource(mesh, seed=..., routing=local_routing_history)``.
The default route reaches the demo as weights by the subsets' ``version`` label, abort, delay
and timeout; the match routes as ``demo.simulate.MatchRoute``s in order, their weights mapped
the same way, their ``headers`` and ``withoutHeaders`` as header conditions the demo's requests
are tested against (``demo.simulate.HEADER_CLASSES``), and any other condition of a block
(``uri``, ``method``, ``queryParams``, ``sourceLabels`` ...) named as unsupported, so that block
never matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from demo.simulate import Abort, Delay, HeaderCondition, MatchBlock, MatchRoute, RoutingPolicy
from traffic.specs import duration_seconds

# Conditions of an HTTPMatchRequest the demo tests; ``ignoreUriCase`` only qualifies ``uri``.
_HEADER_KEYS = {"headers": False, "withoutHeaders": True}
_NOT_A_CONDITION = frozenset({"ignoreUriCase"})


def policy_of(state: Mapping[str, Any]) -> RoutingPolicy:
    """The demo policy of one traffic state (no weights: even split, as Kubernetes does)."""
    versions = {s["name"]: (s.get("labels") or {}).get("version", s["name"]) for s in state.get("subsets") or []}
    fault = state.get("fault") or {}
    abort = fault.get("abort")
    delay = fault.get("delay")
    timeout = state.get("timeout")
    return RoutingPolicy(
        weights=_by_version(state.get("weights") or {}, versions),
        abort=Abort(float(abort["percent"]), int(abort["http_status"])) if abort else None,
        delay=Delay(float(delay["percent"]), duration_seconds(delay["fixed_delay"]) * 1000.0) if delay else None,
        timeout_ms=duration_seconds(timeout) * 1000.0 if timeout else None,
        routes=tuple(
            MatchRoute(tuple(_block_of(block) for block in route["match"]), _by_version(route["weights"], versions))
            for route in state.get("routes") or ()
        ),
    )


def _by_version(weights: Mapping[str, float], versions: Mapping[str, str]) -> dict[str, float]:
    """Weights per subset as weights per ``version`` label (subsets selecting one version add up)."""
    result: dict[str, float] = {}
    for subset, weight in weights.items():
        version = versions.get(subset, subset)
        result[version] = result.get(version, 0.0) + float(weight)
    return result


def _block_of(match: Mapping[str, Any]) -> MatchBlock:
    """One HTTPMatchRequest of the API state as a demo match block."""
    conditions = tuple(
        HeaderCondition(name, kind, text, negated=negated)
        for key, negated in _HEADER_KEYS.items()
        for name, string_match in (match.get(key) or {}).items()
        for kind, text in string_match.items()
    )
    unsupported = tuple(sorted(set(match) - _HEADER_KEYS.keys() - _NOT_A_CONDITION))
    return MatchBlock(conditions, unsupported)


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

    rows = (
        TrafficChange.objects.filter(backend="local")
        .order_by("id")
        .values_list("created_at", "namespace", "service", "after")
    )
    return history_from_states((created.timestamp(), ns, svc, after) for created, ns, svc, after in rows)
