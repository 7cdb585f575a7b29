"""The ``local`` backend: resources in meshui's database (the embedded default; the demo obeys it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F

from traffic.backends.base import MeshBackend, Snapshot, register
from traffic.errors import StaleVersion
from traffic.models import LocalResource, LocalServiceVersion
from traffic.render import Write

T = TypeVar("T")
KINDS = ("VirtualService", "DestinationRule")


@register
class LocalBackend(MeshBackend):
    """Resources are rows of ``LocalResource``; the version is a per-service counter.

    ``apply`` runs in one database transaction whose first statement is the compare-and-swap of
    the counter (so SQLite takes its write lock at once rather than failing a lock upgrade):
    every step and the audit record commit together or not at all, which makes ordering and
    compensation trivially hold.
    """

    name = "local"

    def snapshot(self, namespace: str, service: str, *, fresh: bool = False) -> Snapshot:
        """Always read from the database (``fresh`` changes nothing)."""
        row = LocalServiceVersion.objects.filter(namespace=namespace, service=service).first()
        resources = tuple(r.body for r in LocalResource.objects.filter(namespace=namespace).order_by("kind", "name"))
        return Snapshot(namespace, service, resources, str(row.counter if row else 0))

    def apply(
        self,
        namespace: str,
        service: str,
        writes: Sequence[Write],
        expected_version: str,
        record: Callable[[str], T],
        *,
        actor: Any = None,
        message: str = "",
    ) -> T:
        if not expected_version.isdigit():
            raise StaleVersion(message=f"version {expected_version[:40]!r} is not a version of this backend")
        LocalServiceVersion.objects.get_or_create(namespace=namespace, service=service)
        with transaction.atomic():
            swapped = LocalServiceVersion.objects.filter(
                namespace=namespace, service=service, counter=int(expected_version)
            ).update(counter=F("counter") + 1)
            if swapped != 1:
                raise StaleVersion(
                    message=f"the routing of {namespace}/{service} changed since version "
                    f"{expected_version}: read it again"
                )
            for write in writes:
                if write.body is None:
                    LocalResource.objects.filter(namespace=write.namespace, kind=write.kind, name=write.name).delete()
                else:
                    LocalResource.objects.update_or_create(
                        namespace=write.namespace, kind=write.kind, name=write.name, defaults={"body": write.body}
                    )
            return record(str(int(expected_version) + 1))

    def list_resources(self, namespace: str | None) -> list[dict]:
        rows = LocalResource.objects.filter(kind__in=KINDS).order_by("namespace", "kind", "name")
        if namespace is not None:
            rows = rows.filter(namespace=namespace)
        return [row.body for row in rows]
