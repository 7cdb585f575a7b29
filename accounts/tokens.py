"""Issue and check API tokens.

A token is ``mui_`` followed by 43 URL-safe characters (32 random bytes). Only its SHA-256
digest is stored: the token has 256 bits of entropy, so a fast hash is enough against a
stolen database, and every API call checks one with a single indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiToken

TOKEN_PREFIX = "mui_"  # noqa: S105  (a public marker, not a secret)
PREFIX_LENGTH = 8
_TOKEN_SHAPE = re.compile(r"^mui_[A-Za-z0-9_-]{43}$")
# Writing last_used_at on every request would turn each read into a write; a minute of
# precision is enough to tell whether a token is still in use.
LAST_USED_PRECISION = timedelta(minutes=1)


class InvalidToken(Exception):
    """The presented token cannot authenticate; the message says why, without echoing it."""


def digest_of(token: str) -> str:
    """The lowercase hex SHA-256 of ``token`` (what the database stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(user: Any, *, name: str = "", days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user`` valid ``days`` days (default ``settings.API_TOKEN_DAYS``).

    Returns the stored row and the token in clear, which is not kept anywhere: show it to
    its owner once. Raises ValueError when ``days`` is below 1.
    """
    valid_days = settings.API_TOKEN_DAYS if days is None else days
    if valid_days < 1:
        raise ValueError("a token must be valid for at least one day")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    row = ApiToken.objects.create(
        user=user,
        name=name,
        digest=digest_of(token),
        prefix=token[:PREFIX_LENGTH],
        created_at=now,
        expires_at=now + timedelta(days=valid_days),
    )
    return row, token


def authenticate_token(token: str, now: datetime | None = None) -> ApiToken:
    """The active token row for ``token`` (its ``user`` loaded), marking it used.

    Raises InvalidToken when the token is malformed, unknown, revoked or expired, or its
    user is inactive. ``last_used_at`` is written at most once per ``LAST_USED_PRECISION``.
    """
    if not _TOKEN_SHAPE.match(token):
        raise InvalidToken("Malformed API token: expected 'mui_' followed by 43 characters.")
    current = now or timezone.now()
    row = ApiToken.objects.select_related("user").filter(digest=digest_of(token)).first()
    if row is None:
        raise InvalidToken("Unknown API token.")
    if row.is_revoked:
        raise InvalidToken(f"API token {row.prefix}… has been revoked.")
    if row.is_expired(current):
        raise InvalidToken(f"API token {row.prefix}… expired at {row.expires_at.isoformat()}.")
    if not row.user.is_active:
        raise InvalidToken("The user of this API token is inactive.")
    if row.last_used_at is None or current - row.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=current)
        row.last_used_at = current
    return row
