"""Bearer authentication and the role permissions, through real DRF views.

The views below are tiny DRF views with the project's default authentication, permission
and exception handler, called through APIRequestFactory: every request goes through the
same code as an API endpoint.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.permissions import CanOperate, CanRead, IsAdmin
from accounts.tokens import issue_token


class ReadView(APIView):
    """Uses the project default permission (CanRead)."""

    def get(self, request):
        return Response({"user": request.user.get_username() or None})

    def post(self, request):
        return Response({"posted": True})


class OperateView(APIView):
    permission_classes = [CanOperate]

    def post(self, request):
        return Response({"operated": True})


class AdminView(APIView):
    permission_classes = [IsAdmin]

    def get(self, request):
        return Response({"admin": True})


def call(view, method="get", authorization=None, csrf=False, session_user=None):
    factory = APIRequestFactory(enforce_csrf_checks=csrf)
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    request = getattr(factory, method)("/api/v1/test", **headers)
    # What AuthenticationMiddleware would have set: the session's user (or anonymous).
    request.user = session_user or AnonymousUser()
    response = view.as_view()(request)
    response.render()
    return response


def body(response) -> dict:
    return json.loads(response.content)


def test_default_permission_is_can_read():
    assert ReadView.permission_classes == [CanRead]


@pytest.mark.parametrize(
    ("role", "superuser", "status"),
    [
        ("viewer", False, 200),
        ("operator", False, 200),
        ("admin", False, 200),
        (None, True, 200),
        (None, False, 403),
    ],
)
def test_can_read_by_role(bearer_for, role, superuser, status):
    # given a token of a user with that role, when reading, then the status follows the role
    response = call(ReadView, authorization=bearer_for(role, superuser))
    assert response.status_code == status


def test_can_read_refuses_a_user_without_role_with_403_forbidden(bearer_for):
    response = call(ReadView, authorization=bearer_for(None))
    assert response.status_code == 403
    assert body(response)["error"] == {
        "code": "forbidden",
        "message": "Your account has no meshui role: an admin must grant it viewer, operator or admin.",
        "field": None,
    }


def test_anonymous_read_off_answers_401_with_a_bearer_challenge(db, settings):
    # given anonymous read off
    settings.ANONYMOUS_READ = False
    # when an anonymous client reads
    response = call(ReadView)
    # then 401 with the envelope and a Bearer challenge
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="meshui"'
    assert body(response)["error"]["code"] == "not_authenticated"


def test_anonymous_read_on_lets_anonymous_clients_read(db, settings):
    settings.ANONYMOUS_READ = True
    response = call(ReadView)
    assert response.status_code == 200
    assert body(response) == {"user": None}


def test_anonymous_read_on_does_not_allow_anonymous_writes(db, settings):
    settings.ANONYMOUS_READ = True
    response = call(ReadView, method="post")
    assert response.status_code == 401


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 200), ("admin", 200)])
def test_can_operate_by_role(bearer_for, role, status):
    assert call(OperateView, method="post", authorization=bearer_for(role)).status_code == status


def test_can_operate_refuses_anonymous_even_with_anonymous_read(db, settings):
    settings.ANONYMOUS_READ = True
    assert call(OperateView, method="post").status_code == 401


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403), ("admin", 200)])
def test_is_admin_by_role(bearer_for, role, status):
    assert call(AdminView, authorization=bearer_for(role)).status_code == status


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Bearer", "Malformed Authorization header: expected 'Bearer <token>'."),
        ("Bearer a b", "Malformed Authorization header: expected 'Bearer <token>'."),
        ("Bearer not-a-token", "Malformed API token: expected 'mui_' followed by 43 characters."),
        ("Bearer mui_" + "x" * 43, "Unknown API token."),
    ],
)
def test_bad_bearer_header_answers_401_naming_the_problem(db, authorization, message):
    response = call(ReadView, authorization=authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="meshui"'
    assert body(response) == {"error": {"code": "not_authenticated", "message": message, "field": None}}


def test_expired_bearer_token_answers_401(make_user):
    row, token = issue_token(make_user("old", role="viewer"), days=1)
    row.expires_at = row.created_at - timedelta(seconds=1)
    row.save()
    response = call(ReadView, authorization=f"Bearer {token}")
    assert response.status_code == 401
    assert body(response)["error"]["message"].startswith(f"API token {row.prefix}… expired at ")


def test_revoked_bearer_token_answers_401(make_user):
    row, token = issue_token(make_user("gone", role="viewer"))
    row.revoke()
    response = call(ReadView, authorization=f"Bearer {token}")
    assert response.status_code == 401
    assert body(response)["error"]["message"] == f"API token {row.prefix}… has been revoked."


def test_other_authorization_schemes_fall_through_to_the_session(make_user):
    # given a signed-in viewer whose browser also sends a Basic header
    viewer = make_user("browser", role="viewer")
    # when reading, then the session authenticates the request
    response = call(ReadView, authorization="Basic Zm9vOmJhcg==", session_user=viewer)
    assert body(response) == {"user": "browser"}


def test_bearer_requests_need_no_csrf_token(bearer_for):
    response = call(OperateView, method="post", authorization=bearer_for("operator"), csrf=True)
    assert response.status_code == 200


def test_session_requests_still_need_a_csrf_token(make_user):
    operator = make_user("clicker", role="operator")
    response = call(OperateView, method="post", csrf=True, session_user=operator)
    assert response.status_code == 403
    assert body(response)["error"]["code"] == "forbidden"
    assert body(response)["error"]["message"].startswith("CSRF Failed")
