import threading

import pytest

from topology.graph.telemetry import MeshTelemetry
from topology.service import SharedReads


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_reads_of_one_key_share_a_single_read():
    # given
    reads = SharedReads(ttl_s=5)
    release = threading.Event()
    calls = []

    def slow_read() -> MeshTelemetry:
        calls.append(1)
        release.wait(5)
        return MeshTelemetry(query_time=1.0, window_s=300)

    results = []
    threads = [threading.Thread(target=lambda: results.append(reads.get(("k",), slow_read))) for _ in range(20)]
    # when
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    # then
    assert len(calls) == 1
    assert len(results) == 20
    assert all(result is results[0] for result in results)


def test_a_read_is_reused_until_its_ttl_then_read_again():
    # given
    clock = FakeClock()
    reads = SharedReads(ttl_s=5, clock=clock)
    calls = []

    def read() -> MeshTelemetry:
        calls.append(clock.now)
        return MeshTelemetry(query_time=clock.now, window_s=300)

    # when
    first = reads.get(("k",), read)
    clock.now += 4.9
    second = reads.get(("k",), read)
    clock.now += 0.2
    third = reads.get(("k",), read)
    # then
    assert first is second
    assert third is not first
    assert calls == [1000.0, 1005.1]


def test_a_failed_read_is_not_kept():
    # given
    reads = SharedReads(ttl_s=5)
    outcomes = iter([RuntimeError("prometheus down"), MeshTelemetry(query_time=2.0, window_s=60)])

    def read() -> MeshTelemetry:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    # when / then
    with pytest.raises(RuntimeError, match="prometheus down"):
        reads.get(("k",), read)
    assert reads.get(("k",), read).query_time == 2.0


def test_different_keys_read_separately():
    reads = SharedReads(ttl_s=5)
    a = reads.get((300, None), lambda: MeshTelemetry(query_time=1.0, window_s=300))
    b = reads.get((60, None), lambda: MeshTelemetry(query_time=1.0, window_s=60))
    assert (a.window_s, b.window_s) == (300, 60)
