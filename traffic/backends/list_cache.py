"""A per-process cache of Kubernetes list answers: short TTL, bounded in size, single flight.

Every traffic read of the kubernetes backend lists a namespace's VirtualServices and
DestinationRules, and the graph page reads the routing of every namespace in view on each
refresh. ``ListCache`` keeps each list for a few seconds, so many readers of a namespace cost
one LIST per kind per TTL, and concurrent readers of a list that is not cached wait for one LIST
instead of sending their own.

Keys are ``(API server host, namespace or None for all namespaces, plural)``. The contract:

* ``get(key, ttl_s, load)``: the kept read when it began less than ``ttl_s`` ago (``from_cache``
  true), else ``load()`` run once for every concurrent caller of the key: the caller that starts
  it gets ``from_cache`` false, those who wait for it true; its error is raised to each of them
  and never kept.
* ``refresh(key, load)``: ``load()`` now, whatever is kept, and keep the result for later readers.
* ``forget(host, namespace)``: drop the namespace's lists and the host's all-namespaces lists.
  A load still running then is answered to its callers but not kept (it may have read the
  state before the change that made the caller forget), and readers arriving after it start a
  new load rather than wait for that one.
* At most ``max_entries`` lists are kept, the least recently used dropped first.

Values are kept as given: callers that may modify what they read copy it first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar, cast

V = TypeVar("V")
Key = tuple[str, str | None, str]


@dataclass(frozen=True)
class Read(Generic[V]):
    """One list read: its value, when it began (wall clock for people, ``read_at`` on the cache's
    clock for ages and ordering) and whether this answer reused a read made for someone else."""

    value: V
    synced_at: datetime
    read_at: float
    from_cache: bool = False


class _Flight(Generic[V]):
    """A load in progress; the callers who joined it wait on ``done`` for ``read`` or ``error``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.read: Read[V] | None = None
        self.error: BaseException | None = None


class ListCache(Generic[V]):
    """See the module docstring. Thread-safe; ``clock`` (monotonic seconds) is replaceable in tests."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, Read[V]] = OrderedDict()
        self._flights: dict[Key, _Flight[V]] = {}
        # Bumped by forget() and clear(): a load that began under an older generation is not kept.
        self._generation = 0

    def get(self, key: Key, ttl_s: float, load: Callable[[], V]) -> Read[V]:
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and self.clock() - kept.read_at < ttl_s:
                self._entries.move_to_end(key)
                return replace(kept, from_cache=True)
            flight = self._flights.get(key)
            leads = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leads:
            # Bounded: the leader's load is bounded by the client's timeout per request.
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return replace(cast(Read[V], flight.read), from_cache=True)
        try:
            flight.read = self.refresh(key, load)
            return flight.read
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    def refresh(self, key: Key, load: Callable[[], V]) -> Read[V]:
        with self._lock:
            generation, read_at = self._generation, self.clock()
        synced_at = datetime.now(UTC)
        read = Read(load(), synced_at, read_at)
        with self._lock:
            kept = self._entries.get(key)
            # Keep it unless a forget() happened meanwhile or a read that began later is kept already.
            if generation == self._generation and (kept is None or kept.read_at <= read_at):
                self._entries[key] = read
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return read

    def forget(self, host: str, namespace: str) -> None:
        with self._lock:
            self._generation += 1
            for key in [k for k in (*self._entries, *self._flights) if k[0] == host and k[1] in (namespace, None)]:
                self._entries.pop(key, None)
                self._flights.pop(key, None)

    def clear(self) -> None:
        """Drop everything (tests)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._flights.clear()
