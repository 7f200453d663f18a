"""The embedded default cache: Django's database cache, with counters that hold across processes."""

from __future__ import annotations

import base64
import pickle
from typing import Any

from django.core.cache.backends import db
from django.db import connections, models, router, transaction
from django.utils.timezone import now


class DatabaseCache(db.DatabaseCache):
    """Django's database cache with an atomic ``incr`` that keeps the key's expiry.

    Django's own ``incr`` reads the value, adds, and writes it back with the default
    timeout: two processes incrementing at once lose an increment, and the counter's
    expiry moves. The hourly rate limits count in the cache from every web process, so
    here the row is locked before it is read (an ``UPDATE`` of the row, which PostgreSQL
    holds until commit and which SQLite's ``IMMEDIATE`` transactions serialise), and
    only its value is written back.
    """

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        quote = connection.ops.quote_name
        table, key_column, value_column, expires_column = (
            quote(name)
            for name in (self._table, "cache_key", "value", "expires")  # type: ignore[attr-defined]
        )
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {key_column} = {key_column} WHERE {key_column} = %s", [key])
            cursor.execute(f"SELECT {value_column}, {expires_column} FROM {table} WHERE {key_column} = %s", [key])
            row = cursor.fetchone()
            if row is None or self._to_datetime(connection, row[1]) < now():
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(row[0].encode())) + delta
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {value_column} = %s WHERE {key_column} = %s", [encoded, key])
        return value

    @staticmethod
    def _to_datetime(connection: Any, raw: Any) -> Any:
        """The ``expires`` column as the database backend hands it over, as a datetime (as Django's ``get`` does)."""
        expression = models.Expression(output_field=models.DateTimeField())
        for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
            raw = converter(raw, expression, connection)
        return raw
