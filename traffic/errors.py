"""Domain errors of traffic changes; each is a ``MeshuiError`` with its code and HTTP status."""

from __future__ import annotations

from typing import Any

from meshui.errors import MeshuiError


class StaleVersion(MeshuiError):
    """The routing changed since the version the caller read (If-Match or a concurrent write)."""

    code = "stale_version"
    status = 412


class WriteContention(MeshuiError):
    """A write without If-Match kept losing to concurrent writers until its time ran out; nothing
    was written. Retry after ``Retry-After`` seconds (decision 0021)."""

    code = "write_contention"
    status = 409
    retry_after_s = 1


class UnknownTarget(MeshuiError):
    """The namespace or service of a write exists neither in telemetry nor in the backend's
    routing; ``field`` says which. An admin may write anyway with ``force=true``."""

    status = 404

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(code=code, message=message, field=field)


class IfMatchRequired(MeshuiError):
    code = "if_match_required"
    status = 428


class ForeignOwner(MeshuiError):
    """Flagger or Argo Rollouts manages this routing; only an admin with ``force=true`` may override."""

    code = "foreign_owner"
    status = 409


class InvalidTraffic(MeshuiError):
    """A value of the change or a rendered resource is invalid; ``field`` names it."""

    code = "invalid_traffic"
    status = 400


class RevertConflict(MeshuiError):
    """The routing changed after the change to revert: ``details.diff`` shows how."""

    code = "revert_conflict"
    status = 409


class WriteFailed(MeshuiError):
    """A backend write failed. ``details`` lists the steps ``applied``, the step that ``failed``
    and whether the applied ones were ``compensated`` (undone)."""

    code = "backend_write_failed"
    status = 502

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message=message, details=details)


class BackendUnavailable(MeshuiError):
    code = "backend_unavailable"
    status = 503
