"""Bounded JSON: what the API and the live graph accept from clients.

A client decides how large and how deeply nested its JSON is; unbounded, a body of a few
megabytes or a few kilobytes of ``[[[[...`` costs memory, or a ``RecursionError`` (a 500)
inside ``json`` or in whatever walks the result later. ``loads_bounded`` parses JSON of a
limited nesting depth; ``BoundedJSONParser`` is DRF's JSON parser reading at most a limited
number of bytes through it.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, get_encoding
from rest_framework.settings import api_settings

# Deeper than any document meshui reads (a traffic change nests about 6 levels), far below
# what makes ``json`` or the code after it recurse too deep.
MAX_JSON_DEPTH = 64
# API bodies are small documents; views that take less say so with ``max_body_bytes``.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class JSONTooDeep(ValueError):
    """The JSON nests arrays and objects deeper than allowed."""


class RequestBodyTooLarge(APIException):
    """413 ``request_body_too_large`` on ``body``: the body is larger than the endpoint accepts.

    A DRF exception rather than a ``MeshuiError``: DRF imports the parsers while
    ``meshui.errors`` itself is being imported.
    """

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_body_too_large"
    default_detail = "The request body is too large."
    field = "body"


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests lists and dicts deeper than ``max_depth`` (iterative: no recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH, *, strict: bool = True) -> Any:
    """The JSON value of ``text``; arrays and objects may nest at most ``max_depth`` levels.

    ``strict`` refuses ``NaN`` and ``Infinity``, which are not JSON. Raises ``JSONTooDeep`` past
    that depth and ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError``) for
    anything that is not JSON; never ``RecursionError``.
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant if strict else None)
    except RecursionError:
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels") from None
    if _depth_exceeds(value, max_depth):
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels")
    return value


class BoundedJSONParser(BaseParser):
    """``application/json`` bodies, bounded in size and depth (DRF's ``JSONParser`` otherwise).

    Reads at most ``max_body_bytes`` of the body (the view's attribute of that name, else
    ``DEFAULT_MAX_BODY_BYTES``) and raises ``RequestBodyTooLarge`` (413) past it. Invalid JSON,
    a body that does not decode and nesting deeper than ``MAX_JSON_DEPTH`` raise ``ParseError``
    (400). Not a ``JSONParser`` subclass on purpose: DRF hands those ``request.body``, which
    reads the whole body first and raises ``RequestDataTooBig`` past Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``; this parser reads the stream itself, only as far as it may.
    """

    media_type = "application/json"
    strict = api_settings.STRICT_JSON

    def parse(self, stream, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        parser_context = parser_context or {}
        limit = getattr(parser_context.get("view"), "max_body_bytes", DEFAULT_MAX_BODY_BYTES)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestBodyTooLarge(f"the body is larger than {limit} bytes")
        try:
            return loads_bounded(raw.decode(get_encoding(parser_context)), strict=self.strict)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
