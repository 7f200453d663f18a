"""``manage.py ready [--worker]``: whether this host can serve, for orchestrators' exec probes.

The checks of ``GET /readyz`` (database, broker, cache, storage) and, with ``--worker``,
that every model's weights are installed here. Exit status 0 when all pass, 1 otherwise;
each check's result is printed as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from upscaler_site.health import run_checks


class Command(BaseCommand):
    help = "Check that this host can serve: database, broker, cache, storage (and, with --worker, model weights)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--worker", action="store_true", help="Also check the model weights (worker hosts).")

    def handle(self, *args: Any, worker: bool = False, **options: Any) -> None:
        checks = run_checks(worker=worker)
        self.stdout.write(json.dumps(checks, indent=2))
        if any(result != "ok" for result in checks.values()):
            raise SystemExit(1)
