"""``ORJSONRenderer``: DRF's ``JSONRenderer`` output, written by ``orjson``.

The graph API answers documents of thousands of edges; ``json.dumps`` spends longer writing
them than the graph takes to build. ``orjson`` writes the same JSON, with these differences
from ``JSONRenderer`` (compact, ``UNICODE_JSON``, ``STRICT_JSON``, as configured by default):

* numbers are the same values, but an exponent is spelt without ``+`` and leading zeros
  (``1e-7``, ``1e16``) and ``0.00001234`` without one; a JSON parser reads them identically;
* NaN and infinities become ``null`` where ``JSONRenderer`` raises ``ValueError`` (a 500).

Strings are byte for byte the same: UTF-8 as is, control characters as ``\\u00XX``, and
U+2028/U+2029 escaped as DRF does (so the output stays valid JavaScript). Subclasses of
str/int/dict/list (``StrEnum`` values, DRF's ``ReturnDict``) are written as their base type, as
``json`` does; everything else orjson would not write the way DRF's encoder does — datetimes,
dataclasses, lazy translations, Decimal, querysets — goes through DRF's own ``JSONEncoder``. A
request for indented output (``Accept: application/json; indent=4``) is rendered by
``JSONRenderer`` itself.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer

# Subclasses of str/int/dict/list (enums, DRF's ReturnDict) are written natively, as json does.
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


class ORJSONRenderer(JSONRenderer):
    """``JSONRenderer`` with ``orjson`` doing the writing (see the module doc for the contract)."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        """``data`` as JSON bytes; ``b""`` for ``None``. Raises ``TypeError`` for data that
        neither orjson nor DRF's encoder can write."""
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        encoder = self.encoder_class()
        try:
            rendered = orjson.dumps(data, default=encoder.default, option=_OPTIONS)
        except orjson.JSONEncodeError as error:
            raise TypeError(str(error)) from error
        if b"\xe2\x80\xa8" in rendered or b"\xe2\x80\xa9" in rendered:
            rendered = rendered.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return rendered
