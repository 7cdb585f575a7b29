"""Typed readers for environment variables.

Every reader returns a value of the stated type or raises ``ImproperlyConfigured`` with a
message that names the variable, shows the bad value and says what is allowed, so that a
typo stops start-up instead of surfacing later as a strange behaviour.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    source = os.environ if environ is None else environ
    value = source.get(name)
    return None if value is None else value.strip()


def _fail(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is not valid: expected {expected}.")


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The variable as a string, ``default`` when unset or empty."""
    value = _raw(name, environ)
    return value if value else default


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """The variable as a boolean: true/false, yes/no, on/off, 1/0 (any case)."""
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _fail(name, value, "one of true/false, yes/no, on/off, 1/0")


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    """The variable as a float within ``[minimum, maximum]``."""
    value = _raw(name, environ)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise _fail(name, value, "a number") from None
    if number != number or (minimum is not None and number < minimum) or (
        maximum is not None and number > maximum
    ):
        raise _fail(name, value, f"a number between {minimum} and {maximum}")
    return number


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """The variable as an integer within ``[minimum, maximum]``."""
    value = _raw(name, environ)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _fail(name, value, "a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise _fail(name, value, f"a whole number between {minimum} and {maximum}")
    return number


def env_url(
    name: str,
    default: str = "",
    *,
    schemes: tuple[str, ...] = ("http", "https"),
    environ: Mapping[str, str] | None = None,
) -> str:
    """The variable as an absolute URL with one of ``schemes`` (no trailing slash), or ``default``."""
    value = _raw(name, environ)
    if not value:
        return default
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise _fail(name, value, f"an absolute URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value.rstrip("/")


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """The variable as a comma-separated list of non-empty, stripped items."""
    value = _raw(name, environ)
    if value is None or value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> str:
    """The variable as one of ``choices``."""
    value = _raw(name, environ)
    if not value:
        return default
    if value not in choices:
        raise _fail(name, value, "one of " + ", ".join(choices))
    return value


def env_headers(name: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variable as HTTP headers: a JSON object of strings, e.g. ``{"X-Scope-OrgID": "prod"}``."""
    value = _raw(name, environ)
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        raise _fail(name, value, 'a JSON object of header names to strings, e.g. {"X-Scope-OrgID": "prod"}') from None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and "\n" not in v and "\r" not in v
        for k, v in parsed.items()
    ):
        raise _fail(name, value, "a JSON object whose keys and values are single-line strings")
    return parsed


def env_file(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The variable as the path of a readable file, or ``""`` when unset."""
    value = _raw(name, environ)
    if not value:
        return ""
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise _fail(name, value, "the path of a readable file")
    return value


_MATCHER = re.compile(
    r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*'
    r'(,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*)*$'
)


def env_label_matchers(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The variable as PromQL label matchers without braces, e.g. ``mesh_id="prod",cluster=~"eu-.*"``."""
    value = _raw(name, environ)
    if not value:
        return ""
    if not _MATCHER.match(value):
        raise _fail(name, value, 'comma-separated PromQL label matchers such as mesh_id="prod"')
    return value
