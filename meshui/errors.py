"""One JSON error envelope for the whole API.

Every error under ``/api/`` has the shape::

    {"error": {"code": "invalid_parameter", "message": "...", "field": "window", "details": {...}}}

``code`` is a stable machine-readable name, ``message`` is for people, ``field`` names the
request parameter at fault (null when the error is not about one parameter) and
``details`` is optional. Apps raise ``MeshuiError`` (or a subclass), or register their own
exception types with ``register_error``; DRF calls ``api_exception_handler``. Anything
unforeseen becomes a logged 500 ``internal_error`` whose message reveals nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults
from psycopg_pool import PoolTimeout
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


class MeshuiError(Exception):
    """A domain error with its API code, HTTP status and optional parameter name.

    ``MeshuiError("query_limit", "window is too long", 400, field="window")`` answers 400
    with that code, message and field. Subclasses may fix ``code``/``status`` as class
    attributes and pass only the message.
    """

    code = "error"
    status = status.HTTP_500_INTERNAL_SERVER_ERROR
    field: str | None = None
    # Seconds after which a retry may succeed: answered as ``Retry-After`` when set.
    retry_after_s: int | None = None

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        status: int | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if field is not None:
            self.field = field
        self.message = message or self.code.replace("_", " ")
        self.details = details
        super().__init__(self.message)


class DatabaseUnavailable(MeshuiError):
    """503: no database connection could be had in time (the pool stayed full, decision 0015)."""

    code = "database_unavailable"
    status = status.HTTP_503_SERVICE_UNAVAILABLE


def _database_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """``DatabaseUnavailable`` when ``exc`` is the connection pool's timeout, else ``None``.

    Django re-raises driver errors as its own ``django.db`` classes with the driver's error as
    ``__cause__``; a pool timeout is an ``OperationalError`` like a broken query, so only its
    cause tells that the database was merely busy.
    """
    if isinstance(exc, DatabaseError) and isinstance(exc.__cause__, PoolTimeout):
        return DatabaseUnavailable(
            message=f"The database is busy: {exc.__cause__}; retry shortly.", details={"reason": "pool_timeout"}
        )
    return None


@dataclass(frozen=True)
class ErrorMapping:
    """How an exception type outside meshui.errors becomes an envelope."""

    code: str
    status: int
    field: str | None = None
    detail_attributes: tuple[str, ...] = ()


_REGISTRY: dict[type[BaseException], ErrorMapping] = {}


def register_error(
    exc_type: type[BaseException],
    code: str,
    status: int,
    field: str | None = None,
    detail_attributes: tuple[str, ...] = (),
) -> None:
    """Answer ``exc_type`` (and its subclasses) with ``code``/``status``; the message is ``str(exc)``.

    ``detail_attributes`` names attributes of the exception copied into ``details`` when
    not None. The most specific registered class wins; registering a type again replaces it.
    """
    _REGISTRY[exc_type] = ErrorMapping(code, status, field, detail_attributes)


def mapping_of(exc: BaseException) -> ErrorMapping | None:
    """The registered mapping of ``exc`` (most specific class first), or ``None``.

    Used by the API handler and by the live graph's status frames, so both name an upstream
    failure with the same code.
    """
    for klass in type(exc).__mro__:
        if klass in _REGISTRY:
            return _REGISTRY[klass]
    return None


def envelope(code: str, message: str, field: str | None = None, details: Any = None) -> dict[str, Any]:
    """The error body: ``{"error": {"code", "message", "field"[, "details"]}}``."""
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    if details is not None:
        body["details"] = details
    return {"error": body}


def _flatten(detail: Any, path: str = "") -> list[tuple[str, str]]:
    """(field path, message) pairs of a DRF ValidationError detail, in declaration order."""
    if isinstance(detail, dict):
        pairs: list[tuple[str, str]] = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            pairs.extend(_flatten(value, f"{path}.{name}" if path and name else (name or path)))
        return pairs
    if isinstance(detail, list):
        return [pair for item in detail for pair in _flatten(item, path)]
    return [(path, str(detail))]


def first_validation_error(detail: Any) -> tuple[str | None, str]:
    """``(field, message)`` of the first problem in a DRF ``ValidationError`` detail (field ``None``
    when the problem is not about one field): what pages show for a bad view in their URL."""
    pairs = _flatten(detail)
    if not pairs:
        return None, "Invalid input."
    field, message = pairs[0]
    return field or None, message


def _validation_envelope(exc: exceptions.ValidationError) -> dict[str, Any]:
    pairs = _flatten(exc.detail) or [("", "Invalid input.")]
    fields: dict[str, list[str]] = {}
    for name, message in pairs:
        fields.setdefault(name or "non_field_errors", []).append(message)
    first_field, first_message = pairs[0]
    return envelope("invalid_parameter", first_message, first_field or None, {"fields": fields})


_DRF_CODES: tuple[tuple[type[exceptions.APIException], str], ...] = (
    (exceptions.ParseError, "parse_error"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "forbidden"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "throttled"),
)


def _api_exception_response(exc: exceptions.APIException) -> Response:
    headers: dict[str, str] = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        return Response(_validation_envelope(exc), status=status.HTTP_400_BAD_REQUEST, headers=headers)
    code = next((name for klass, name in _DRF_CODES if isinstance(exc, klass)), exc.default_code)
    status_code = exc.status_code
    if code == "not_authenticated" and status_code == status.HTTP_403_FORBIDDEN:
        # DRF downgrades 401 to 403 when no authenticator offers a challenge.
        code = "forbidden"
    detail = exc.detail
    message = str(detail if not isinstance(detail, (list, dict)) else _flatten(detail)[0][1])
    return Response(envelope(code, message, getattr(exc, "field", None)), status=status_code, headers=headers)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF ``EXCEPTION_HANDLER``: turn ``exc`` into the envelope; never returns None.

    Mapping: ValidationError → 400 ``invalid_parameter`` (first field in ``field``, all in
    ``details.fields``); ParseError → 400; NotAuthenticated/AuthenticationFailed → 401
    ``not_authenticated`` with WWW-Authenticate; PermissionDenied → 403 ``forbidden``;
    NotFound/Http404 → 404; MethodNotAllowed → 405; Throttled → 429 with Retry-After;
    MeshuiError and registered types (the Prometheus errors) → their own code and status; the
    database connection pool's timeout → 503 ``database_unavailable`` with Retry-After;
    anything else → 500 ``internal_error``, logged with its traceback.
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    set_rollback()
    busy = _database_unavailable(exc)
    if busy is not None:
        return Response(envelope(busy.code, busy.message, None, busy.details), status=busy.status,
                        headers={"Retry-After": "1"})  # fmt: skip
    if isinstance(exc, exceptions.APIException):
        return _api_exception_response(exc)
    if isinstance(exc, MeshuiError):
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
        return Response(envelope(exc.code, exc.message, exc.field, exc.details), status=exc.status, headers=headers)
    mapping = mapping_of(exc)
    if mapping is not None:
        message = str(exc) or mapping.code.replace("_", " ")
        details = {
            name: getattr(exc, name)
            for name in mapping.detail_attributes
            if getattr(exc, name, None) is not None
        }
        return Response(
            envelope(mapping.code, message, mapping.field, details or None), status=mapping.status
        )
    view = context.get("view")
    logger.error("Unhandled error in %s", type(view).__name__ if view else "API view", exc_info=exc)
    return Response(
        envelope("internal_error", "An internal error occurred; it has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """A view outside DRF (a page) whose database connection pool stayed full answers 503 with
    ``Retry-After`` instead of a logged 500: the envelope under /api/, a one-line text elsewhere.

    DRF views get the same answer from ``api_exception_handler``.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        busy = _database_unavailable(exception)
        if busy is None:
            return None
        if _is_api(request):
            response: HttpResponse = JsonResponse(
                envelope(busy.code, busy.message, None, busy.details), status=busy.status
            )
        else:
            response = HttpResponse(
                busy.message, status=busy.status, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = "1"
        return response


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django ``handler404``: the JSON envelope under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            envelope("not_found", f"No API endpoint at {request.path}."), status=status.HTTP_404_NOT_FOUND
        )
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Django ``handler500``: the JSON envelope under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            envelope("internal_error", "An internal error occurred; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request)


# Django refuses to read a body past DATA_UPLOAD_MAX_MEMORY_SIZE (e.g. a form body); the JSON
# parser never gets there (meshui.parsers bounds its own read), anything else says so by name.
register_error(RequestDataTooBig, "request_body_too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, field="body")
