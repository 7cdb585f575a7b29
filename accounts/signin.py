"""Sign-in limits: failed sign-ins counted per account and per client address.

``MESHUI_SIGNIN_MAX_FAILURES_PER_ACCOUNT`` failures for one username (normalised: trimmed,
case-folded), or ``MESHUI_SIGNIN_MAX_FAILURES_PER_ADDRESS`` from one client address, within
``MESHUI_SIGNIN_WINDOW_S`` of the first begin a lockout of ``MESHUI_SIGNIN_LOCKOUT_S``: every
sign-in of that account, or from that address, is refused — the right password too — until it
ends. A successful sign-in clears its account's count (never its address's, or one valid account
would reset the count of an address guessing others). Unknown usernames are counted and locked
exactly like real ones, so neither the answers nor their timing tell whether an account exists.

The counts live in Django's default cache: Redis when ``MESHUI_REDIS_URL`` is set (shared by every
process), the process's memory otherwise (the embedded single process). Every failure and every
lockout is audited: a WARNING on the ``meshui.signin`` logger and meshui's Prometheus counters.
docs/decisions/0020-sign-in-limits-and-csp.md has the reasoning.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from meshui import observability

logger = logging.getLogger("meshui.signin")

_PREFIX = "meshui:signin:"
# What the audit log shows of a typed username: enough to recognise it, never a pasted essay.
_LOGGED_USERNAME_CHARS = 64


@dataclass(frozen=True)
class Lockout:
    """Sign-in is refused for ``retry_after_s`` more seconds because of ``scope`` (account, address)."""

    scope: str
    retry_after_s: int


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent ``request``.

    ``REMOTE_ADDR``, unless ``MESHUI_TRUSTED_PROXY_HOPS`` says N reverse proxies append to
    ``X-Forwarded-For``: then the entry N from the right (what the first proxy saw), which a
    client cannot forge. A header with fewer entries than that falls back to ``REMOTE_ADDR``.
    """
    hops = settings.SIGNIN_TRUSTED_PROXY_HOPS
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def address_key(address: str) -> str:
    """The counter key part of ``address``: IPv4 as is, IPv6 by its /64 (one host's usual share)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def account_key(username: str) -> str:
    """The counter key part of ``username``: a digest of its trimmed, case-folded form."""
    return hashlib.sha256(username.strip().casefold().encode("utf-8")).hexdigest()[:32]


def _keys(username: str, address: str) -> dict[str, tuple[str, str]]:
    """``{scope: (failure counter key, lockout key)}``."""
    account = account_key(username)
    where = address_key(address)
    return {
        "account": (f"{_PREFIX}failures:account:{account}", f"{_PREFIX}lockout:account:{account}"),
        "address": (f"{_PREFIX}failures:address:{where}", f"{_PREFIX}lockout:address:{where}"),
    }


def _limits() -> dict[str, int]:
    return {"account": settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT, "address": settings.SIGNIN_MAX_FAILURES_PER_ADDRESS}


def lockout_of(username: str, address: str, now: float | None = None) -> Lockout | None:
    """The lockout refusing a sign-in of ``username`` from ``address``, if any (the longest of the two)."""
    current = time.time() if now is None else now
    keys = _keys(username, address)
    ends = cache.get_many([lockout for _, lockout in keys.values()])
    found = [
        Lockout(scope, math.ceil(ends[lockout] - current))
        for scope, (_, lockout) in keys.items()
        if lockout in ends and ends[lockout] > current
    ]
    return max(found, key=lambda lockout: lockout.retry_after_s, default=None)


def _count(key: str) -> int:
    """One more failure on ``key``'s fixed window (which begins at its first failure)."""
    cache.add(key, 0, timeout=settings.SIGNIN_WINDOW_S)
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, timeout=settings.SIGNIN_WINDOW_S)
        return 1


def record_failure(username: str, address: str, now: float | None = None) -> Lockout | None:
    """Count a failed sign-in of ``username`` from ``address``; the lockout it began, if any.

    Audits the failure, and the lockout when one begins (its counter is then cleared, so the
    next window starts when the lockout ends).
    """
    current = time.time() if now is None else now
    lockout_s = settings.SIGNIN_LOCKOUT_S
    counts: dict[str, int] = {}
    begun: list[Lockout] = []
    for scope, (counter, lockout) in _keys(username, address).items():
        counts[scope] = _count(counter)
        if counts[scope] >= _limits()[scope]:
            cache.set(lockout, current + lockout_s, timeout=lockout_s)
            cache.delete(counter)
            begun.append(Lockout(scope, lockout_s))
    shown = username[:_LOGGED_USERNAME_CHARS]
    logger.warning(
        "sign-in failed: username=%r address=%s account_failures=%d/%d address_failures=%d/%d",
        shown, address, counts["account"], _limits()["account"], counts["address"], _limits()["address"],
    )  # fmt: skip
    observability.observe_signin_failure()
    for lockout in begun:
        logger.warning(
            "sign-in lockout begun: scope=%s username=%r address=%s lockout_s=%d",
            lockout.scope, shown, address, lockout_s,
        )  # fmt: skip
        observability.observe_signin_lockout(lockout.scope)
    return begun[0] if begun else None


def record_refusal(username: str, address: str, lockout: Lockout) -> None:
    """Audit a sign-in refused because of ``lockout`` (its password was never checked)."""
    logger.warning(
        "sign-in refused during a lockout: scope=%s username=%r address=%s retry_after_s=%d",
        lockout.scope, username[:_LOGGED_USERNAME_CHARS], address, lockout.retry_after_s,
    )  # fmt: skip
    observability.observe_signin_refused(lockout.scope)


def record_success(username: str) -> None:
    """Clear the failure count of ``username``'s account."""
    cache.delete(_keys(username, "")["account"][0])


def unlock(username: str = "", address: str = "") -> None:
    """End the lockouts and clear the counts of ``username``'s account and/or ``address``."""
    keys = _keys(username, address)
    scopes = [scope for scope, given in (("account", username), ("address", address)) if given]
    cache.delete_many([key for scope in scopes for key in keys[scope]])


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """``user_login_failed`` receiver: count the failure of a sign-in from a client.

    ``authenticate()`` without a request (code, the shell, a test client's ``login()``) is no
    client's sign-in and is not counted. The lockout begun, if any, is left on the request as
    ``signin_lockout`` for the form to answer with.
    """
    if request is None:
        return
    username = str(credentials.get("username") or "")
    lockout = record_failure(username, client_address(request))
    if lockout is not None:
        request.signin_lockout = lockout


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: a successful sign-in clears its account's failure count."""
    record_success(user.get_username())
