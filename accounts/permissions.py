"""DRF permissions for the three roles.

Anonymous callers get 401 (DRF turns a refusal into NotAuthenticated when no
authenticator succeeded); authenticated callers without the role get 403.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.roles import ADMIN, OPERATOR, VIEWER, has_role


class CanRead(BasePermission):
    """Viewer, operator or admin; anonymous safe-method calls too when ``settings.ANONYMOUS_READ``."""

    message = "Your account has no meshui role: an admin must grant it viewer, operator or admin."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return bool(settings.ANONYMOUS_READ) and request.method in SAFE_METHODS
        return has_role(user, VIEWER)


class CanOperate(BasePermission):
    """Operator or admin: may change traffic (never granted to anonymous callers)."""

    message = "This action needs the operator or admin role."

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, OPERATOR)


class IsAdmin(BasePermission):
    """Admin (or superuser) only."""

    message = "This action needs the admin role."

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, ADMIN)
