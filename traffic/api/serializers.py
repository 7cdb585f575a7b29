"""Query and header parsing of the traffic API: a bad value is a 400 naming it."""

from __future__ import annotations

from rest_framework import serializers

from traffic.specs import DNS1123_LABEL

MAX_BODY_BYTES = 64 * 1024


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
    namespace = serializers.RegexField(DNS1123_LABEL, required=False)
    service = serializers.RegexField(DNS1123_LABEL, required=False)
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=500)


class IstioConfigQuerySerializer(serializers.Serializer):
    namespace = serializers.RegexField(DNS1123_LABEL, required=False)


def parse_if_match(header: str | None) -> str | None:
    """The version in ``If-Match: "<version>"`` (weak tags accepted; ``*`` and absence = None).

    Raises ``ValidationError`` on ``If-Match`` for a list of several tags.
    """
    if header is None or header.strip() in ("", "*"):
        return None
    text = header.strip()
    if text.startswith("W/"):
        text = text[2:]
    if "," in text:
        raise serializers.ValidationError({"If-Match": ["give exactly one version"]})
    return text.strip('"')


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
