"""The traffic API: thin views over ``traffic.fetch`` (reads) and ``traffic.actions`` (writes).

Check order of a write: authentication and role (401/403, view-only 403, namespace 403) →
``If-Match`` (428 when required and absent, 412 when stale) → the request (400 naming the
field: parameters, body size and JSON, then the model and the rendered resources).
Refused writes are logged (``traffic.refused``), never recorded as changes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanRead
from accounts.roles import ADMIN, has_role
from meshui.parsers import BoundedJSONParser, RequestBodyTooLarge
from traffic import actions, fetch
from traffic.api import schema
from traffic.api.serializers import (
    MAX_BODY_BYTES,
    ChangesQuerySerializer,
    IstioConfigQuerySerializer,
    WriteFlagsSerializer,
    change_to_wire,
    dns_label,
    parse_if_match,
)
from traffic.backends import Snapshot, get_backend
from traffic.errors import IfMatchRequired, InvalidTraffic
from traffic.models import TrafficChange
from traffic.permissions import CanWriteTraffic, check_namespace

refused = logging.getLogger("traffic.refused")


class MergePatchParser(BoundedJSONParser):
    """``application/merge-patch+json`` (RFC 7396): for this resource, the same object as plain JSON."""

    media_type = "application/merge-patch+json"


def _actor(request: Request) -> actions.Actor:
    user = request.user
    token = request.auth
    method = f"token:{token.prefix}" if getattr(token, "prefix", None) else "session"
    return actions.Actor(user, user.get_username(), method, has_role(user, ADMIN))


def _with_etag(body: dict[str, Any]) -> Response:
    return Response(body, headers={"ETag": f'"{body["version"]}"'})


class _TrafficView(APIView):
    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            refused.warning(
                "refused %s %s by %s: %s %s", self.request.method, self.request.path,
                getattr(self.request.user, "username", None) or "anonymous", response.status_code,
                (response.data or {}).get("error", {}).get("code") if isinstance(response.data, dict) else "",
            )  # fmt: skip
        return response

    def get_permissions(self):  # type: ignore[override]
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [CanRead()]
        return [CanWriteTraffic()]

    def _flags(self, request: Request) -> tuple[bool, bool]:
        flags = WriteFlagsSerializer(data=request.query_params.dict())
        flags.is_valid(raise_exception=True)
        force = flags.validated_data["force"]
        if force and not has_role(request.user, ADMIN):
            raise PermissionDenied("force=true overrides another controller's routing: it needs the admin role.")
        return flags.validated_data["dry_run"], force

    def _if_match(self, request: Request, backend, namespace: str, service: str) -> tuple[str | None, Snapshot | None]:
        """``If-Match`` and, when it is given, the fresh read it was checked against (the write
        then starts from that read); checked here so a stale version is 412 before the body is."""
        if_match = parse_if_match(request.headers.get("If-Match"))
        if if_match is None and getattr(settings, "MESHUI_REQUIRE_IF_MATCH", False):
            raise IfMatchRequired(message='send If-Match: "<version>" with the version you read (GET gives it as ETag)')
        if if_match is None:
            return None, None
        read = backend.snapshot(namespace, service, fresh=True)
        actions.check_if_match(read, if_match)
        return if_match, read


class ServiceTrafficView(_TrafficView):
    """``GET/PATCH/DELETE /api/v1/namespaces/{namespace}/services/{service}/traffic``."""

    parser_classes = [BoundedJSONParser, MergePatchParser]
    max_body_bytes = MAX_BODY_BYTES

    @extend_schema(
        operation_id="traffic_read",
        summary="The traffic routing of a service (ETag = its version)",
        parameters=[*schema.SERVICE_PATHS, schema.ETAG],
        responses={200: schema.TrafficStateSerializer, **schema.SERVICE_READ_ERRORS},
    )
    def get(self, request: Request, namespace: str, service: str) -> Response:
        dns_label(namespace, "namespace")
        dns_label(service, "service")
        return _with_etag(fetch.traffic_state(get_backend(), namespace, service))

    @extend_schema(
        operation_id="traffic_change",
        summary="Change weights, routes, fault, timeout, retries or circuit breaker (If-Match, dry_run)",
        description="Present fields replace that field as a whole, null removes it, absent fields stay. Checks, in "
        "order: authentication and role; If-Match; the body (400 naming the field); the rendered resources against "
        "Istio's CRD schemas and semantic checks. A no-op writes nothing and records no change.",
        parameters=[*schema.SERVICE_PATHS, schema.IF_MATCH, schema.DRY_RUN, schema.FORCE, schema.ETAG],
        request=schema.PATCH_REQUEST,
        examples=schema.PATCH_EXAMPLES,
        responses={200: schema.TrafficWriteSerializer, **schema.WRITE_ERRORS},
    )
    def patch(self, request: Request, namespace: str, service: str) -> Response:
        dns_label(namespace, "namespace")
        dns_label(service, "service")
        dry_run, force = self._flags(request)
        backend = get_backend()
        if_match, read = self._if_match(request, backend, namespace, service)
        try:
            patch = request.data
        except RequestBodyTooLarge as error:
            # The traffic API's contract since its first version: 400 invalid_traffic on body.
            raise InvalidTraffic(message=str(error.detail), field="body") from None
        except ParseError as error:
            raise InvalidTraffic(message=f"the body is not JSON: {error.detail}", field="body") from None
        outcome = actions.change_traffic(backend, namespace, service, patch, actor=_actor(request), if_match=if_match,
                                         dry_run=dry_run, force=force, read=read)  # fmt: skip
        return self._answer(outcome)

    @extend_schema(
        operation_id="traffic_remove",
        summary="Remove meshui-managed routing of the service",
        description="meshui's own resources go; hand-written ones lose only the parts meshui manages. The "
        "VirtualService is written before the DestinationRule loses subsets (make before break).",
        parameters=[*schema.SERVICE_PATHS, schema.IF_MATCH, schema.DRY_RUN, schema.FORCE, schema.ETAG],
        responses={200: schema.TrafficWriteSerializer, **schema.WRITE_ERRORS},
    )
    def delete(self, request: Request, namespace: str, service: str) -> Response:
        dns_label(namespace, "namespace")
        dns_label(service, "service")
        dry_run, force = self._flags(request)
        backend = get_backend()
        if_match, read = self._if_match(request, backend, namespace, service)
        outcome = actions.delete_traffic(backend, namespace, service, actor=_actor(request), if_match=if_match,
                                         dry_run=dry_run, force=force, read=read)  # fmt: skip
        return self._answer(outcome)

    @staticmethod
    def _answer(outcome: actions.Outcome) -> Response:
        body = {**outcome.state, "diff": outcome.diff, "writes": outcome.writes, "dry_run": outcome.dry_run,
                "change_id": outcome.change.pk if outcome.change else None}  # fmt: skip
        return _with_etag(body)


class ChangeListView(_TrafficView):
    """``GET /api/v1/changes?namespace=&service=&since=&limit=``: applied changes, newest first."""

    @extend_schema(
        operation_id="changes_list",
        summary="Applied traffic changes, newest first",
        parameters=[schema.NAMESPACE_FILTER, schema.SERVICE_FILTER, schema.SINCE, schema.LIMIT],
        responses={200: schema.CHANGES_RESPONSE, **schema.READ_ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = ChangesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        rows = TrafficChange.objects.all()
        for name in ("namespace", "service"):
            if query.validated_data.get(name):
                rows = rows.filter(**{name: query.validated_data[name]})
        if "since" in query.validated_data:
            rows = rows.filter(created_at__gte=datetime.fromtimestamp(query.validated_data["since"], tz=UTC))
        return Response({"changes": [change_to_wire(c) for c in rows[: query.validated_data["limit"]]]})


class ChangeRevertView(_TrafficView):
    """``POST /api/v1/changes/{id}/revert``: 200 with the new state, 409 with the diff when it changed since."""

    @extend_schema(
        operation_id="change_revert",
        summary="Restore a change's before state (409 if changed since)",
        description="Puts back the resources exactly as they were before the change, only while the service's "
        "version is still the one the change left; the revert is itself a change.",
        request=None,
        parameters=[schema.CHANGE_ID_PATH, schema.FORCE, schema.ETAG],
        responses={200: schema.TrafficWriteSerializer, **schema.REVERT_ERRORS},
    )
    def post(self, request: Request, change_id: int) -> Response:
        change = get_object_or_404(TrafficChange, pk=change_id)
        check_namespace(request.user, change.namespace)
        _, force = self._flags(request)
        outcome = actions.revert_change(get_backend(), change, actor=_actor(request), force=force)
        return ServiceTrafficView._answer(outcome)


class IstioConfigView(_TrafficView):
    """``GET /api/v1/istio-config?namespace=``: every VirtualService/DestinationRule with its validations."""

    @extend_schema(
        operation_id="istio_config_list",
        summary="VirtualServices and DestinationRules with validations",
        parameters=[schema.NAMESPACE_FILTER],
        responses={200: schema.ISTIO_CONFIG_RESPONSE, **schema.READ_ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = IstioConfigQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        backend = get_backend()
        return Response({"backend": backend.name, **fetch.istio_config(backend, query.validated_data.get("namespace"))})
