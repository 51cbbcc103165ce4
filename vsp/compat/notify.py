"""Yudao's notify messages (站内信, ``/system/notify-message/…``): a staff user's critical alarms.

What counts as a message: an alarm of level 1 or 2 (``AlarmEvent.alarm_level``), stored
(``created_at``) after the user's account was made and no longer ago than ``NOTIFY_MESSAGE_DAYS``
(7), for a user who may view alarms (``aiot:alarm:query``). Anyone else has no messages,
rather than an error: the frontend asks on every page. The window bounds every query to the last
week of ``created_at`` however many alarms are stored; older alarms are in the alarm list.

Read state, per user (``alarms.models``): ``AlarmMessageRead`` rows for ``update-read`` (the first
read time kept), and one ``AlarmMessageCursor`` for ``update-all-read`` (everything stored up to
the newest message is read), so "all read" is one row whatever the count.

A message's ``id`` is the ``AlarmMessage`` row of its alarm, made the first time the alarm is
listed: the alarm's own key is text, and the frontend sends ids back as numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F, FilteredRelation, Q
from django.http import QueryDict
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from alarms import alarm_types
from alarms.models import (
    AlarmEvent,
    AlarmEventQuerySet,
    AlarmLevel,
    AlarmMessage,
    AlarmMessageCursor,
    AlarmMessageRead,
)
from vsp.compat import envelope
from vsp.compat.authentication import ADMIN_USER_TYPE
from vsp.compat.base import CompatAPIView
from vsp.compat.dicts import LABELS
from vsp.compat.envelope import CompatError
from vsp.compat.params import Query
from vsp.compat.permissions import has_yudao_permission
from vsp.compat.representation import epoch_ms

MESSAGE_LEVELS = (AlarmLevel.CRITICAL, AlarmLevel.MAJOR)

# The message's "template": there is no template table, every alarm message is built the same way.
SENDER = "系统"
TEMPLATE_ID = 0
TEMPLATE_CODE = "aiot_alarm"
SYSTEM_MESSAGE = 2  # Yudao's NotifyTemplateTypeEnum: 1 通知公告, 2 系统消息

_ID = re.compile(r"[0-9]{1,19}")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class Inbox:
    """One user's messages at one moment."""

    user: User
    since: datetime | None  # None: the user has no messages at all
    cursor: AlarmMessageCursor | None

    @classmethod
    def of(cls, user: User, now: datetime) -> Inbox:
        if not has_yudao_permission(user, "aiot:alarm:query"):
            return cls(user, None, None)
        cursor = AlarmMessageCursor.objects.filter(user_id=user.pk).first()
        return cls(user, max(user.date_joined, now - timedelta(days=settings.NOTIFY_MESSAGE_DAYS)), cursor)

    def messages(self) -> AlarmEventQuerySet:
        """Newest first, each with ``read_row_at`` (its update-read time, or None)."""
        mine = FilteredRelation("message_reads", condition=Q(message_reads__user_id=self.user.pk))
        messages = (
            AlarmEvent.objects.filter(alarm_level__in=MESSAGE_LEVELS)
            .annotate(my_read=mine, read_row_at=F("my_read__read_at"))
            .order_by("-created_at", "-alarm_id")
        )
        return messages.filter(created_at__gte=self.since) if self.since is not None else messages.none()

    def unread(self) -> AlarmEventQuerySet:
        # Q() for the annotation: the type checker knows the model's fields, not the query's.
        unread = self.messages().filter(Q(read_row_at__isnull=True))
        return unread if self.cursor is None else unread.filter(created_at__gt=self.cursor.read_through)

    def read(self) -> AlarmEventQuerySet:
        read = Q(read_row_at__isnull=False)
        if self.cursor is not None:
            read |= Q(created_at__lte=self.cursor.read_through)
        return self.messages().filter(read)

    def with_read_status(self, read: bool | None) -> AlarmEventQuerySet:
        """my-page's ``readStatus``: read, unread, or (None) all."""
        if read is None:
            return self.messages()
        return self.read() if read else self.unread()

    def read_time(self, alarm: AlarmEvent) -> datetime | None:
        read_row_at: datetime | None = getattr(alarm, "read_row_at", None)
        if read_row_at is not None:
            return read_row_at
        if self.cursor is not None and alarm.created_at <= self.cursor.read_through:
            return self.cursor.read_at
        return None

    def listed(self, messages: AlarmEventQuerySet, start: int, stop: int) -> list[dict[str, Any]]:
        """Rows ``start:stop`` of ``messages`` in Yudao's shape."""
        alarms = list(messages.with_device_name().annotate(message_id=F("message__id"))[start:stop])
        ids = message_ids(alarms)
        return [message_data(alarm, ids[alarm.pk], self.user.pk, self.read_time(alarm)) for alarm in alarms]

    def mark_read(self, ids: list[int], now: datetime) -> None:
        """update-read: the user's unread messages among ``ids``; other ids are ignored, as Yudao does."""
        alarm_ids = list(self.unread().filter(message__id__in=ids).values_list("pk", flat=True))
        AlarmMessageRead.objects.bulk_create(
            [AlarmMessageRead(user_id=self.user.pk, alarm_id=alarm_id, read_at=now) for alarm_id in alarm_ids],
            ignore_conflicts=True,
        )

    def mark_all_read(self, now: datetime) -> None:
        """update-all-read: the cursor moves to the newest message the user can see; it never moves back.

        The newest message's time rather than ``now``, so that alarms stored after it arrive unread.
        ``created_at`` is stamped before its transaction commits, so an alarm stamped a moment
        before the newest one but committed after this read is still covered: the window is the
        length of an ingest transaction, milliseconds.
        """
        newest = self.messages().values_list("created_at", flat=True).first()
        if newest is None:
            return
        user_id = self.user.pk
        AlarmMessageCursor.objects.bulk_create(
            [AlarmMessageCursor(user_id=user_id, read_through=newest, read_at=now)], ignore_conflicts=True
        )
        AlarmMessageCursor.objects.filter(user_id=user_id, read_through__lt=newest).update(
            read_through=newest, read_at=now
        )


def message_ids(alarms: list[AlarmEvent]) -> dict[str, int]:
    """Alarm id → message id, making the ids the alarms do not have yet (insert-or-ignore, then read)."""
    ids = {alarm.pk: known for alarm in alarms if (known := getattr(alarm, "message_id", None)) is not None}
    missing = [alarm.pk for alarm in alarms if alarm.pk not in ids]
    if missing:
        AlarmMessage.objects.bulk_create([AlarmMessage(alarm_id=pk) for pk in missing], ignore_conflicts=True)
        ids.update(AlarmMessage.objects.filter(alarm_id__in=missing).values_list("alarm_id", "id"))
    return ids


def message_data(alarm: AlarmEvent, message_id: int, user_id: int, read_time: datetime | None) -> dict[str, Any]:
    """An alarm as Yudao's NotifyMessageRespVO."""
    level = LABELS["aiot_alarm_level"].get(str(alarm.alarm_level), str(alarm.alarm_level))
    kind = alarm_types.chinese_name(alarm.alarm_type)
    device_name = getattr(alarm, "device_name", None)
    device = f"{device_name}({alarm.device_id})" if device_name else alarm.device_id
    when = timezone.localtime(alarm.event_time).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "id": message_id,
        "userId": user_id,
        "userType": ADMIN_USER_TYPE,
        "templateId": TEMPLATE_ID,
        "templateCode": TEMPLATE_CODE,
        "templateNickname": SENDER,
        "templateContent": f"{level}告警：设备 {device} 于 {when} 发生{kind}",
        "templateType": SYSTEM_MESSAGE,
        "templateParams": {
            "alarmId": alarm.alarm_id,
            "alarmType": alarm.alarm_type,
            "alarmLevel": alarm.alarm_level,
            "deviceId": alarm.device_id,
            "deviceName": device_name,
            "eventTime": epoch_ms(alarm.event_time),
        },
        "readStatus": read_time is not None,
        "readTime": epoch_ms(read_time),
        "createTime": epoch_ms(alarm.created_at),
    }


def _size(query: Query) -> int:
    size = query.integer("size", settings.NOTIFY_UNREAD_LIST_SIZE)
    if size < 1:
        raise CompatError(envelope.BAD_REQUEST, envelope.bad_request("size: 条数最小值为 1"))
    if size > settings.COMPAT_MAX_PAGE_SIZE:
        raise CompatError(
            envelope.BAD_REQUEST, envelope.bad_request(f"size: 条数最大值为 {settings.COMPAT_MAX_PAGE_SIZE}")
        )
    return size


def _read_status(query: Query) -> bool | None:
    value = query.get("readStatus")
    if value is None:
        return None
    if value.lower() not in _BOOLEANS:
        raise CompatError(envelope.BAD_REQUEST, envelope.type_mismatch(f"readStatus: {value!r}"))
    return _BOOLEANS[value.lower()]


def _ids(params: QueryDict) -> list[int]:
    """``ids=1,2`` or ``ids=1&ids=2`` (the frontend's qs with ``indices: false``)."""
    values = [part.strip() for raw in params.getlist("ids") for part in raw.split(",")]
    values = [value for value in values if value]
    if not values:
        raise CompatError(envelope.BAD_REQUEST, envelope.missing_parameter("ids"))
    if len(values) > settings.NOTIFY_MAX_READ_IDS:
        raise CompatError(
            envelope.BAD_REQUEST, envelope.bad_request(f"ids: 一次最多 {settings.NOTIFY_MAX_READ_IDS} 条")
        )
    for value in values:
        if not _ID.fullmatch(value) or int(value) >= 2**63:
            raise CompatError(envelope.BAD_REQUEST, envelope.type_mismatch(f"ids: {value[:40]!r}"))
    return sorted({int(value) for value in values})


class NotifyView(CompatAPIView):
    """Login only, no permission: every staff page asks for the unread count."""

    def inbox(self, request: Request, now: datetime) -> Inbox:
        user = request.user
        assert isinstance(user, User)
        return Inbox.of(user, now)


class UnreadCountView(NotifyView):
    def get(self, request: Request) -> Response:
        return envelope.success(self.inbox(request, timezone.now()).unread().count())


class UnreadListView(NotifyView):
    """The newest unread messages, ``size`` of them (default 10)."""

    def get(self, request: Request) -> Response:
        size = _size(Query(request.query_params))
        inbox = self.inbox(request, timezone.now())
        return envelope.success(inbox.listed(inbox.unread(), 0, size))


class MyPageView(NotifyView):
    """``pageNo``, ``pageSize``, ``readStatus`` (true/false), ``createTime[0..1]``; newest first."""

    def get(self, request: Request) -> Response:
        query = Query(request.query_params)
        page = query.page()
        read_status = _read_status(query)
        created_from, created_to = query.time_range("createTime")
        inbox = self.inbox(request, timezone.now())
        messages = inbox.with_read_status(read_status)
        if created_from is not None:
            messages = messages.filter(created_at__gte=created_from)
        if created_to is not None:
            messages = messages.filter(created_at__lte=created_to)
        total = messages.count()
        rows = inbox.listed(messages, page.offset, page.offset + page.size) if page.offset < total else []
        return envelope.success({"list": rows, "total": total})


class UpdateReadView(NotifyView):
    """``PUT update-read?ids=1,2``: the ids in the query string, as Yudao reads them."""

    def put(self, request: Request) -> Response:
        ids = _ids(request.query_params)
        now = timezone.now()
        self.inbox(request, now).mark_read(ids, now)
        return envelope.success(True)


class UpdateAllReadView(NotifyView):
    def put(self, request: Request) -> Response:
        now = timezone.now()
        self.inbox(request, now).mark_all_read(now)
        return envelope.success(True)
