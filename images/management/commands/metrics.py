"""``manage.py metrics --port 9100``: serve a worker host's Prometheus metrics over HTTP.

A worker host runs no web server, and Django-Q2 runs each job in a child process, so the
workers write their values to ``PROMETHEUS_MULTIPROC_DIR`` and this process serves the
folder's sum (:func:`upscaler_site.metrics.exposition`), without the database's gauges, which
the web tier serves. Run it beside ``manage.py qcluster`` with the same environment.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from prometheus_client import CONTENT_TYPE_LATEST

from upscaler_site.metrics import exposition, multiprocess_dir


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        body = exposition(state=False)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # scrapes every 15 s are not news
        pass


class Command(BaseCommand):
    help = "Serve this worker host's Prometheus metrics (the workers' PROMETHEUS_MULTIPROC_DIR) on /metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--bind", default="127.0.0.1", help="The address to listen on (default 127.0.0.1).")

    def handle(self, *args: Any, port: int, bind: str, **options: Any) -> None:
        if not multiprocess_dir():
            raise CommandError("Set PROMETHEUS_MULTIPROC_DIR, for this command and the qcluster, to the same folder.")
        server = ThreadingHTTPServer((bind, port), _Handler)
        self.stdout.write(f"Serving the metrics of {multiprocess_dir()} on http://{bind}:{port}/metrics", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
