"""PromQL builders: every value that reaches a query passes through ``escape_label_value``.

PromQL double-quoted strings follow Go's string-literal grammar (the lexer accepts the Go
escapes and the parser unquotes with Go's ``strconv.Unquote``), so a value is written the way
Go's ``strconv.Quote`` would: backslash and double quote escaped, ``\\n``/``\\r``/``\\t`` by name,
other ASCII control characters as ``\\xHH``, other non-printable code points as ``\\uHHHH`` /
``\\UHHHHHHHH``; printable Unicode stays as UTF-8. A value can therefore never end the string
early, whatever it holds (``"} or vector(1) #`` stays inside its quotes).

Regex matchers (``=~``) use RE2: ``regex_alternation`` escapes each value's regex
metacharacters the way Go's ``regexp.QuoteMeta`` does, then string-escapes the whole pattern.
Prometheus anchors the pattern, so ``a|b`` matches exactly ``a`` or ``b``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_OPERATORS = frozenset({"=", "!=", "=~", "!~"})
_NAMED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Go's regexp.QuoteMeta set: the RE2 metacharacters.
_RE2_META = frozenset("\\.+*?()|[]{}^$")


def _escape_char(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError(f"label value holds a lone surrogate U+{code:04X}, which is not valid UTF-8")
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    # Unicode categories C* (control, format, unassigned, private use) and Z* other than the
    # plain space are not printable in Go's sense; write them as escapes so logs stay readable.
    if code > 0x7F and (unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp")):
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def escape_label_value(value: str) -> str:
    """``value`` as the body of a PromQL double-quoted string (without the quotes).

    Raises ``ValueError`` for a string holding a lone surrogate (not encodable as UTF-8).
    """
    return "".join(_escape_char(char) for char in value)


def quote(value: str) -> str:
    """``value`` as a complete PromQL double-quoted string literal."""
    return f'"{escape_label_value(value)}"'


def check_label_name(label: str) -> str:
    """``label`` unchanged when it is a valid Prometheus label name; raises ``ValueError`` otherwise."""
    if not _LABEL_NAME.match(label):
        raise ValueError(f"{label!r} is not a Prometheus label name")
    return label


def matcher(label: str, op: str, value: str) -> str:
    """One label matcher, e.g. ``matcher("app", "=", 'a"b')`` → ``app="a\\"b"``.

    ``op`` is one of ``=``, ``!=``, ``=~``, ``!~``; for the regex operators ``value`` is a regex
    (build one from literal values with ``regex_alternation``). Raises ``ValueError`` for a bad
    label name or operator.
    """
    if op not in _OPERATORS:
        raise ValueError(f"{op!r} is not a PromQL matcher operator")
    return f"{check_label_name(label)}{op}{quote(value)}"


def re2_escape(value: str) -> str:
    """``value`` as an RE2 pattern matching exactly that text (Go ``regexp.QuoteMeta``)."""
    return "".join(f"\\{char}" if char in _RE2_META else char for char in value)


def regex_alternation(values: Iterable[str]) -> str:
    """An RE2 pattern matching exactly one of ``values`` (sorted, de-duplicated).

    The result is a raw regex, to be passed to ``matcher(label, "=~", ...)`` which
    string-escapes it. Raises ``ValueError`` for no values: an empty alternation would match
    the empty string, i.e. series *without* the label — never what a caller means.
    """
    unique = sorted(set(values))
    if not unique:
        raise ValueError("regex_alternation needs at least one value")
    return "|".join(re2_escape(value) for value in unique)


def scoped(selector_matchers: Sequence[str], scope: str = "") -> str:
    """The inside of a ``{...}`` selector: the matchers plus the deployment's scope matchers.

    ``scope`` is ``MESHUI_PROMETHEUS_SCOPE`` as validated at start-up (comma-separated matchers
    such as ``mesh_id="prod"``), appended verbatim to every selector.
    """
    parts = [m for m in selector_matchers if m]
    if scope.strip():
        parts.append(scope.strip().strip(","))
    return ",".join(parts)


def selector(metric: str, selector_matchers: Sequence[str] = (), scope: str = "") -> str:
    """A full series selector, e.g. ``istio_requests_total{reporter="source",mesh_id="prod"}``."""
    if not _METRIC_NAME.match(metric):
        raise ValueError(f"{metric!r} is not a Prometheus metric name")
    inside = scoped(selector_matchers, scope)
    return f"{metric}{{{inside}}}" if inside else metric
