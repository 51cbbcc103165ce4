"""Synthetic alarms for measuring at scale (``manage.py seed_alarms``).

What a site with D cameras sees over K days: event times weighted towards working hours, the alarm
types and levels edge boxes send, ext data with boxes and tracks, a snapshot link for most, and the
handling staff would have done by now: older alarms mostly confirmed or resolved, handled or marked
false alarms with a handler, a remark and a handling-log entry; the newest mostly untouched.

Every synthetic alarm's id starts with ``SEED_PREFIX``, which is how the command tells a database of
synthetic alarms from one with real ones. Rows are made as plain values and written in multi-row
inserts, a batch per transaction with its alarms' counts (``alarms.counts``); no event is published.
"""

from __future__ import annotations

import bisect
import functools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from alarms import counts
from alarms.models import (
    AlarmEvent,
    AlarmEventExt,
    AlarmHandleLog,
    AlarmSource,
    AlarmStatus,
    AlarmTiming,
    AlarmTimingDay,
    HandleStatus,
    SnapshotStatus,
)
from devices.models import EdgeDevice

SEED_PREFIX = "seed-"

# (type, weight, the level it usually comes with): helmets and posts are the everyday ones, fire is rare.
TYPES = [
    ("no_helmet", 30, 3),
    ("leave_post", 20, 2),
    ("intrusion", 18, 1),
    ("loitering", 12, 3),
    ("crowd", 8, 2),
    ("smoke", 8, 1),
    ("fire", 4, 1),
]
SCENES = ["gate", "perimeter", "workshop", "warehouse", "loading-bay", "office", "canteen", "parking"]
HANDLERS = ["zhang.wei", "li.na", "wang.fang", "liu.yang", "chen.jie"]
REMARKS = ["已到现场确认", "已通知班组长", "误报：阴影", "误报：人员为巡检", "已处理，持续观察", "已上报安全科"]
# Relative weight of each hour of the day (local time): most alarms come with the day shift.
HOUR_WEIGHTS = [2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 8, 6, 5, 4, 3, 3, 2]


@dataclass(frozen=True)
class Plan:
    count: int
    devices: int
    days: int
    end: datetime  # aware; the newest alarm is just before it
    run: str  # makes this run's ids unique: seed-<run>-<n>
    seed: int | None = None


def device_ids(devices: int) -> list[str]:
    # As sites name them, and as ../shared/bench/queries_at_scale.sh filters by them (cam-7).
    return [f"cam-{number}" for number in range(1, devices + 1)]


def ensure_devices(plan: Plan) -> int:
    """The cameras, named and placed; existing rows are left as they are. Returns how many are new."""
    rows = [
        EdgeDevice(
            device_id=device_id,
            name=f"Camera {number}",
            location=f"Site {1 + number % 5}, {SCENES[number % len(SCENES)]}",
            status=EdgeDevice.Status.ONLINE,
            last_seen=plan.end,
            version="2.4.1",
        )
        for number, device_id in enumerate(device_ids(plan.devices), start=1)
    ]
    ids = [row.device_id for row in rows]
    before = EdgeDevice.objects.filter(device_id__in=ids).count()
    EdgeDevice.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return EdgeDevice.objects.filter(device_id__in=ids).count() - before


# A row as field attname → Python value; fields left out get their model default.
Row = dict[str, Any]


@dataclass
class Batch:
    alarms: list[Row]
    exts: list[Row]
    logs: list[Row]
    # A handled alarm's timing (``AlarmTiming``), as its one handling log makes it.
    timings: list[Row]


@dataclass(frozen=True)
class Site:
    """What every batch of a plan shares: the cameras, the scene each watches, how busy each is."""

    cameras: list[str]
    scene_of: dict[str, str]
    camera_weights: list[float]
    timeline: Timeline


@functools.cache
def site(plan: Plan) -> Site:
    rng = random.Random(plan.seed if plan.seed is not None else plan.run)
    cameras = device_ids(plan.devices)
    # Each camera watches one scene, and some cameras see far more than others.
    scene_of = {camera: SCENES[rng.randrange(len(SCENES))] for camera in cameras}
    camera_weights = [rng.paretovariate(1.5) for _ in cameras]
    return Site(cameras, scene_of, camera_weights, Timeline(plan.end - timedelta(days=plan.days), plan.days))


def batches(plan: Plan, size: int) -> Iterator[Batch]:
    """The plan's alarms, ``size`` at a time, oldest first."""
    for first in range(0, plan.count, size):
        yield batch(plan, first, size)


def batch(plan: Plan, first: int, size: int) -> Batch:
    """Alarms ``first`` to ``first + size`` of the plan: the same for the same plan, whichever process makes them."""
    rng = random.Random(f"{plan.seed if plan.seed is not None else plan.run}-{first}")
    where = site(plan)
    kind_weights = [weight for _, weight, _ in TYPES]
    made = Batch([], [], [], [])
    count = min(size, plan.count - first)
    # Alarm n sits at the (n + u) / count quantile of the day-weighted timeline: oldest first.
    times = sorted(where.timeline.at((first + offset + rng.random()) / plan.count, rng) for offset in range(count))
    for offset, (camera, (kind, _weight, usual_level)) in enumerate(
        zip(
            rng.choices(where.cameras, where.camera_weights, k=count),
            rng.choices(TYPES, kind_weights, k=count),
            strict=True,
        )
    ):
        number = first + offset
        alarm = _alarm(rng, plan, number, camera, where.scene_of[camera], kind, usual_level, times[offset])
        made.alarms.append(alarm)
        made.exts.append({"alarm_id": alarm["alarm_id"], "ext_data": _ext_data(rng, number)})
        if "handle_time" in alarm:
            made.logs.append(
                {
                    "alarm_id": alarm["alarm_id"],
                    "actor_name": alarm["handler"],
                    "from_handle_status": HandleStatus.UNHANDLED.value,
                    "to_handle_status": alarm["handle_status"],
                    "from_alarm_status": AlarmStatus.NEW.value,
                    "to_alarm_status": alarm["alarm_status"],
                    "remark": alarm["handle_remark"],
                    "created_at": alarm["handle_time"],
                }
            )
            made.timings.append(_timing(alarm))
    return made


def _timing(alarm: Row) -> Row:
    """The timing row the alarm's one handling log makes (``AlarmTiming.first_values``)."""
    return AlarmTiming.first_values(
        alarm["alarm_id"], alarm["event_time"], alarm["created_at"], alarm["alarm_type"], alarm["device_id"],
        alarm["alarm_level"], handler=alarm["handler"], handled_at=alarm["handle_time"],
        handle_status=alarm["handle_status"], resolved=alarm["alarm_status"] == AlarmStatus.RESOLVED,
        since_stored=max(0, int((alarm["handle_time"] - alarm["created_at"]).total_seconds())),
    )  # fmt: skip


def insert_batch(plan: Plan, first: int, size: int) -> int:
    """Make and insert one batch (in a worker process of the command); returns how many alarms."""
    made = batch(plan, first, size)
    insert(made)
    return len(made.alarms)


class Timeline:
    """The K days as hours, each weighted by its local hour of the day: where alarms fall, as a quantile."""

    def __init__(self, start: datetime, days: int) -> None:
        self.start = start
        self.cumulative: list[float] = []
        total = 0.0
        for hour in range(days * 24):
            total += HOUR_WEIGHTS[timezone.localtime(start + timedelta(hours=hour)).hour]
            self.cumulative.append(total)

    def at(self, quantile: float, rng: random.Random) -> datetime:
        hour = min(bisect.bisect_left(self.cumulative, quantile * self.cumulative[-1]), len(self.cumulative) - 1)
        return self.start + timedelta(hours=hour + rng.random())


def _alarm(
    rng: random.Random,
    plan: Plan,
    number: int,
    camera: str,
    scene: str,
    kind: str,
    usual_level: int,
    event_time: datetime,
) -> Row:
    alarm_id = f"{SEED_PREFIX}{plan.run}-{number:08d}"
    created_at = event_time + timedelta(milliseconds=rng.randint(150, 3000))
    alarm: Row = {
        "alarm_id": alarm_id,
        "alarm_type": kind,
        "device_id": camera,
        "scene_id": scene,
        "event_time": event_time,
        "alarm_level": usual_level if rng.random() < 0.7 else rng.randint(1, 4),
        "confidence_score": round(rng.uniform(0.5, 0.99), 3),
        "source": AlarmSource.EDGE.value,
        "created_at": created_at,
        "updated_at": created_at,
    }
    if rng.random() < 0.85:
        alarm["snapshot_url"] = f"https://img.seed.invalid/{camera}/{event_time:%Y%m%d}/{alarm_id}.jpg"
        alarm["snapshot_status"] = SnapshotStatus.EXTERNAL.value
    if rng.random() < 0.6:
        duration_ms = rng.randint(2_000, 600_000)
        alarm["duration_ms"] = duration_ms
        alarm["end_time"] = event_time + timedelta(milliseconds=duration_ms)
        alarm["resolve_type"] = rng.choice(["target_left", "timeout", "manual"])
        alarm["alarm_status"] = AlarmStatus.RESOLVED.value  # as the edge's resolve leaves it
    # The older an alarm, the likelier staff have dealt with it.
    age = plan.end - event_time
    handled_chance = 0.1 if age < timedelta(hours=2) else 0.6 if age < timedelta(days=1) else 0.9
    if rng.random() < handled_chance:
        false_alarm = rng.random() < 0.2
        handle_status = HandleStatus.IGNORED if false_alarm else rng.choice(_HANDLED_OR_HANDLING)
        alarm["handle_status"] = handle_status.value
        # Staff move the status forward only: a resolved alarm stays resolved.
        if handle_status == HandleStatus.HANDLED:
            alarm["alarm_status"] = AlarmStatus.RESOLVED.value
        else:
            alarm.setdefault("alarm_status", AlarmStatus.CONFIRMED.value)
        alarm["handler"] = rng.choice(HANDLERS)
        alarm["handle_remark"] = rng.choice(REMARKS[2:4] if false_alarm else REMARKS[:2] + REMARKS[4:])
        handled_at = created_at + timedelta(seconds=rng.lognormvariate(6, 1.2))
        alarm["handle_time"] = alarm["updated_at"] = max(created_at, min(handled_at, plan.end))
    return alarm


_HANDLED_OR_HANDLING = [HandleStatus.HANDLED, HandleStatus.HANDLED, HandleStatus.HANDLING]


def _ext_data(rng: random.Random, number: int) -> dict[str, object]:
    x, y = rng.randint(0, 1700), rng.randint(0, 900)
    return {
        "bbox": [x, y, x + rng.randint(40, 220), y + rng.randint(80, 360)],
        "track_id": number % 100_000,
        "model": rng.choice(["yolov8s-ppe-2.3", "yolov8m-intrusion-1.9", "rtdetr-smoke-1.1"]),
        "frame": {"width": 1920, "height": 1080},
    }


class Table:
    """How rows of one model are written in one multi-row INSERT, without building model instances.

    ``bulk_create`` measured 2,300 alarms/s on MariaDB here, most of it spent making and compiling
    model instances; this writes the same columns with the database's own value adaptation.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.fields = [
            field
            for field in model._meta.concrete_fields
            if not (field.primary_key and isinstance(field, models.AutoField | models.BigAutoField))
        ]
        self.defaults = {field.attname: field.get_default() for field in self.fields}
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        self.sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"
        adapt_time = connection.ops.adapt_datetimefield_value
        self.adapters = [
            (field.attname, json.dumps if isinstance(field, models.JSONField) else
             adapt_time if isinstance(field, models.DateTimeField) else None)
            for field in self.fields
        ]  # fmt: skip

    def values(self, row: Row) -> tuple[Any, ...]:
        defaults = self.defaults
        out = []
        for name, adapt in self.adapters:
            value = row.get(name, defaults[name])
            out.append(adapt(value) if adapt is not None and value is not None else value)
        return tuple(out)

    def write(self, cursor: Any, rows: list[Row]) -> None:
        if rows:
            cursor.executemany(self.sql, [self.values(row) for row in rows])


@functools.cache
def _tables() -> tuple[Table, Table, Table, Table]:
    return Table(AlarmEvent), Table(AlarmEventExt), Table(AlarmHandleLog), Table(AlarmTiming)


def insert(batch: Batch) -> None:
    """One batch, all or nothing."""
    alarms, exts, logs, timings = _tables()
    with transaction.atomic(), connection.cursor() as cursor:
        alarms.write(cursor, batch.alarms)
        exts.write(cursor, batch.exts)
        logs.write(cursor, batch.logs)
        timings.write(cursor, batch.timings)
        counts.add_alarms(counts.Counted.of(alarms.defaults | row) for row in batch.alarms)
        AlarmTimingDay.touch(row["event_time"] for row in batch.timings)


def real_alarms_exist() -> bool:
    """Whether any alarm is not one of ours: the first primary key outside the prefix, read off the index."""
    return AlarmEvent.objects.exclude(alarm_id__startswith=SEED_PREFIX).exists()
