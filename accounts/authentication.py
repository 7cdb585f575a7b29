"""DRF authentication with ``Authorization: Bearer <API token>``."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.tokens import InvalidToken, authenticate_token


class BearerTokenAuthentication(BaseAuthentication):
    """Authenticate API calls by bearer token.

    No Authorization header, or another scheme (e.g. Basic): returns None so the next
    authenticator (the session) is tried. A Bearer header that is malformed, unknown,
    expired or revoked raises AuthenticationFailed (401) saying which. Token requests are
    not subject to CSRF: the browser never attaches this header by itself.
    """

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Malformed API token: it must be ASCII.") from None
        try:
            row = authenticate_token(token)
        except InvalidToken as error:
            raise AuthenticationFailed(str(error)) from None
        return row.user, row

    def authenticate_header(self, request: Request) -> str:
        # Having a challenge makes DRF answer 401 rather than 403 to unauthenticated calls.
        return 'Bearer realm="meshui"'
