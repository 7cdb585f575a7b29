"""Checks of Istio resources: the real CRD schema, then semantic checks (pure: no Django).

* ``schema``: ``spec`` against the ``networking.istio.io/v1`` openAPIV3Schema carried in
  ``traffic/schemas/`` (copied from istio/api's CRDs). As the API server does, nulls are
  dropped first and ``nullable`` is honoured; the CEL rules (``x-kubernetes-validations``)
  are not evaluated.
* semantic, each with a stable ``code`` (Kiali's or istioctl's equivalent in the message):
  ``weights_sum`` (route weights must sum to 100), ``subset_not_found`` (KIA1107 / IST0101),
  ``unreachable_rule`` (IST0130), ``ineffective_match`` (IST0131),
  ``multiple_virtual_services`` (KIA1106), ``gateway_not_found`` (KIA1102) and
  ``host_not_found`` (a warning: telemetry never saw the host).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from traffic.parse import (
    DESTINATION_RULE,
    VIRTUAL_SERVICE,
    canonical_host,
    name_of,
    namespace_of,
    spec_of,
)
from traffic.specs import DNS1123_LABEL

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
_SCHEMA_FILES = {VIRTUAL_SERVICE: "virtualservice.v1.json", DESTINATION_RULE: "destinationrule.v1.json"}
ERROR, WARNING = "error", "warning"
# Codes that refuse a write when the write introduces them (warnings included).
BLOCKING = frozenset({"schema", "weights_sum", "subset_not_found", "invalid_name", "unreachable_rule",
                      "ineffective_match"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Validation:
    """One finding on one resource; ``path`` is Kiali-style (``spec/http[0]/route[1]/destination``)."""

    code: str
    severity: str
    message: str
    path: str
    kind: str
    name: str
    namespace: str

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


def _nullable_to_types(node: Any) -> Any:
    """A copy of an OpenAPI schema with ``nullable: true`` turned into JSON-schema ``type: [t, "null"]``."""
    if isinstance(node, dict):
        result = {key: _nullable_to_types(value) for key, value in node.items() if key != "nullable"}
        if node.get("nullable") and isinstance(node.get("type"), str):
            result["type"] = [node["type"], "null"]
        return result
    if isinstance(node, list):
        return [_nullable_to_types(item) for item in node]
    return node


@cache
def _validator(kind: str) -> Draft7Validator:
    schema = json.loads((SCHEMA_DIR / _SCHEMA_FILES[kind]).read_text())["schema"]
    return Draft7Validator(_nullable_to_types(schema))


def _drop_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _drop_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_drop_nulls(item) for item in node]
    return node


def _path(parts: Iterable[Any]) -> str:
    text = "spec"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f"/{part}"
    return text


def _finding(resource: Mapping[str, Any], code: str, severity: str, message: str, path: str) -> Validation:
    return Validation(code, severity, message, path, str(resource.get("kind")), name_of(resource),
                      namespace_of(resource))  # fmt: skip


def schema_errors(resource: Mapping[str, Any]) -> list[Validation]:
    """Where ``resource`` breaks its CRD schema or naming rules (empty when it is valid)."""
    kind = resource.get("kind")
    found: list[Validation] = []
    name = name_of(resource)
    if len(name) > 253 or not all(DNS1123_LABEL.match(part) for part in name.split(".")):
        message = f"{name[:80]!r} is not a DNS-1123 name"
        found.append(_finding(resource, "invalid_name", ERROR, message, "metadata/name"))
    if kind not in _SCHEMA_FILES:
        return found
    spec = _drop_nulls(resource.get("spec") or {})
    for error in sorted(_validator(str(kind)).iter_errors(spec), key=lambda e: list(map(str, e.absolute_path))):
        path = _path(error.absolute_path)
        found.append(_finding(resource, "schema", ERROR, f"{path.replace('/', '.')}: {error.message[:300]}", path))
    return found


def _route_lists(vs: Mapping[str, Any]) -> Iterable[tuple[str, list]]:
    for kind in ("http", "tcp", "tls"):
        routes = spec_of(vs).get(kind)
        if isinstance(routes, list):
            yield kind, routes


def _subsets_by_host(resources: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """FQDN → subset names over every DestinationRule (and ServiceEntry-backed rule) given."""
    found: dict[str, set[str]] = {}
    for resource in resources:
        if resource.get("kind") != DESTINATION_RULE:
            continue
        host = canonical_host(str(spec_of(resource).get("host", "")), namespace_of(resource))
        names = {str(s.get("name")) for s in spec_of(resource).get("subsets") or []}
        found.setdefault(host, set()).update(names)
    return found


def check_weights(vs: Mapping[str, Any]) -> list[Validation]:
    found = []
    for kind, routes in _route_lists(vs):
        for index, route in enumerate(routes):
            entries = route.get("route") or []
            weights = [entry.get("weight") for entry in entries if isinstance(entry, dict)]
            if len(entries) > 1 and any(w is not None for w in weights):
                total = sum(w or 0 for w in weights)
                if total != 100:
                    found.append(_finding(vs, "weights_sum", ERROR, f"route weights sum to {total}, not 100",
                                          f"spec/{kind}[{index}]/route"))  # fmt: skip
    return found


def check_subsets(vs: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Validation]:
    """A destination naming a subset that no DestinationRule for its host defines (KIA1107, IST0101)."""
    subsets = _subsets_by_host(resources)
    namespace = namespace_of(vs)
    found = []
    for kind, routes in _route_lists(vs):
        for index, route in enumerate(routes):
            targets = [(f"route[{i}]/destination", e.get("destination") or {})
                       for i, e in enumerate(route.get("route") or []) if isinstance(e, dict)]  # fmt: skip
            if isinstance(route.get("mirror"), dict):
                targets.append(("mirror", route["mirror"]))
            for where, destination in targets:
                subset = destination.get("subset")
                if not subset:
                    continue
                host = canonical_host(str(destination.get("host", "")), namespace)
                if subset not in subsets.get(host, set()):
                    found.append(_finding(
                        vs, "subset_not_found", WARNING,
                        f"subset {subset!r} of host {host} is not defined by any DestinationRule (KIA1107, IST0101)",
                        f"spec/{kind}[{index}]/{where}",
                    ))
    return found


def _without_name(match: Any) -> str:
    if not isinstance(match, dict):
        return json.dumps(match, sort_keys=True)
    return json.dumps({k: v for k, v in match.items() if k != "name"}, sort_keys=True)


def _covers(earlier: Any, later: Any) -> bool:
    """True when HTTP match ``earlier`` catches every request ``later`` would: same conditions
    except a URI prefix of which ``later``'s URI prefix is an extension (istio's overlap rule)."""
    if not isinstance(earlier, dict) or not isinstance(later, dict):
        return False
    first, second = earlier.get("uri") or {}, later.get("uri") or {}
    if "prefix" not in first or "prefix" not in second or not str(second["prefix"]).startswith(str(first["prefix"])):
        return False
    rest = {k: v for k, v in earlier.items() if k not in ("uri", "name")}
    return all(later.get(key) == value for key, value in rest.items())


def check_matches(vs: Mapping[str, Any]) -> list[Validation]:
    """Rules nothing can reach (IST0130) and matches an earlier one already catches (IST0131)."""
    found = []
    for kind, routes in _route_lists(vs):
        seen: list[tuple[str, Any]] = []
        catch_all_at: int | None = None
        for index, route in enumerate(routes):
            path = f"spec/{kind}[{index}]"
            matches = route.get("match") or []
            if catch_all_at is not None:
                found.append(_finding(vs, "unreachable_rule", WARNING,
                                      f"{kind} rule {index} is never used: rule {catch_all_at} has no match and "
                                      "catches every request (IST0130)", path))  # fmt: skip
                continue
            if not matches:
                catch_all_at = index
                continue
            duplicates = 0
            local: list[tuple[str, Any]] = []
            for position, match in enumerate(matches):
                key = _without_name(match)
                if any(key == other for other, _ in seen):
                    duplicates += 1
                    found.append(_finding(vs, "ineffective_match", WARNING,
                                          f"match {position} of {kind} rule {index} repeats an earlier match (IST0131)",
                                          f"{path}/match[{position}]"))  # fmt: skip
                elif kind == "http" and any(_covers(other, match) for _, other in seen + local):
                    found.append(_finding(vs, "ineffective_match", WARNING,
                                          f"match {position} of {kind} rule {index} is covered by an earlier URI "
                                          "prefix (IST0131)", f"{path}/match[{position}]"))  # fmt: skip
                local.append((key, match))
            if duplicates == len(matches):
                found.append(_finding(vs, "unreachable_rule", WARNING,
                                      f"{kind} rule {index} is never used: its matches all repeat earlier ones "
                                      "(IST0130)", path))  # fmt: skip
            seen.extend(local)
    return found


def check_gateways(vs: Mapping[str, Any], gateways: set[str]) -> list[Validation]:
    """Gateways named by ``vs`` that do not exist (KIA1102); ``gateways`` holds ``namespace/name``."""
    namespace = namespace_of(vs)
    found = []

    def missing(name: str) -> bool:
        full = name if "/" in name else f"{namespace}/{name}"
        return name != "mesh" and full not in gateways

    for index, name in enumerate(spec_of(vs).get("gateways") or []):
        if missing(str(name)):
            found.append(_finding(vs, "gateway_not_found", ERROR, f"gateway {name!r} does not exist (KIA1102)",
                                  f"spec/gateways[{index}]"))  # fmt: skip
    for kind, routes in _route_lists(vs):
        for index, route in enumerate(routes):
            for position, match in enumerate(route.get("match") or []):
                for name in (match or {}).get("gateways") or []:
                    if missing(str(name)):
                        found.append(_finding(vs, "gateway_not_found", ERROR,
                                              f"gateway {name!r} does not exist (KIA1102)",
                                              f"spec/{kind}[{index}]/match[{position}]/gateways"))  # fmt: skip
    return found


def check_hosts(vs: Mapping[str, Any], known_hosts: set[str]) -> list[Validation]:
    """Destinations to a cluster host telemetry never saw: a warning, never a refusal."""
    namespace = namespace_of(vs)
    found = []
    for kind, routes in _route_lists(vs):
        for index, route in enumerate(routes):
            for position, entry in enumerate(route.get("route") or []):
                host = canonical_host(str(((entry or {}).get("destination") or {}).get("host", "")), namespace)
                if host.endswith(".svc.cluster.local") and host not in known_hosts:
                    found.append(_finding(vs, "host_not_found", WARNING, f"telemetry has never seen host {host}",
                                          f"spec/{kind}[{index}]/route[{position}]/destination"))  # fmt: skip
    return found


def validate_all(
    resources: Sequence[Mapping[str, Any]], known_hosts: set[str] | None = None
) -> list[Validation]:
    """Every finding on the VirtualServices and DestinationRules of ``resources``.

    ``resources`` should hold every resource of the namespaces involved (rules, gateways) so
    subsets and gateways resolve; ``known_hosts`` (FQDNs) enables ``host_not_found``.
    """
    found: list[Validation] = []
    gateways = {f"{namespace_of(r)}/{name_of(r)}" for r in resources if r.get("kind") == "Gateway"}
    hosts: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for resource in resources:
        kind = resource.get("kind")
        if kind not in _SCHEMA_FILES:
            continue
        found.extend(schema_errors(resource))
        if kind == VIRTUAL_SERVICE:
            found.extend(check_weights(resource))
            found.extend(check_subsets(resource, resources))
            found.extend(check_matches(resource))
            found.extend(check_gateways(resource, gateways))
            if known_hosts is not None:
                found.extend(check_hosts(resource, known_hosts))
            namespace = namespace_of(resource)
            for host in spec_of(resource).get("hosts") or []:
                hosts.setdefault((namespace, canonical_host(str(host), namespace)), []).append(resource)
    for (_, host), services in hosts.items():
        if len(services) > 1:
            for resource in services:
                message = f"more than one VirtualService for host {host} (KIA1106)"
                found.append(_finding(resource, "multiple_virtual_services", WARNING, message, "spec/hosts"))
    return found


def introduced_problems(before: Sequence[Validation], after: Sequence[Validation]) -> list[Validation]:
    """Blocking findings in ``after`` that ``before`` did not have (a write must not add any)."""
    known = {(v.code, v.kind, v.name, v.path) for v in before}
    return [v for v in after if (v.severity == ERROR or v.code in BLOCKING)
            and (v.code, v.kind, v.name, v.path) not in known]  # fmt: skip
