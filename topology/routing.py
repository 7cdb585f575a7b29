"""Websocket routes: ``/ws/graph/`` (the live graph), and the full websocket application."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from topology.consumers import GraphConsumer, MeshuiAuthMiddlewareStack

websocket_urlpatterns = [path("ws/graph/", GraphConsumer.as_asgi())]


def websocket_application() -> Any:
    """The websocket side of the ASGI app: Origin checked against ``MESHUI_ALLOWED_HOSTS``
    (a bad or missing Origin is refused at the handshake), then session or bearer authentication."""
    return AllowedHostsOriginValidator(MeshuiAuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
