"""Schemathesis hooks of the meshui run (loaded through ``SCHEMATHESIS_HOOKS``).

Two rules of the API have no JSON Schema keyword, so the schema states them in words and in
an extension, and ``before_call`` keeps generated values inside them before each call:

* a duration's range in seconds (``x-duration-seconds``): its pattern says what a Prometheus
  duration looks like, not that ``0s`` or ``99w`` is out of range or ``1500ms`` not whole;
* ``query_time``'s upper bound, "now + MAX_FUTURE_SKEW_S", which moves with the clock.

Only values the schema allows are changed (a grammatical duration, a number), and only into
values it also allows, so a negative case stays negative and a positive one stays positive.

Two refusals of schema-valid requests are the contract, and ``filter_failure`` drops exactly
those "valid data should have been accepted" failures (Schemathesis counts them as dropped):
a traffic change whose body the service's current routing refuses (400 ``invalid_traffic``:
weights summing to 100, subsets that exist — no schema can state them), and a well-formed
If-Match naming a version that is not the current one (412 ``stale_version``, RFC 9110).
Every other check, and every other answer of these operations, is still held to the schema.
"""

from __future__ import annotations

import re
import time
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

from topology.api.params import DURATION_PATTERN, MAX_FUTURE_SKEW_S, format_duration, parse_duration_s

_DURATION = re.compile(DURATION_PATTERN.removesuffix("$") + r"\Z", re.ASCII)


def _in_range_duration(value: Any, bounds: dict[str, int]) -> Any:
    if not isinstance(value, str) or not _DURATION.match(value):
        return value
    seconds = parse_duration_s(value)
    if seconds == int(seconds) and bounds["minimum"] <= seconds <= bounds["maximum"]:
        return value
    return format_duration(bounds["minimum"] if seconds < bounds["minimum"] else bounds["maximum"])


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    if not case.query:
        return
    for parameter in case.operation.query:
        name = parameter.name
        if name not in case.query:
            continue
        schema = parameter.definition.get("schema", {})
        bounds = schema.get("x-duration-seconds")
        if bounds is not None:
            case.query[name] = _in_range_duration(case.query[name], bounds)
        value = case.query[name]
        if name == "query_time" and isinstance(value, int | float) and value > time.time() + MAX_FUTURE_SKEW_S - 60:
            case.query[name] = int(time.time())


# operationId → the error codes with which it may refuse a schema-valid request (see above).
_CONTRACT_REFUSALS = {"traffic_change": {"invalid_traffic", "stale_version"}, "traffic_remove": {"stale_version"}}


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext, failure: Exception, case: schemathesis.Case, response: schemathesis.Response
) -> bool:
    refusals = _CONTRACT_REFUSALS.get(case.operation.definition.raw.get("operationId", ""))
    if not refusals or not isinstance(failure, RejectedPositiveData):
        return True
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return True
    return code not in refusals
