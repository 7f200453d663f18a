"""``manage.py metrics --port 9100``: serve a worker host's Prometheus metrics over HTTP.

A worker host runs no web server, and Django-Q2 runs each job in a child process, so the
workers write their values to ``PROMETHEUS_MULTIPROC_DIR`` and this process serves the
folder's sum (:func:`upscaler_site.metrics.host_registry`) with prometheus_client's own
server, without the database's gauges, which the web tier serves. Run it beside
``manage.py qcluster`` with the same environment.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from prometheus_client import start_http_server

from upscaler_site.metrics import host_registry, multiprocess_dir


class Command(BaseCommand):
    help = "Serve this worker host's Prometheus metrics (the workers' PROMETHEUS_MULTIPROC_DIR) on /metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--bind", default="127.0.0.1", help="The address to listen on (default 127.0.0.1).")

    def handle(self, *args: Any, port: int, bind: str, **options: Any) -> None:
        if not multiprocess_dir():
            raise CommandError("Set PROMETHEUS_MULTIPROC_DIR, for this command and the qcluster, to the same folder.")
        server, thread = start_http_server(port, addr=bind, registry=host_registry())
        self.stdout.write(f"Serving the metrics of {multiprocess_dir()} on http://{bind}:{port}/metrics", ending="\n")
        self.stdout.flush()
        try:
            thread.join()
        except KeyboardInterrupt:
            server.shutdown()
