"""The JSON error envelope for every mapped error, through a real DRF view."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import psycopg
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db.utils import DatabaseErrorWrapper
from django.http import Http404
from django.test import RequestFactory
from psycopg_pool import PoolTimeout
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from meshui.errors import DatabaseUnavailableMiddleware, MeshuiError, handler404, handler500, register_error
from metrics.errors import (
    PrometheusNotConfigured,
    PrometheusQueryError,
    PrometheusQueryLimit,
    PrometheusUnavailable,
)


class WindowSerializer(serializers.Serializer):
    window = serializers.IntegerField(min_value=60)
    step = serializers.IntegerField(min_value=1)


class RaisingView(APIView):
    """Raises whatever the test puts in ``error``; validates ``window``/``step`` when asked."""

    permission_classes = [AllowAny]
    error: BaseException | None = None

    def get(self, request):
        if self.error is not None:
            raise self.error
        WindowSerializer(data=request.query_params).is_valid(raise_exception=True)
        return Response({"ok": True})


def call(error: BaseException | None = None, query: str = "", **view_attributes):
    request = APIRequestFactory().get(f"/api/v1/test{query}")
    request.user = AnonymousUser()
    response = RaisingView.as_view(error=error, **view_attributes)(request)
    response.render()
    return response.status_code, json.loads(response.content), response


def test_validation_error_names_the_first_field_and_lists_all():
    status, body, _ = call(query="?window=5&step=x")
    assert status == 400
    assert body == {
        "error": {
            "code": "invalid_parameter",
            "message": "Ensure this value is greater than or equal to 60.",
            "field": "window",
            "details": {
                "fields": {
                    "window": ["Ensure this value is greater than or equal to 60."],
                    "step": ["A valid integer is required."],
                }
            },
        }
    }


def test_validation_error_without_field_has_null_field():
    status, body, _ = call(exceptions.ValidationError("namespaces and node are exclusive"))
    assert status == 400
    assert body["error"]["field"] is None
    assert body["error"]["message"] == "namespaces and node are exclusive"


@pytest.mark.parametrize(
    ("error", "status", "code", "message"),
    [
        (exceptions.ParseError("bad JSON"), 400, "parse_error", "bad JSON"),
        (
            exceptions.PermissionDenied(),
            403,
            "forbidden",
            "You do not have permission to perform this action.",
        ),
        (DjangoPermissionDenied(), 403, "forbidden", "You do not have permission to perform this action."),
        (exceptions.NotFound("No such service."), 404, "not_found", "No such service."),
        (Http404(), 404, "not_found", "Not found."),
        (exceptions.MethodNotAllowed("DELETE"), 405, "method_not_allowed", 'Method "DELETE" not allowed.'),
        (
            exceptions.Throttled(wait=12),
            429,
            "throttled",
            "Request was throttled. Expected available in 12 seconds.",
        ),
    ],
)
def test_drf_errors_use_the_envelope(error, status, code, message):
    got_status, body, _ = call(error)
    assert got_status == status
    assert body == {"error": {"code": code, "message": message, "field": None}}


def test_throttled_answers_with_retry_after():
    _, _, response = call(exceptions.Throttled(wait=12))
    assert response["Retry-After"] == "12"


def test_not_authenticated_is_401_with_the_bearer_challenge():
    status, body, response = call(exceptions.NotAuthenticated())
    assert status == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="meshui"'
    assert body == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "field": None,
        }
    }


def test_not_authenticated_without_challenge_becomes_403_forbidden():
    # given a view without any authenticator offering a challenge, DRF downgrades 401 to 403
    status, body, _ = call(exceptions.NotAuthenticated(), authentication_classes=[])
    assert status == 403
    assert body["error"]["code"] == "forbidden"


def test_meshui_error_carries_its_code_status_and_field():
    status, body, _ = call(MeshuiError("unknown_namespace", "No namespace 'shop'.", 404, field="namespaces"))
    assert status == 404
    assert body == {
        "error": {"code": "unknown_namespace", "message": "No namespace 'shop'.", "field": "namespaces"}
    }


def test_meshui_error_subclass_with_class_defaults():
    class TrafficLocked(MeshuiError):
        code = "traffic_locked"
        status = 409

    status, body, _ = call(TrafficLocked(message="Another change is in progress."))
    assert status == 409
    assert body["error"] == {
        "code": "traffic_locked",
        "message": "Another change is in progress.",
        "field": None,
    }


def test_registered_error_type_uses_its_mapping():
    class QuotaExceeded(Exception):
        pass

    register_error(QuotaExceeded, "quota_exceeded", 429, field="namespaces")
    status, body, _ = call(QuotaExceeded("Too many namespaces."))
    assert status == 429
    assert body == {
        "error": {"code": "quota_exceeded", "message": "Too many namespaces.", "field": "namespaces"}
    }


def test_prometheus_unavailable_is_503():
    error = PrometheusUnavailable(
        "Prometheus at 127.0.0.1:9 refused the connection.", reason="connection_refused", host="127.0.0.1:9"
    )
    status, body, _ = call(error)
    assert status == 503
    assert body == {
        "error": {
            "code": "prometheus_unavailable",
            "message": "Prometheus at 127.0.0.1:9 refused the connection.",
            "field": None,
            "details": {"reason": "connection_refused", "host": "127.0.0.1:9"},
        }
    }


def test_prometheus_not_configured_is_503():
    status, body, _ = call(PrometheusNotConfigured())
    assert status == 503
    assert body["error"] == {
        "code": "prometheus_not_configured",
        "message": "Prometheus is not configured: set MESHUI_PROMETHEUS_URL.",
        "field": None,
    }


def test_prometheus_query_limit_is_400_naming_window():
    error = PrometheusQueryLimit(
        "query processing would load too many samples into memory",
        error_type="execution",
        limit="max_samples",
    )
    status, body, _ = call(error)
    assert status == 400
    assert body["error"]["code"] == "query_limit"
    assert body["error"]["field"] == "window"
    assert body["error"]["details"] == {"limit": "max_samples", "error_type": "execution"}


def test_prometheus_query_error_is_502():
    status, body, _ = call(
        PrometheusQueryError("parse error at char 3", error_type="bad_data", status_code=400)
    )
    assert status == 502
    assert body["error"] == {
        "code": "prometheus_query_error",
        "message": "Prometheus bad_data: parse error at char 3",
        "field": None,
        "details": {"error_type": "bad_data"},
    }


def django_wrapped(driver_error: Exception) -> Exception:
    """``driver_error`` as Django's PostgreSQL backend raises it: its own ``django.db`` class, the
    driver's error as ``__cause__`` (Django's own wrapper, over the psycopg module)."""
    try:
        with DatabaseErrorWrapper(SimpleNamespace(Database=psycopg)):
            raise driver_error
    except Exception as wrapped:
        return wrapped
    raise AssertionError("wrap_database_errors did not re-raise")


def test_a_database_pool_timeout_is_503_database_unavailable():
    # given the error Django raises when no pooled connection became free in time
    error = django_wrapped(PoolTimeout("couldn't get a connection after 10.00 sec"))
    # when a view raises it
    status, body, response = call(error)
    # then the client is told the database is busy, and when to retry
    assert status == 503
    assert response["Retry-After"] == "1"
    assert body == {
        "error": {
            "code": "database_unavailable",
            "message": "The database is busy: couldn't get a connection after 10.00 sec; retry shortly.",
            "field": None,
            "details": {"reason": "pool_timeout"},
        }
    }


def test_a_page_whose_pool_timed_out_is_503_in_text():
    # given a page view (not DRF) that raised the pool's timeout
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    error = django_wrapped(PoolTimeout("couldn't get a connection after 10.00 sec"))
    # when the middleware sees it
    response = middleware.process_exception(RequestFactory().get("/changes"), error)
    # then the page says the database is busy, and when to retry
    assert (response.status_code, response["Content-Type"], response["Retry-After"]) == (
        503, "text/plain; charset=utf-8", "1")  # fmt: skip
    assert response.content == b"The database is busy: couldn't get a connection after 10.00 sec; retry shortly."


def test_an_api_view_outside_drf_whose_pool_timed_out_is_503_in_the_envelope():
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    error = django_wrapped(PoolTimeout("couldn't get a connection after 10.00 sec"))
    response = middleware.process_exception(RequestFactory().get("/api/v1/anything"), error)
    assert response.status_code == 503
    assert json.loads(response.content)["error"]["code"] == "database_unavailable"


def test_the_middleware_leaves_other_errors_to_django():
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    error = django_wrapped(psycopg.OperationalError("relation does not exist"))
    assert middleware.process_exception(RequestFactory().get("/changes"), error) is None


def test_other_database_errors_stay_a_logged_500():
    status, body, _ = call(django_wrapped(psycopg.OperationalError("relation does not exist")))
    assert status == 500
    assert body["error"]["code"] == "internal_error"


def test_a_body_django_refuses_to_read_is_413_naming_the_body():
    status, body, _ = call(RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."))
    assert status == 413
    assert body == {
        "error": {
            "code": "request_body_too_large",
            "message": "Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.",
            "field": "body",
        }
    }


def test_unexpected_error_is_a_logged_500_revealing_nothing(caplog):
    with caplog.at_level(logging.ERROR, logger="meshui.errors"):
        status, body, _ = call(RuntimeError("password=hunter2 in a stack"))
    assert status == 500
    assert body == {
        "error": {
            "code": "internal_error",
            "message": "An internal error occurred; it has been logged.",
            "field": None,
        }
    }
    assert caplog.records[-1].exc_info[0] is RuntimeError


def test_handler404_answers_json_under_api():
    response = handler404(RequestFactory().get("/api/v1/nowhere"), Http404())
    assert response.status_code == 404
    assert json.loads(response.content) == {
        "error": {"code": "not_found", "message": "No API endpoint at /api/v1/nowhere.", "field": None}
    }


def test_handler404_answers_html_elsewhere():
    response = handler404(RequestFactory().get("/nowhere"), Http404())
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_handler500_answers_json_under_api():
    response = handler500(RequestFactory().get("/api/v1/graph"))
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "internal_error"


def test_handler500_answers_html_elsewhere():
    response = handler500(RequestFactory().get("/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
