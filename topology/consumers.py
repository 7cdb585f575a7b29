"""The ``/ws/graph/`` websocket: subscribe to a view, receive a snapshot then deltas.

Protocol: docs/decisions/0005-live-graph-protocol.md. Authentication: the session cookie or
``Authorization: Bearer <API token>`` (``BearerTokenAuthMiddleware``); anonymous only with
``MESHUI_ANONYMOUS_READ``. A refused socket is accepted and then closed at once so that the
client can read why:

* ``4401`` — not authenticated (no credentials while anonymous reading is off, or a bearer
  token that is malformed, unknown, revoked or expired);
* ``4403`` — authenticated, but the account has no meshui role.

A bad Origin is refused earlier, at the handshake (HTTP 403), by ``AllowedHostsOriginValidator``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from accounts.roles import VIEWER, has_role
from accounts.tokens import InvalidToken, authenticate_token
from meshui import observability
from meshui.parsers import JSONTooDeep, loads_bounded
from topology.hub import Watcher, get_hub
from topology.snapshot import InvalidView, dumps, parse_view

logger = logging.getLogger(__name__)

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# RFC 6455's "message too big".
CLOSE_MESSAGE_TOO_BIG = 1009
MAX_MESSAGE_CHARS = 16_384
# A frame this large is not a mistake to answer but a socket to close: daphne's own limit
# (websocket_max_message_size), enforced here too for servers that allow more.
MAX_FRAME_CHARS = 1024 * 1024
# A subscribe message nests 3 levels; far below what makes the parser recurse too deep.
MAX_MESSAGE_DEPTH = 16
# A socket may change view at most this often: each new view can cost an upstream read.
SUBSCRIBES_PER_MINUTE = 20


class BearerTokenAuthMiddleware(BaseMiddleware):
    """Authenticate a websocket by ``Authorization: Bearer <API token>`` (for scripts).

    Without such a header the scope is left alone (the session decides). With one, the scope's
    ``user`` becomes the token's user, or ``AnonymousUser`` with ``scope["auth_error"]`` set to
    the reason when the token is not valid. Tokens are never read from the URL.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = scope.get("headers", [])
        header = next((value for name, value in headers if name.lower() == b"authorization"), None)
        parts = header.split() if header else []
        if parts and parts[0].lower() == b"bearer":
            scope = dict(scope)
            user, error = await _token_user(parts)
            scope["user"] = user
            if error is not None:
                scope["auth_error"] = error
        return await super().__call__(scope, receive, send)


@database_sync_to_async
def _token_user(parts: list[bytes]) -> tuple[Any, str | None]:
    if len(parts) != 2:
        return AnonymousUser(), "Malformed Authorization header: expected 'Bearer <token>'."
    try:
        return authenticate_token(parts[1].decode("ascii")).user, None
    except UnicodeDecodeError:
        return AnonymousUser(), "Malformed API token: it must be ASCII."
    except InvalidToken as error:
        return AnonymousUser(), str(error)


def MeshuiAuthMiddlewareStack(inner: Any) -> Any:
    """Session authentication (Channels' stack), then the bearer token when one is presented."""
    return AuthMiddlewareStack(BearerTokenAuthMiddleware(inner))


@database_sync_to_async
def _can_read(user: Any) -> bool:
    return has_role(user, VIEWER)


async def refusal_code(scope: dict[str, Any]) -> int | None:
    """The close code refusing this socket, or ``None`` when it may read the graph."""
    if scope.get("auth_error"):
        return CLOSE_NOT_AUTHENTICATED
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None if settings.ANONYMOUS_READ else CLOSE_NOT_AUTHENTICATED
    return None if await _can_read(user) else CLOSE_FORBIDDEN


def error_frame(code: str, message: str, field: str | None = None) -> str:
    """An ``error`` frame (the socket stays open)."""
    return dumps({"type": "error", "code": code, "field": field, "message": message})


class GraphConsumer(AsyncWebsocketConsumer):
    """One browser tab or script watching one view at a time through this process's hub.

    Every message gets an answer or a close: a message that cannot be handled is an ``error``
    frame (the socket stays open), a frame over ``MAX_FRAME_CHARS`` closes it with 1009. However
    the consumer ends (disconnect, exception, cancellation) it leaves its view and the gauge.
    """

    # The hub, not each socket, reads the channel layer (one message per process per frame):
    # an alias that names no configured layer keeps Channels from giving every socket a channel.
    channel_layer_alias = "meshui.live.sockets-have-no-channel"

    watcher: Watcher | None = None
    writer: asyncio.Task | None = None
    counted = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Channels calls disconnect() only for a websocket.disconnect message: a consumer that
        # raised or was cancelled would stay counted and subscribed without this.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._release()

    async def connect(self) -> None:
        await self.accept()
        code = await refusal_code(self.scope)
        if code is not None:
            await self.close(code=code)
            return
        observability.websocket_connected()
        self.counted = True
        self.hub = get_hub()
        self.watcher = self.hub.watcher(self.send_text)
        self.writer = asyncio.create_task(self.watcher.run())
        self.subscribes: deque[float] = deque()

    async def send_text(self, text: str) -> None:
        """Write one text frame to this socket."""
        await self.send(text_data=text)

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        """Uncount the socket, stop its writer and leave its view; safe to call more than once."""
        if self.counted:
            observability.websocket_disconnected()
            self.counted = False
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            await self.hub.unsubscribe(watcher)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.watcher is None:
            return
        if len(text_data or bytes_data or "") > MAX_FRAME_CHARS:
            await self._release()
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)
            return
        if text_data is None:
            await self.send_text(error_frame("invalid_message", "Send JSON text frames, not binary ones."))
            return
        if len(text_data) > MAX_MESSAGE_CHARS:
            limit = f"Messages are limited to {MAX_MESSAGE_CHARS} characters."
            await self.send_text(error_frame("invalid_message", limit))
            return
        try:
            await self._handle(text_data)
        except Exception:
            logger.exception("live graph message could not be handled")
            await self.send_text(error_frame("internal_error", "The message could not be handled; it has been logged."))

    async def _handle(self, text_data: str) -> None:
        try:
            message = loads_bounded(text_data, MAX_MESSAGE_DEPTH)
        except JSONTooDeep as too_deep:
            await self.send_text(error_frame("invalid_message", f"The message is {too_deep}."))
            return
        except ValueError:
            await self.send_text(error_frame("invalid_message", "The message is not valid JSON."))
            return
        watcher = self.watcher
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "subscribe":
            await self._subscribe(watcher, message.get("view"))
        elif kind == "resync":
            if watcher.fanout is None:
                await self.send_text(error_frame("not_subscribed", "Subscribe to a view before resync."))
            else:
                watcher.resync()
        elif kind == "unsubscribe":
            await self.hub.unsubscribe(watcher)
        else:
            await self.send_text(
                error_frame("invalid_message", "type must be one of subscribe, resync, unsubscribe.", "type")
            )

    async def _subscribe(self, watcher: Watcher, data: object) -> None:
        try:
            view = parse_view(data)
        except InvalidView as exc:
            await self.send_text(error_frame("invalid_parameter", exc.message, exc.field))
            return
        now = time.monotonic()
        while self.subscribes and self.subscribes[0] <= now - 60:
            self.subscribes.popleft()
        if len(self.subscribes) >= SUBSCRIBES_PER_MINUTE:
            limit = f"At most {SUBSCRIBES_PER_MINUTE} subscriptions a minute per socket."
            await self.send_text(error_frame("rate_limited", limit))
            return
        self.subscribes.append(now)
        await self.hub.unsubscribe(watcher)
        await self.hub.subscribe(view, watcher)
