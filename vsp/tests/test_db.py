from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.db.models import Value
from django.db.models.sql import Query

from alarms.models import AlarmEvent
from alarms.tests.factories import make_alarm
from vsp.db import EpochMicroseconds

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MOMENTS = [
    datetime(2026, 12, 4, 18, 42, 7, 123456, tzinfo=UTC),
    datetime(2026, 12, 4, 18, 42, 7, tzinfo=UTC),  # no fraction: SQLite stores no point either
    datetime(2026, 3, 29, 1, 0, 0, 1, tzinfo=UTC),
    datetime(2000, 1, 1, tzinfo=UTC),
]


def microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


@pytest.mark.django_db
def test_a_stored_time_reads_as_its_microseconds_since_the_epoch() -> None:
    for moment in MOMENTS:
        alarm = make_alarm()
        AlarmEvent.objects.filter(pk=alarm.pk).update(created_at=moment)  # not auto_now_add's time
        stored = AlarmEvent.objects.filter(pk=alarm.pk).annotate(us=EpochMicroseconds("created_at"))
        assert stored.values_list("us", flat=True).get() == microseconds(moment), (connection.vendor, moment)


@pytest.mark.django_db
def test_sqlite_reads_the_text_it_stores_as_the_same_number() -> None:
    """make run's SQLite keeps times as text; the expression reads that text, with or without a fraction."""
    sqlite = SQLiteWrapper(
        {**connection.settings_dict, "ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "OPTIONS": {}}
    )
    try:
        compiler = Query(None).get_compiler(connection=sqlite)
        for moment in MOMENTS:
            stored = sqlite.ops.adapt_datetimefield_value(moment)
            sql, params = compiler.compile(EpochMicroseconds(Value(stored)))
            with sqlite.cursor() as cursor:
                cursor.execute(f"SELECT {sql}", params)
                assert cursor.fetchone()[0] == microseconds(moment), stored
    finally:
        sqlite.close()
