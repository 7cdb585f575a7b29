"""Query and header parsing of the traffic API: a bad value is a 400 naming it."""

from __future__ import annotations

import re

from rest_framework import serializers

from traffic.specs import DNS1123_LABEL

MAX_BODY_BYTES = 64 * 1024
CHANGES_DEFAULT_LIMIT = 100
CHANGES_MAX_LIMIT = 500
# ``since`` of a changes query: unix seconds, 1970 to 2100.
CHANGES_SINCE_MAX = 4_102_444_800
# An entity tag (RFC 9110 section 8.8.3) that is not empty: the quotes make it one, unquoted
# text is not a version that merely differs (412) but a malformed header (400).
_ENTITY_TAG = re.compile(r'^(?:W/)?"([\x21\x23-\x7e]+)"$')
# What parse_if_match accepts, as OpenAPI documents it: blanks (space, tab) around "*" or one tag
# (a comma would make it a list of tags).
IF_MATCH_PATTERN = r'^[ \t]*(\*|(W/)?"[!#-+\--~]+")?[ \t]*$'


def dns_label(value: str, field: str) -> str:
    """``value`` if it is a DNS-1123 label, else a ``ValidationError`` naming ``field``."""
    if not DNS1123_LABEL.match(value or ""):
        raise serializers.ValidationError(
            {field: [f"{value[:80]!r} is not a valid name (lower-case letters, digits and '-', at most 63 characters)"]}
        )
    return value


class WriteFlagsSerializer(serializers.Serializer):
    """``?dry_run=`` and ``?force=`` of a write."""

    dry_run = serializers.BooleanField(required=False, default=False)
    force = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data):  # type: ignore[override]
        unknown = set(data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({sorted(unknown)[0]: ["is not a parameter of this endpoint"]})
        return super().to_internal_value(data)


class ChangesQuerySerializer(serializers.Serializer):
    # Untrimmed: " bookinfo" is no DNS-1123 label, as the documented pattern says.
    namespace = serializers.RegexField(DNS1123_LABEL, required=False, trim_whitespace=False)
    service = serializers.RegexField(DNS1123_LABEL, required=False, trim_whitespace=False)
    limit = serializers.IntegerField(required=False, default=CHANGES_DEFAULT_LIMIT, min_value=1,
                                     max_value=CHANGES_MAX_LIMIT)  # fmt: skip
    since = serializers.FloatField(required=False, min_value=0, max_value=CHANGES_SINCE_MAX)

    def validate_since(self, value: float) -> float:
        if value != value:  # NaN passes the bounds
            raise serializers.ValidationError("must be unix seconds")
        return value


class IstioConfigQuerySerializer(serializers.Serializer):
    namespace = serializers.RegexField(DNS1123_LABEL, required=False, trim_whitespace=False)


def parse_if_match(header: str | None) -> str | None:
    """The version in ``If-Match: "<version>"`` (weak tags accepted; ``*`` and absence = None).

    Raises ``ValidationError`` on ``If-Match`` for a list of several tags and for anything that
    is not one quoted, non-empty entity tag (``If-Match: garbage``).
    """
    # Blanks are HTTP's (space, tab): the documented IF_MATCH_PATTERN says exactly what passes.
    if header is None or header.strip(" \t") in ("", "*"):
        return None
    text = header.strip(" \t")
    if "," in text:
        raise serializers.ValidationError({"If-Match": ["give exactly one version"]})
    tag = _ENTITY_TAG.match(text)
    if tag is None:
        raise serializers.ValidationError(
            {"If-Match": [f'{text[:80]!r} is not a version: send it quoted, as the ETag of a GET, e.g. "3"']}
        )
    return tag.group(1)


def change_to_wire(change) -> dict:
    return {
        "id": change.pk,
        "time": change.created_at.isoformat(),
        "actor": change.actor,
        "auth_method": change.auth_method,
        "namespace": change.namespace,
        "service": change.service,
        "operation": change.operation,
        "summary": change.summary,
        "before": change.before,
        "after": change.after,
        "diff": change.diff,
        "backend": change.backend,
        "version_before": change.version_before,
        "version_after": change.version_after,
        "reverts": change.reverts_id,
    }
