"""The OpenAPI description of the traffic API: shapes, parameters, headers and error answers.

Documentation only: the views validate with ``traffic.specs`` (which names the failing field)
and answer plain dicts; these serializers describe those dicts for ``/api/v1/schema/`` so a
script author sees every field, parameter and status code without reading the code. A test
(tests/unit/traffic/test_traffic_openapi.py) checks that real answers carry every field
described here.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, inline_serializer
from rest_framework import serializers

from meshui.openapi import FORBIDDEN, NO_ENDPOINT, NOT_AUTHENTICATED, error_response
from traffic.api.serializers import CHANGES_DEFAULT_LIMIT, CHANGES_MAX_LIMIT, CHANGES_SINCE_MAX, IF_MATCH_PATTERN
from traffic.specs import DNS1123_LABEL_PATTERN

# --- the state of one service --------------------------------------------------------------


class SubsetSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="DNS-1123 label, e.g. v1")
    labels = serializers.DictField(child=serializers.CharField(), help_text="pod labels the subset selects")


class MatchRouteSerializer(serializers.Serializer):
    match = serializers.ListField(
        child=serializers.DictField(),
        help_text="Istio HTTPMatchRequest objects (any of them matches), e.g. "
        '[{"headers": {"x-group": {"exact": "test"}}}]; header names lower-case',
    )
    weights = serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=100),
                                    help_text="subset → weight, integers summing to 100")  # fmt: skip


class AbortSerializer(serializers.Serializer):
    http_status = serializers.IntegerField(min_value=200, max_value=599)
    percent = serializers.FloatField(min_value=0, max_value=100)


class DelaySerializer(serializers.Serializer):
    fixed_delay = serializers.CharField(help_text="a duration from 1ms to 1h, e.g. 2s or 500ms")
    percent = serializers.FloatField(min_value=0, max_value=100)


class FaultSerializer(serializers.Serializer):
    abort = AbortSerializer(allow_null=True, required=False)
    delay = DelaySerializer(allow_null=True, required=False)


class RetriesSerializer(serializers.Serializer):
    attempts = serializers.IntegerField(min_value=0, max_value=100)
    per_try_timeout = serializers.CharField(allow_null=True, required=False, help_text="a duration, e.g. 2s")
    retry_on = serializers.CharField(allow_null=True, required=False, help_text="Envoy conditions, e.g. 5xx,reset")


class CircuitBreakerSerializer(serializers.Serializer):
    max_connections = serializers.IntegerField(required=False, min_value=1)
    http1_max_pending_requests = serializers.IntegerField(required=False, min_value=1)
    http2_max_requests = serializers.IntegerField(required=False, min_value=1)
    max_requests_per_connection = serializers.IntegerField(required=False, min_value=1)
    max_retries = serializers.IntegerField(required=False, min_value=1)
    consecutive_5xx_errors = serializers.IntegerField(required=False, min_value=1)
    interval = serializers.CharField(required=False, help_text="outlier scan interval, a duration")
    base_ejection_time = serializers.CharField(required=False, help_text="a duration")
    max_ejection_percent = serializers.IntegerField(required=False, min_value=0, max_value=100)


class ResourceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(["VirtualService", "DestinationRule"])
    name = serializers.CharField()
    namespace = serializers.CharField()
    yaml = serializers.CharField(help_text="the resource as the backend holds it (after the change, for a write)")


class ValidationSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="schema, weights_sum, subset_not_found, unreachable_rule, "
                                           "ineffective_match, multiple_virtual_services, gateway_not_found, "
                                           "host_not_found, invalid_name")  # fmt: skip
    severity = serializers.ChoiceField(["error", "warning"])
    message = serializers.CharField()
    path = serializers.CharField(help_text="Kiali-style path, e.g. spec/http[0]/route[1]/destination")
    kind = serializers.CharField()
    name = serializers.CharField()
    namespace = serializers.CharField()


class TrafficStateSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    service = serializers.CharField()
    host = serializers.CharField(help_text="<service>.<namespace>.svc.cluster.local")
    subsets = SubsetSerializer(many=True)
    weights = serializers.DictField(child=serializers.IntegerField(), help_text="default route: subset → weight "
                                    "(sums to 100); {} when the service has no routing")  # fmt: skip
    routes = MatchRouteSerializer(many=True)
    fault = FaultSerializer(allow_null=True)
    timeout = serializers.CharField(allow_null=True)
    retries = RetriesSerializer(allow_null=True)
    circuit_breaker = CircuitBreakerSerializer(allow_null=True)
    owner = serializers.ChoiceField(["meshui", "unmanaged", "flagger", "argo-rollouts", "none"])
    version = serializers.CharField(help_text="opaque; also the ETag; send it back in If-Match")
    available_subsets = SubsetSerializer(many=True, help_text="the subsets weights and routes may name: the "
                                     "DestinationRule's and the versions telemetry saw")  # fmt: skip
    resources = ResourceSerializer(many=True)
    validations = ValidationSerializer(many=True)
    synced_at = serializers.DateTimeField(help_text="when the data of this answer was read from the backend")
    sync_age_s = serializers.FloatField(help_text="seconds since synced_at")
    from_cache = serializers.BooleanField(help_text="true when a recent read was reused (Kubernetes, short TTL)")


class TrafficWriteSerializer(TrafficStateSerializer):
    diff = serializers.CharField(help_text="unified diff of the service's resources, before → after")
    writes = serializers.ListField(child=serializers.CharField(),
                                   help_text="the ordered steps (make before break), e.g. 'create DestinationRule "
                                             "bookinfo/reviews'")  # fmt: skip
    dry_run = serializers.BooleanField()
    change_id = serializers.IntegerField(allow_null=True, help_text="the audit entry; null for a dry run or no-op")


class TrafficPatchSerializer(serializers.Serializer):
    """Every field optional: present replaces the field as a whole, null removes it, absent stays."""

    weights = serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=100), required=False,
                                    allow_null=True, help_text='{"v1": 90, "v2": 10}; integers summing to 100, '
                                    "every subset existing")  # fmt: skip
    routes = MatchRouteSerializer(many=True, required=False, allow_null=True)
    fault = FaultSerializer(required=False, allow_null=True)
    timeout = serializers.CharField(required=False, allow_null=True, help_text="a duration from 1ms to 1h")
    retries = RetriesSerializer(required=False, allow_null=True)
    circuit_breaker = CircuitBreakerSerializer(required=False, allow_null=True)


PATCH_REQUEST = {media: TrafficPatchSerializer for media in ("application/json", "application/merge-patch+json")}


# --- the audit log and the config overview --------------------------------------------------


class ChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    time = serializers.DateTimeField()
    actor = serializers.CharField(help_text="the authenticated principal, never a value from a request body")
    auth_method = serializers.CharField(help_text="session or token:<prefix>")
    namespace = serializers.CharField()
    service = serializers.CharField()
    operation = serializers.ChoiceField(["patch", "delete", "revert"])
    summary = serializers.CharField()
    before = serializers.DictField(help_text="the model before (as GET shows it), with owner")
    after = serializers.DictField(help_text="the model after")
    diff = serializers.CharField()
    backend = serializers.CharField()
    version_before = serializers.CharField()
    version_after = serializers.CharField()
    reverts = serializers.IntegerField(allow_null=True, help_text="the change this one reverted")


CHANGES_RESPONSE = inline_serializer("ChangeList", {"changes": ChangeSerializer(many=True)})


class IstioConfigEntrySerializer(ResourceSerializer):
    validations = ValidationSerializer(many=True)


ISTIO_CONFIG_RESPONSE = inline_serializer(
    "IstioConfig",
    {"backend": serializers.CharField(), "resources": IstioConfigEntrySerializer(many=True),
     "synced_at": serializers.DateTimeField(), "sync_age_s": serializers.FloatField(),
     "from_cache": serializers.BooleanField()},
)  # fmt: skip

# --- errors, parameters, headers -----------------------------------------------------------

_error = error_response

READ_ERRORS = {
    400: _error("a bad name or parameter, naming it", "invalid_parameter", "namespace"),
    401: NOT_AUTHENTICATED,
    403: FORBIDDEN,
    503: _error("the backend (database, GitOps directory, Kubernetes API server) is unavailable",
                "kubernetes_unavailable"),
}  # fmt: skip
WRITE_ERRORS = {
    400: _error("invalid change: the field is named; nothing was written", "invalid_traffic", "weights"),
    401: _error("not signed in", "not_authenticated"),
    403: _error("the role (operator or admin), the namespace, view-only mode or Kubernetes RBAC refuses the write",
                "forbidden"),
    404: _error("the namespace (unknown_namespace) or service (unknown_service) is in no telemetry of the last hour "
                "and has no routing; the field is named; an admin may write anyway with force=true", "unknown_service",
                "service"),
    409: _error("another controller (Flagger, Argo Rollouts) owns the routing: foreign_owner, unless an admin "
                "sends force=true; or, without If-Match, concurrent writers kept changing the routing for "
                "MESHUI_WRITE_CONTENTION_S: write_contention, with Retry-After, nothing written", "foreign_owner"),
    412: _error("If-Match is stale: someone changed the routing since you read it; details.version is the current "
                "version", "stale_version"),
    415: _error("the body is neither application/json nor application/merge-patch+json", "unsupported_media_type"),
    428: _error("MESHUI_REQUIRE_IF_MATCH is on and If-Match is missing", "if_match_required"),
    502: _error("a write step failed after others succeeded; details.applied / failed / compensated say exactly "
                "what the store holds", "backend_write_failed"),
    503: READ_ERRORS[503],
}  # fmt: skip
# traffic_read: the read errors, and a path outside the namespace or service pattern.
SERVICE_READ_ERRORS = {**READ_ERRORS, 404: NO_ENDPOINT}
REVERT_ERRORS = {
    400: _error("a bad parameter (force), naming it", "invalid_parameter", "force"),
    **{status: WRITE_ERRORS[status] for status in (401, 403, 502, 503)},
    404: _error("no such change", "not_found"),
    409: _error("the service changed after this change (details.diff: current → the change's before), or "
                "another controller owns it", "revert_conflict"),
}  # fmt: skip

IF_MATCH = OpenApiParameter(
    "If-Match", {"type": "string", "pattern": IF_MATCH_PATTERN}, OpenApiParameter.HEADER,
    description='"<version>" as GET gave it in ETag: a stale one is 412 and nothing is written; one that is not a '
    'quoted version (If-Match: garbage) is 400 naming If-Match. Optional unless MESHUI_REQUIRE_IF_MATCH=true (then '
    "428 without it).",
)  # fmt: skip
DRY_RUN = OpenApiParameter("dry_run", OpenApiTypes.BOOL, description="Return the would-be state, the resources and "
                           "the diff; write nothing (Kubernetes: the API server's dryRun=All checks it).")  # fmt: skip
FORCE = OpenApiParameter("force", OpenApiTypes.BOOL, description="Admins only: write although Flagger or Argo "
                         "Rollouts manages the routing, or to a service no telemetry has seen yet.")  # fmt: skip
ETAG = OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200],
                        description='The state\'s version, quoted: "<version>".')  # fmt: skip
_DNS1123 = {"type": "string", "pattern": DNS1123_LABEL_PATTERN}
NAMESPACE_FILTER = OpenApiParameter("namespace", _DNS1123, description="Only this namespace (DNS-1123).")
SERVICE_FILTER = OpenApiParameter("service", _DNS1123, description="Only this service (DNS-1123).")
LIMIT = OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": CHANGES_MAX_LIMIT},
                         description=f"At most this many changes (1-{CHANGES_MAX_LIMIT}, default "
                         f"{CHANGES_DEFAULT_LIMIT}).")  # fmt: skip
SINCE = OpenApiParameter("since", {"type": "number", "minimum": 0, "maximum": CHANGES_SINCE_MAX},
                         description="Only changes applied at or after this time, unix seconds (the graph page "
                         "asks for its window's).")  # fmt: skip
NAMESPACE_PATH = OpenApiParameter("namespace", _DNS1123, OpenApiParameter.PATH, required=True,
                                  description="The namespace (DNS-1123 label).")  # fmt: skip
SERVICE_PATH = OpenApiParameter("service", _DNS1123, OpenApiParameter.PATH, required=True,
                                description="The service (DNS-1123 label).")  # fmt: skip
SERVICE_PATHS = [NAMESPACE_PATH, SERVICE_PATH]
CHANGE_ID_PATH = OpenApiParameter("change_id", {"type": "integer", "minimum": 0}, OpenApiParameter.PATH,
                                  required=True, description="The change's id.")  # fmt: skip

_HEADER_ROUTE = {"routes": [{"match": [{"headers": {"x-group": {"exact": "test"}}}], "weights": {"v3": 100}}]}
_FAULT_AND_TIMEOUT = {"fault": {"abort": {"http_status": 503, "percent": 5}}, "timeout": "2s"}
PATCH_EXAMPLES = [
    OpenApiExample("canary: 10% to v2", {"weights": {"v1": 90, "v2": 10}}, request_only=True),
    OpenApiExample("header route", _HEADER_ROUTE, request_only=True),
    OpenApiExample("fault and timeout", _FAULT_AND_TIMEOUT, request_only=True),
    OpenApiExample("remove the fault", {"fault": None}, request_only=True),
]
