"""``manage.py demo_exporter``: serve the demo mesh's Istio metrics for a real Prometheus to scrape.

Needs no database. Stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.exposition import DemoExporter, make_server
from demo.simulate import Simulator
from demo.source import DEFAULT_SEED, demo_mesh


class Command(BaseCommand):
    help = "Serve the demo mesh's Istio metrics in Prometheus text format at http://HOST:PORT/metrics."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, required=True, help="TCP port to listen on (0: any free port)."
        )
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument(
            "--size", type=int, default=0, help="Synthetic mesh of N services (default 0: Bookinfo)."
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"Traffic seed (default {DEFAULT_SEED})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port, size = options["port"], options["size"]
        if not 0 <= port <= 65535:
            raise CommandError("--port must be within 0..65535")
        if size < 0 or size == 1:
            raise CommandError("--size must be 0 (Bookinfo) or at least 2")
        mesh = demo_mesh(size, options["seed"])
        exporter = DemoExporter(Simulator(mesh, options["seed"]), start=time.time())
        try:
            server = make_server(exporter, options["host"], port, time.time)
        except OSError as error:
            raise CommandError(f"cannot listen on {options['host']}:{port}: {error}") from None

        def stop(signum: int, frame: object) -> None:
            # shutdown() waits for serve_forever() to return, so it must run on another thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        host, bound_port = server.server_address[:2]
        self.stdout.write(
            f"demo exporter: mesh {mesh.name} (seed {options['seed']}) at http://{host}:{bound_port}/metrics"
        )
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("demo exporter stopped")
