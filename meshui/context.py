"""Template context shared by every page."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts.roles import role_of


def _product_version() -> str:
    try:
        return version("meshui")
    except PackageNotFoundError:  # running from a checkout that was never pip-installed
        return "dev"


PRODUCT_VERSION = _product_version()


def product(request: HttpRequest) -> dict[str, Any]:
    """``anonymous_read``, ``prometheus_configured``, ``jaeger_configured``, ``product_version``
    and ``user_role`` (viewer/operator/admin or None) for the templates."""
    return {
        "anonymous_read": bool(settings.ANONYMOUS_READ),
        "prometheus_configured": bool(settings.PROMETHEUS.get("URL")),
        "jaeger_configured": bool(settings.JAEGER.get("URL")),
        "product_version": PRODUCT_VERSION,
        "user_role": role_of(getattr(request, "user", None)),
    }
