"""Fan-out benchmark of the live graph: 1,000 websocket viewers of one view on loopback.

Run: ``.venv/bin/python bench/fanout.py`` (``--viewers``, ``--seconds``, ``--layers``).

For each configuration — ``memory`` (in-memory layer, one web process), ``redis`` (Redis at
127.0.0.1:6379 db 14, one web process), and with ``--layers memory,redis,redis-2proc`` also
``redis-2proc`` (Redis, two web processes, viewers split between them) — it starts daphne on
free 127.0.0.1 ports as subprocesses serving ``bench.fanout_app:application`` — meshui's real
ASGI application (origin check, auth, consumer, hub, ticker) whose telemetry source is
synthetic and whose ticker runs twice a second. In-memory: the embedded ticker inside daphne.
Redis: daphne runs as in production with ``MESHUI_REDIS_URL`` (views registered in Redis,
frames over the Redis channel layer) and a second subprocess stands in for the Celery worker,
calling ``topology.snapshot.run_redis_tick`` — the task's body — twice a second.

The viewers are raw asyncio websocket clients (the ``websockets`` library is not a dependency)
in this process. Each delta carries its read time (``bench-read-at`` in ``warnings``), so the
latency measured is read → build → diff → broadcast → hub → socket → client, on one clock.
Reported: p50/p99/max latency, deltas received vs expected, lost updates (a sequence number
never received, not even through a snapshot) and snapshots sent instead of a backlog, delta
size, and upstream reads per tick with 1 viewer and with all of them. Bounded: ``--seconds``
(default 8, at most 20) of measurement per configuration — about 45 s for the two default
configurations — every wait has a deadline, every subprocess is stopped by PID.
It prints figures and machine info; it never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/14"
TICK_S = 0.5
CHANGED_EDGES = 20
VIEW = {"namespaces": ["bench"], "graph_type": "workload", "window": "5m"}
CONNECT_CONCURRENCY = 100
STARTUP_S = 30.0
GRACE_S = 1.5


# --- a minimal websocket client (RFC 6455: handshake, masked text out, unmasked frames in) ------
# An asyncio Protocol parsing frames in data_received: the client shares the 2 cores with the
# server, so it must cost as little per message as possible or it would measure itself.


@dataclass
class Viewer:
    """What one viewer saw."""

    latencies: dict[int, float] = field(default_factory=dict)
    delta_seqs: list[int] = field(default_factory=list)
    snapshot_seqs: list[int] = field(default_factory=list)
    delta_bytes: list[int] = field(default_factory=list)
    first_snapshot: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None


def _int_after(text: str, marker: str) -> int:
    start = text.index(marker) + len(marker)
    end = start
    while text[end].isdigit():
        end += 1
    return int(text[start:end])


def _masked_text(text: str) -> bytes:
    payload = text.encode()
    mask = secrets.token_bytes(4)
    if len(payload) >= 126:
        raise ValueError("the bench only sends short frames")
    header = struct.pack("!BB", 0x81, 0x80 | len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class ViewerProtocol(asyncio.Protocol):
    """One viewer's connection: handshake, subscribe, then record every frame."""

    def __init__(self, port: int, viewer: Viewer) -> None:
        self.port = port
        self.viewer = viewer
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        transport.write(  # type: ignore[attr-defined]
            (
                f"GET /ws/graph/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://127.0.0.1:{self.port}\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        received = time.time()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.viewer.error = bytes(self.buffer[: self.buffer.find(b"\r\n")]).decode(errors="replace")
                self.transport.close()
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            self.transport.write(_masked_text(json.dumps({"type": "subscribe", "view": VIEW})))
        while len(self.buffer) >= 2:
            first, second = self.buffer[0], self.buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                (length,), offset = struct.unpack_from("!H", self.buffer, 2), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                (length,), offset = struct.unpack_from("!Q", self.buffer, 2), 10
            if len(self.buffer) < offset + length:
                return
            payload = bytes(self.buffer[offset : offset + length])
            del self.buffer[: offset + length]
            opcode = first & 0x0F
            if opcode == 0x8:
                self.viewer.error = self.viewer.error or "closed by the server"
                self.transport.close()
                return
            if opcode == 0x1:
                self.on_text(payload.decode(), received)

    def on_text(self, text: str, received: float) -> None:
        # Frames are compact JSON starting {"type":"<kind>": no full parse needed.
        viewer = self.viewer
        kind = text[9 : text.index('"', 9)]
        if kind == "snapshot":
            viewer.first_snapshot.set()
            viewer.snapshot_seqs.append(_int_after(text, '"seq":'))
        elif kind == "delta":
            seq = _int_after(text, '"seq":')
            start = text.find("bench-read-at ")
            if start >= 0:
                viewer.latencies[seq] = received - float(text[start + 14 : text.index('"', start)])
            viewer.delta_seqs.append(seq)
            viewer.delta_bytes.append(len(text))


async def run_viewer(port: int, viewer: Viewer, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_connection(lambda: ViewerProtocol(port, viewer), "127.0.0.1", port)
    except OSError as exc:
        viewer.error = f"connect: {exc}"
        return
    try:
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({stopped, protocol.closed}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
    finally:
        transport.close()


def read_count(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


async def measure(ports: list[int], viewers_n: int, seconds: float, reads_file: Path) -> dict:
    stop = asyncio.Event()
    viewers = [Viewer() for _ in range(viewers_n)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def start(index: int, viewer: Viewer) -> None:
        async with gate:
            task = asyncio.create_task(run_viewer(ports[index % len(ports)], viewer, stop))
            waiter = asyncio.create_task(viewer.first_snapshot.wait())
            await asyncio.wait({task, waiter}, timeout=STARTUP_S, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            tasks.append(task)

    tasks: list[asyncio.Task] = []
    connect_started = time.monotonic()
    await asyncio.gather(*(start(i, v) for i, v in enumerate(viewers)))
    connect_s = time.monotonic() - connect_started
    ready = sum(v.first_snapshot.is_set() for v in viewers)

    def latest() -> int:
        return max((max(v.delta_seqs + v.snapshot_seqs, default=0) for v in viewers), default=0)

    # The window's ticks are those first seen during it; a grace period lets their in-flight
    # frames arrive, so a tick cut by the window's end does not count as lost.
    start_seq = latest()
    reads_before = read_count(reads_file)
    await asyncio.sleep(seconds)
    reads_after = read_count(reads_file)
    end_seq = latest()
    await asyncio.sleep(GRACE_S)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    window = range(start_seq + 1, end_seq + 1)
    latencies = sorted(lat for v in viewers for seq, lat in v.latencies.items() if seq in window)
    lost = skipped = 0
    for viewer in viewers:
        have = set(viewer.delta_seqs)
        covered = max(viewer.snapshot_seqs, default=0)
        for seq in window:
            if seq in have:
                continue
            if seq <= covered:
                skipped += 1
            else:
                lost += 1
    ticks = len(window)
    sizes = [b for v in viewers for b in v.delta_bytes]

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {
        "viewers": viewers_n,
        "ready": ready,
        "errors": sum(v.error is not None for v in viewers),
        "connect_s": connect_s,
        "ticks": ticks,
        "deltas": len(latencies),
        "expected": ticks * ready,
        "lost": lost,
        "skipped_by_snapshot": skipped,
        "snapshots_instead_of_backlog": sum(sum(seq in window for seq in v.snapshot_seqs) for v in viewers),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "delta_bytes": statistics.mean(sizes) if sizes else 0,
        "reads": reads_after - reads_before,
        "seconds": seconds,
    }


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def clean_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        for pattern in ("asgi*", "meshui:live:*", "_kombu*", "unacked*", "celery*"):
            keys = list(client.scan_iter(pattern))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


def bench_layer(layer: str, viewers: int, seconds: float, workdir: Path, web_processes: int) -> list[dict]:
    """Start ``web_processes`` daphne processes (and, for Redis, the ticker), measure 1 viewer
    then ``viewers`` viewers spread over the processes, stop everything by PID."""
    reads_file = workdir / f"reads-{layer}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="meshui.settings", MESHUI_DATA_DIR=str(workdir / "data"),
        MESHUI_ANONYMOUS_READ="true", MESHUI_LOG_LEVEL="WARNING", MESHUI_BENCH_TICK_S=str(TICK_S),
        MESHUI_BENCH_READS_FILE=str(reads_file), MESHUI_BENCH_CHANGED_EDGES=str(CHANGED_EDGES),
        PYTHONPATH=str(REPO),
    )  # fmt: skip
    if layer == "redis":
        env["MESHUI_REDIS_URL"] = REDIS_URL
        clean_redis()
    processes: list[subprocess.Popen] = []
    ports: list[int] = []
    log = (workdir / f"daphne-{layer}.log").open("w")
    try:
        for _ in range(web_processes):
            port = free_port()
            daphne = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.fanout_app:application"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            processes.append(daphne)
            ports.append(port)
        if layer == "redis":
            ticker = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--redis-ticker", "--ticker-limit-s", "120"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            processes.append(ticker)
        for port, daphne in zip(ports, processes, strict=False):
            if not wait_port(port, daphne, STARTUP_S):
                print(f"  daphne did not start; see {log.name}")
                return []
        one = asyncio.run(measure(ports[:1], 1, min(3.0, seconds), reads_file))
        many = asyncio.run(measure(ports, viewers, seconds, reads_file))
        return [one, many]
    finally:
        for process in reversed(processes):
            stop_process(process)
        log.close()
        if layer == "redis":
            clean_redis()


def redis_ticker(limit_s: float) -> None:
    """The Celery worker's stand-in: run the tick task's body every TICK_S, for at most limit_s."""
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from channels.layers import get_channel_layer

    from bench.fanout_app import install
    from topology.snapshot import RedisLiveStore, run_redis_tick

    install()
    store = RedisLiveStore.from_settings()
    layer = get_channel_layer()
    deadline = time.monotonic() + limit_s
    next_tick = time.monotonic()
    while time.monotonic() < deadline:
        run_redis_tick(store, layer, interval_s=TICK_S, lock_wait_s=TICK_S)
        next_tick += TICK_S
        time.sleep(max(0.0, next_tick - time.monotonic()))


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}"
    return f"{system}, {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--layers", default="memory,redis",
                        help="memory, redis (one web process) and/or redis-2proc (two web processes)")
    parser.add_argument("--redis-ticker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ticker-limit-s", type=float, default=120.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.redis_ticker:
        redis_ticker(min(args.ticker_limit_s, 120.0))
        return
    viewers = max(1, min(args.viewers, 5000))
    seconds = max(2.0, min(args.seconds, 20.0))
    print(f"machine: {machine()}")
    print(f"view: {json.dumps(VIEW)}; ticker every {TICK_S} s; {CHANGED_EDGES} edges change per tick")
    with tempfile.TemporaryDirectory(prefix="meshui-fanout-") as tmp:
        for name in args.layers.split(","):
            layer, web_processes = ("redis", 2) if name == "redis-2proc" else (name, 1)
            print(f"\n== {layer} channel layer, {web_processes} web process(es) ==")
            for result in bench_layer(layer, viewers, seconds, Path(tmp), web_processes):
                reads_per_tick = result["reads"] / max(1, result["ticks"])
                print(
                    f"  {result['viewers']:>5} viewers ({result['ready']} ready, {result['errors']} errors,"
                    f" connected in {result['connect_s']:.1f} s): {result['ticks']} ticks,"
                    f" deltas {result['deltas']}/{result['expected']}, lost {result['lost']},"
                    f" skipped via snapshot {result['skipped_by_snapshot']}"
                    f" ({result['snapshots_instead_of_backlog']} snapshots)"
                )
                print(
                    f"        latency read→client p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms,"
                    f" max {result['max_ms']:.1f} ms; delta {result['delta_bytes']:.0f} B;"
                    f" upstream reads {result['reads']} in {result['seconds']:.0f} s"
                    f" = {reads_per_tick:.2f} per tick"
                )
    print("\ntarget: p99 ≤ 250 ms with 1,000 viewers on 2 cores; reads per tick independent of viewers")


if __name__ == "__main__":
    main()
