"""ASGI entry point: HTTP through Django, websockets (``/ws/graph/``) through Channels.

Websockets pass ``AllowedHostsOriginValidator`` (Origin must match ``MESHUI_ALLOWED_HOSTS``)
and the session-or-bearer-token authentication of ``topology.consumers``.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (Django must be set up first)

from meshui import http_limits  # noqa: E402
from topology.routing import websocket_application  # noqa: E402

http_limits.install()
application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application()})
