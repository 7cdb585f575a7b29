"""The Content-Security-Policy of every answer (docs/decisions/0020-sign-in-limits-and-csp.md).

meshui serves every script, style, font and image itself and its pages carry no inline script,
event handler or style attribute, so the policy allows its own origin and nothing else: a
script injected into a page does not run, and a page cannot send data anywhere but meshui.
``connect-src`` names the live graph's websocket on the request's host as well, because
browsers before CSP Level 3 do not count ``ws:``/``wss:`` to the page's host as ``'self'``.
"""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"

# (directive, sources), in the order they are sent; connect-src gets the websocket added.
DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data:"),
    ("font-src", "'self'"),
    ("connect-src", "'self'"),
    ("worker-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'self'"),
    ("frame-ancestors", "'none'"),
    ("form-action", "'self'"),
)


def policy_for(request: HttpRequest) -> str:
    """The policy for ``request``: ``DIRECTIVES`` with ``ws(s)://<host>`` in ``connect-src``.

    The scheme follows the request's (``wss`` behind TLS, which needs
    ``MESHUI_TRUST_X_FORWARDED_PROTO`` when a proxy ends TLS). A host Django refuses
    (not in ``ALLOWED_HOSTS``) is never echoed: ``connect-src`` is then ``'self'`` alone.
    """
    try:
        host = request.get_host()
    except DisallowedHost:
        host = ""
    websocket = f" {'wss' if request.is_secure() else 'ws'}://{host}" if host else ""
    return "; ".join(f"{name} {sources}{websocket if name == 'connect-src' else ''}" for name, sources in DIRECTIVES)


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Set ``Content-Security-Policy`` on every response that has none yet (sync and async)."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if HEADER not in response:
            response[HEADER] = policy_for(request)
        return response
