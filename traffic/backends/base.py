"""The backend interface: read one namespace's routing resources, write ordered changes atomically.

A backend is a ``MeshBackend`` subclass registered by ``name`` (``@register``) and chosen with
``MESHUI_MESH_BACKEND``. The contract every backend keeps:

* ``snapshot(namespace, service, fresh=False)`` returns every VirtualService and DestinationRule
  of the namespace (plus Gateways, Rollouts and Canaries when it holds any, for validation and
  owner detection), the service's **version** (an opaque string that changes whenever any
  resource for that service changes, by meshui or by hand) and when the data was read. A
  backend may answer a read from a short-lived cache (``from_cache``; kubernetes does), but
  with ``fresh=True`` it reads the store itself: every write path (the If-Match check, the
  state a change is computed from, ``apply``'s own re-read) asks for that, so a cached version
  never lets a stale write through nor refuses a current one. Backends that always read the
  store accept ``fresh`` and ignore it.
* ``apply(namespace, service, writes, expected_version, record)`` performs ``writes`` in their
  order only if the service's version still equals ``expected_version`` (else raises
  ``StaleVersion`` and writes nothing); calls ``record(new_version)`` once, after the writes
  succeeded and while concurrent writers of the service are still held off, and returns its
  result. A failure in step N undoes steps 1..N-1 when it can and raises ``WriteFailed`` whose
  details say exactly which steps were applied, failed and compensated. A caching backend
  forgets what it kept of the namespace once ``apply`` has written (whatever the outcome), so
  the next read in the process shows meshui's own write.
* ``list_resources(namespace)`` lists VirtualServices and DestinationRules (``None``: all);
  ``listing(namespace)`` gives the same with when it was read.

Backends never validate: ``traffic.actions`` validates before it calls ``apply``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from traffic.render import Write

T = TypeVar("T")
_REGISTRY: dict[str, type[MeshBackend]] = {}


def utc_now() -> datetime:
    """The wall clock in UTC: when a read begins, as ``Snapshot.synced_at`` records it."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Snapshot:
    """One namespace's routing resources and a service's version, as read at ``synced_at``
    (wall clock, UTC; by default when the snapshot is made, i.e. a live read); ``from_cache``
    when the backend reused a read made earlier instead of reading for this answer."""

    namespace: str
    service: str
    resources: tuple[dict, ...]
    version: str
    synced_at: datetime = field(default_factory=utc_now)
    from_cache: bool = False


@dataclass(frozen=True)
class Listing:
    """``list_resources``' answer with when it was read (as ``Snapshot``)."""

    resources: tuple[dict, ...]
    synced_at: datetime = field(default_factory=utc_now)
    from_cache: bool = False


class MeshBackend(ABC):
    name: ClassVar[str]

    @abstractmethod
    def snapshot(self, namespace: str, service: str, *, fresh: bool = False) -> Snapshot: ...

    @abstractmethod
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
    ) -> T: ...

    @abstractmethod
    def list_resources(self, namespace: str | None) -> list[dict]: ...

    def listing(self, namespace: str | None) -> Listing:
        """``list_resources(namespace)`` and when it was read; a caching backend overrides it."""
        synced_at = utc_now()
        return Listing(tuple(self.list_resources(namespace)), synced_at)

    def check_writes(self, writes: Sequence[Write], *, actor: Any = None) -> None:
        """Let the store itself vet ``writes`` without keeping them (meshui's ``dry_run``).

        A backend whose store can judge a write before it happens (the Kubernetes API server's
        ``dryRun=All``: schema, admission webhooks, RBAC) overrides this and raises what
        ``apply`` would raise; the local and gitops stores have nothing more to say than
        meshui's own validation, so by default it accepts.
        """
        return None


def register(cls: type[MeshBackend]) -> type[MeshBackend]:
    """Class decorator: make ``cls`` selectable as ``MESHUI_MESH_BACKEND=<cls.name>``."""
    _REGISTRY[cls.name] = cls
    return cls


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def get_backend(name: str | None = None) -> MeshBackend:
    """A new instance of the backend ``name`` (default ``settings.MESHUI_MESH_BACKEND``).

    Raises ``ImproperlyConfigured`` naming the registered backends for an unknown name.
    """
    chosen = name or getattr(settings, "MESHUI_MESH_BACKEND", "local")
    if chosen not in _REGISTRY:
        raise ImproperlyConfigured(
            f"MESHUI_MESH_BACKEND={chosen!r} is not valid: expected one of {', '.join(backend_names())}."
        )
    return _REGISTRY[chosen]()
