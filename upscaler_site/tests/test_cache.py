"""The embedded default cache: Django's database cache with an ``incr`` that holds across processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import connection

from upscaler_site.cache import DatabaseCache

# serialized_rollback: the flush at its end then keeps post_migrate from recreating rows (content types) that
# a later serialized_rollback test reloads.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TABLE = "test_counters"


@pytest.fixture
def cache() -> Iterator[DatabaseCache]:
    """Our database cache on a table of its own (the configured default may be Redis)."""
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table("default", TABLE, dry_run=False)
    backend = DatabaseCache(TABLE, {})
    yield backend
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {connection.ops.quote_name(TABLE)}")


def test_concurrent_increments_are_all_counted(cache):
    """8 threads, each with its own database connection, add 25 each at the same moment."""
    cache.add("hits", 0, timeout=60)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            start.wait()
            for _ in range(25):
                cache.incr("hits")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.get("hits") == 200


def test_incr_keeps_the_expiry_and_refuses_a_missing_or_expired_key(cache):
    cache.add("window", 0, timeout=2)
    assert cache.incr("window", 5) == 5
    with pytest.raises(ValueError):
        cache.incr("missing")
    time.sleep(2.1)  # Django's own incr would have moved the expiry to the default 300 s
    assert cache.get("window") is None
    with pytest.raises(ValueError):
        cache.incr("window")
