"""Django-Q2 tasks of accounts: forget expired idempotency keys."""

from __future__ import annotations

from accounts import idempotency


def purge_idempotency_keys() -> int:
    """Delete the ``Idempotency-Key`` records older than 24 hours (scheduled hourly); how many."""
    return idempotency.purge_expired()
