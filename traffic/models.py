"""The audit log of traffic changes, the local backend's storage and operators' namespace limits."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class TrafficChange(models.Model):
    """One applied change of one service's routing (refused requests are never recorded).

    ``before``/``after`` are the API states (``traffic.specs.to_wire`` plus owner), and
    ``before_resources``/``after_resources`` the exact VirtualService/DestinationRule bodies,
    so a revert puts back the resources themselves. ``version_after`` is the service's version
    right after the change: a revert applies only while it is still current.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    auth_method = models.CharField(max_length=40)
    backend = models.CharField(max_length=40)
    namespace = models.CharField(max_length=63)
    service = models.CharField(max_length=63)
    operation = models.CharField(max_length=10)  # patch | delete | revert
    summary = models.CharField(max_length=500)
    before = models.JSONField()
    after = models.JSONField()
    before_resources = models.JSONField()
    after_resources = models.JSONField()
    diff = models.TextField()
    version_before = models.CharField(max_length=100)
    version_after = models.CharField(max_length=100)
    reverts = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reverted_by")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["namespace", "service", "-id"], name="traffic_change_service_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.namespace}/{self.service}: {self.summary}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert only: a recorded change is never rewritten (raises ``AuditLogIsAppendOnly``)."""
        if not self._state.adding:
            raise AuditLogIsAppendOnly(f"audit entry #{self.pk} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        """Never: the audit log is append-only (raises ``AuditLogIsAppendOnly``)."""
        raise AuditLogIsAppendOnly(f"audit entry #{self.pk} cannot be deleted")


class AuditLogIsAppendOnly(Exception):
    """Raised on any attempt to change or delete a recorded ``TrafficChange``."""


class LocalResource(models.Model):
    """A VirtualService or DestinationRule kept by the ``local`` backend (the embedded mesh)."""

    namespace = models.CharField(max_length=63)
    kind = models.CharField(max_length=40)
    name = models.CharField(max_length=253)
    body = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "kind", "name"], name="traffic_local_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class LocalServiceVersion(models.Model):
    """The version counter of one service's routing in the ``local`` backend.

    Writers compare-and-swap ``counter`` (``UPDATE … WHERE counter = expected``): of several
    writers holding the same version exactly one wins, on SQLite and PostgreSQL alike.
    """

    namespace = models.CharField(max_length=63)
    service = models.CharField(max_length=63)
    counter = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "service"], name="traffic_local_version_unique")]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service} at {self.counter}"


class OperatorNamespace(models.Model):
    """Limits an operator to namespaces: an operator with at least one row writes only there.

    Admins are never limited; an operator without rows may write in every namespace.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="traffic_namespaces")
    namespace = models.CharField(max_length=63)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "namespace"], name="traffic_operator_ns_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.namespace}"
