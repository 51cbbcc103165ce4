"""Model fields shared by the apps, the one-row insert the ingest path uses, snapshot reads, running a
transaction again after a lock conflict, and a stored time read as a number."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql.compiler import SQLCompiler

logger = logging.getLogger(__name__)
T = TypeVar("T")


class IdentifierField(models.CharField):
    """An id from the edge, compared byte for byte.

    MySQL's default utf8mb4 collations fold case and ignore trailing spaces, so
    ``ABC`` and ``abc`` would be one primary key there and two elsewhere. On
    MySQL this column uses ``utf8mb4_bin``; foreign keys to it follow (Django
    copies the target's collation). Other databases already compare exactly.
    """

    def db_parameters(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        params: dict[str, Any] = super().db_parameters(connection)
        if connection.vendor == "mysql" and not params.get("collation"):
            params["collation"] = "utf8mb4_bin"
        return params


# Text fields whose get_db_prep_save returns a str or None as it is, on every backend (Django 5.2:
# CharField.to_python and Field.get_db_prep_value pass them through). Numbers are not listed: some
# backends adapt them.
_TEXT: frozenset[type] = frozenset({str, type(None)})
_UNCHANGED: dict[type[models.Field], frozenset[type]] = {
    models.CharField: _TEXT,
    models.TextField: _TEXT,
    IdentifierField: _TEXT,
}


class Insert:
    """Insert one ``model`` row per call with a statement built once: for the inserts every report makes.

    The ORM compiles an INSERT afresh for each save, and that was a third of the CPU an edge report
    cost. Values pass through each field's ``pre_save`` and ``get_db_prep_save`` as in the ORM's own
    insert, so defaults, ``auto_now_add`` and JSON behave the same; an auto primary key is read back.
    ``get_db_prep_save`` is skipped only where it returns its value unchanged: text in a plain text
    field (``_UNCHANGED``). No model signals are sent:
    these models have no receivers.
    """

    def __init__(self, model: type[models.Model]) -> None:
        meta = model._meta
        self.table = meta.db_table
        self.auto_field = meta.auto_field
        self.fields = [
            (field, _UNCHANGED.get(type(field), frozenset()))
            for field in meta.concrete_fields
            if field is not meta.auto_field
        ]
        self._sql: dict[str, str] = {}

    def sql(self, connection: BaseDatabaseWrapper) -> str:
        if connection.vendor not in self._sql:
            quote = connection.ops.quote_name
            columns = ", ".join(quote(field.column) for field, _ in self.fields)
            values = ", ".join(["%s"] * len(self.fields))
            self._sql[connection.vendor] = f"INSERT INTO {quote(self.table)} ({columns}) VALUES ({values})"
        return self._sql[connection.vendor]

    def __call__(self, instance: models.Model, using: str = DEFAULT_DB_ALIAS) -> None:
        connection = connections[using]
        params = []
        for field, unchanged in self.fields:
            value = field.pre_save(instance, True)
            params.append(value if type(value) in unchanged else field.get_db_prep_save(value, connection))
        with connection.cursor() as cursor:
            cursor.execute(self.sql(connection), params)
            if self.auto_field is not None:
                row_id = connection.ops.last_insert_id(cursor, self.table, self.auto_field.column)
                setattr(instance, self.auto_field.attname, row_id)
        instance._state.adding = False
        instance._state.db = using


class EpochMicroseconds(models.Func):
    """A datetime column as whole microseconds since 1970-01-01 UTC, computed by the database.

    For reading many stored times at once: the drivers make each DATETIME a Python datetime (and Django
    then an aware one), about 10 µs a row; an integer costs next to nothing. Both backends keep times
    as naive UTC under ``USE_TZ``, so the difference from the epoch is the instant's.
    """

    template = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', %(expressions)s)"
    output_field = models.BigIntegerField()

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS[.ffffff]' text: whole seconds by strftime, then the digits after
        # the point, if any (CAST('' AS INTEGER) is 0). The time is written twice, and so are its params.
        (moment,) = self.get_source_expressions()
        sql, params = compiler.compile(moment)
        seconds = f"CAST(strftime('%%s', {sql}) AS INTEGER)"
        return f"({seconds} * 1000000 + CAST(substr({sql}, 21, 6) AS INTEGER))", (*params, *params)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_microseconds(moment: datetime) -> int:
    """An aware ``moment`` as ``EpochMicroseconds`` reads a stored one."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_epoch_microseconds(value: int) -> datetime:
    """The aware (UTC) moment that ``EpochMicroseconds`` read as ``value``."""
    return _EPOCH + timedelta(microseconds=value)


def is_duplicate_key(exc: IntegrityError) -> bool:
    """Whether an insert failed on a unique key: MySQL's ER_DUP_ENTRY, or SQLite's UNIQUE constraint."""
    reason = exc.args[0] if exc.args else None
    return reason == _MYSQL_DUPLICATE_ENTRY or (
        isinstance(reason, str) and reason.startswith("UNIQUE constraint failed")
    )


_MYSQL_DUPLICATE_ENTRY = 1062


def is_lock_conflict(exc: OperationalError) -> bool:
    """Whether MySQL aborted the statement's transaction over a lock conflict: a deadlock, or a lock
    wait timeout. The transaction was rolled back; running it again is what the server asks for."""
    return bool(exc.args) and exc.args[0] in _MYSQL_LOCK_CONFLICTS


_MYSQL_LOCK_CONFLICTS = frozenset({1213, 1205})  # ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT


def retry_on_lock_conflict(
    operation: Callable[[], T], *, attempts: int = 3, retry_also: tuple[type[Exception], ...] = ()
) -> T:
    """Run ``operation`` (a transaction of its own) again, up to ``attempts`` times in all, when the
    server aborted it over a lock conflict, or when it raised one of ``retry_also``.

    Inside an outer transaction nothing is run again: the whole of it was rolled back, and only its
    owner can start it over.
    """
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except retry_also:
            if attempt == attempts or transaction.get_connection().in_atomic_block:
                raise
        except OperationalError as exc:
            if not is_lock_conflict(exc) or attempt == attempts or transaction.get_connection().in_atomic_block:
                raise
            name = getattr(operation, "__qualname__", None) or repr(operation)
            logger.warning("retrying %s after lock conflict (attempt %d): %s", name, attempt, exc)
    raise AssertionError("unreachable")


@contextmanager
def snapshot(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """A transaction whose reads all see the database at one moment, whatever commits meanwhile.

    Django runs MySQL at READ COMMITTED, where each statement sees its own moment; this transaction
    is REPEATABLE READ, whose snapshot is taken at its first read. SQLite's transactions read one
    snapshot already. Inside an outer transaction, that transaction's level applies.
    """
    connection = connections[using]
    outermost = not connection.in_atomic_block
    with transaction.atomic(using, savepoint=False):  # reads need no savepoint of their own
        if outermost and connection.vendor == "mysql":
            with connection.cursor() as cursor:
                # Allowed here: autocommit is off, and no statement has begun the transaction yet.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield
