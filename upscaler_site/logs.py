"""Structured logs: JSON lines with a request id that follows an image from its upload into the worker
and its webhooks, and Sentry when ``SENTRY_DSN`` is set.

The web tier's request id comes from django-structlog's ``RequestMiddleware`` (a UUID per
request), is answered in ``X-Request-ID``, and is stored on what the request creates (an
image's ``request_id``). The worker binds it again (:func:`bound`) while it runs the image's
job and delivers its webhooks, so one id finds every line about an upload, whichever host
wrote it. Every library's standard ``logging`` goes through the same formatter.

Nothing here imports the apps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import structlog
from django.dispatch import receiver
from django_structlog import signals
from structlog.typing import Processor

#: Processors shared by structlog's own loggers and standard logging records.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure(level: str, json: bool) -> dict[str, Any]:
    """Configure structlog, and return Django's ``LOGGING`` for it: JSON lines (``json``) or readable ones."""
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": [*_SHARED, structlog.stdlib.ExtraAdder()],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        # One line per request from django-structlog; Django's own would repeat it.
        "loggers": {"django.request": {"level": "ERROR"}, "django.server": {"level": "WARNING"}},
    }


def init_sentry(dsn: str, environment: str, traces_sample_rate: float) -> None:
    """Send errors to Sentry (``SENTRY_DSN``), without personal data."""
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(dsn=dsn, environment=environment, traces_sample_rate=traces_sample_rate,
                    integrations=[DjangoIntegration()], send_default_pii=False)  # fmt: skip


def request_id() -> str:
    """The request id bound now (in a web request, or while the worker runs a job); "" outside of one."""
    return str(structlog.contextvars.get_contextvars().get("request_id", ""))


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind ``values`` (``request_id=...``, ``image_id=...``) to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in values.items() if v not in (None, "")}):
        yield


@receiver(signals.bind_extra_request_finished_metadata, dispatch_uid="upscaler_site.request_id_header")
def _answer_request_id(sender: Any, request: Any, logger: Any, response: Any, **kwargs: Any) -> None:
    # The client can quote it to support; it is the id in every log line about the request.
    response["X-Request-ID"] = request_id()
