"""Who may change traffic: operators and admins, within their namespaces, unless meshui is view-only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.roles import ADMIN, OPERATOR, has_role
from traffic.models import OperatorNamespace


def check_namespace(user: Any, namespace: str) -> None:
    """Raise ``PermissionDenied`` when ``user`` is an operator limited to other namespaces."""
    if has_role(user, ADMIN):
        return
    allowed = set(OperatorNamespace.objects.filter(user=user).values_list("namespace", flat=True))
    if allowed and namespace not in allowed:
        raise PermissionDenied(f"You may change traffic only in the namespaces {', '.join(sorted(allowed))}.")


class CanWriteTraffic(BasePermission):
    """Authenticated (else 401), not view-only, operator or admin, and the URL's namespace allowed (else 403)."""

    message = "Changing traffic needs the operator or admin role."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if getattr(settings, "MESHUI_VIEW_ONLY", False):
            raise PermissionDenied("meshui runs in view-only mode (MESHUI_VIEW_ONLY=true): no change can be made.")
        if not has_role(user, OPERATOR):
            return False
        namespace = view.kwargs.get("namespace")
        if namespace is not None:
            check_namespace(user, namespace)
        return True
