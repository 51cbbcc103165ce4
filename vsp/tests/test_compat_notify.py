"""Yudao's notify messages (站内信): a staff user's level-1/2 alarms, read state per user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone

from alarms.models import AlarmEvent, AlarmMessage, AlarmMessageRead
from alarms.tests.factories import aware, make_alarm, make_device
from conftest import make_user
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

COUNT = "/system/notify-message/get-unread-count"
UNREAD = "/system/notify-message/get-unread-list"
MY_PAGE = "/system/notify-message/my-page"
READ = "/system/notify-message/update-read"
ALL_READ = "/system/notify-message/update-all-read"
VIEW = ("alarms.view_alarmevent",)


def staff(username: str, perms: tuple[str, ...] = VIEW) -> User:
    """A staff user whose account is a month old, so that every alarm a test makes is after it."""
    user = make_user(username, perms=perms)
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(days=30))
    return user


def tab(username: str) -> Frontend:
    frontend = Frontend()
    frontend.login(username)
    return frontend


def data(response: Any) -> Any:
    body = response.json()
    assert body["code"] == 0, body
    assert body["msg"] == ""
    return body["data"]


def unread_count(frontend: Frontend) -> int:
    count: int = data(frontend.get(COUNT))
    return count


def unread_ids(frontend: Frontend) -> list[str]:
    return [message["templateParams"]["alarmId"] for message in data(frontend.get(UNREAD))]


def message_id(frontend: Frontend, alarm_id: str) -> int:
    rows = data(frontend.get(MY_PAGE, {"pageNo": 1, "pageSize": 200}))["list"]
    return next(row["id"] for row in rows if row["templateParams"]["alarmId"] == alarm_id)


@pytest.fixture
def alice() -> Frontend:
    staff("alice")
    return tab("alice")


# --- what a message is -------------------------------------------------------------------


def test_a_level_1_or_2_alarm_is_a_message_in_yudao_shape(alice: Frontend) -> None:
    make_device("cam-01", name="东门")
    alarm = make_alarm(alarm_id="A1", alarm_type="intrusion", device_id="cam-01", alarm_level=1,
                       event_time=aware("2026-11-27 15:00:00"))  # fmt: skip

    [message] = data(alice.get(UNREAD))

    alice_id = User.objects.get(username="alice").pk
    assert message == {
        "id": AlarmMessage.objects.get(alarm=alarm).pk,
        "userId": alice_id,
        "userType": 2,
        "templateId": 0,
        "templateCode": "aiot_alarm",
        "templateNickname": "系统",
        "templateContent": "一级告警：设备 东门(cam-01) 于 2026-11-27 15:00:00 发生区域入侵",
        "templateType": 2,
        "templateParams": {
            "alarmId": "A1",
            "alarmType": "intrusion",
            "alarmLevel": 1,
            "deviceId": "cam-01",
            "deviceName": "东门",
            "eventTime": int(alarm.event_time.timestamp() * 1000),
        },
        "readStatus": False,
        "readTime": None,
        "createTime": int(alarm.created_at.timestamp() * 1000),
    }


def test_level_3_and_4_alarms_are_not_messages(alice: Frontend) -> None:
    for level in (1, 2, 3, 4):
        make_alarm(alarm_id=f"L{level}", alarm_level=level)

    assert unread_count(alice) == 2
    assert unread_ids(alice) == ["L2", "L1"]  # newest first
    assert data(alice.get(MY_PAGE))["total"] == 2


def test_an_unknown_type_and_a_nameless_device_read_as_their_ids(alice: Frontend) -> None:
    make_alarm(alarm_id="A1", alarm_type="gas_leak", device_id="cam-09", alarm_level=2,
               event_time=aware("2026-11-27 08:30:00"))  # fmt: skip

    [message] = data(alice.get(UNREAD))

    assert message["templateContent"] == "二级告警：设备 cam-09 于 2026-11-27 08:30:00 发生gas_leak"
    assert message["templateParams"]["deviceName"] is None


def test_alarms_from_before_the_account_or_the_window_are_not_messages(alice: Frontend) -> None:
    before_account = make_alarm(alarm_id="OLD-ACCOUNT", alarm_level=1)
    User.objects.filter(username="alice").update(date_joined=before_account.created_at + timedelta(seconds=1))
    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=False):
        make_alarm(alarm_id="NEW", alarm_level=1)
        assert unread_ids(alice) == ["NEW"]
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        make_alarm(alarm_id="LATER", alarm_level=2)
        # A week on: "NEW" has left the window; alice has only the alarm of the last 7 days.
        later = tab("alice")
        assert unread_ids(later) == ["LATER"]
        assert data(later.get(MY_PAGE))["total"] == 1


def test_a_user_without_the_alarm_permission_has_no_messages_and_no_error() -> None:
    staff("visitor", perms=())
    make_alarm(alarm_level=1)
    visitor = tab("visitor")

    assert data(visitor.get(COUNT)) == 0
    assert data(visitor.get(UNREAD)) == []
    assert data(visitor.get(MY_PAGE)) == {"list": [], "total": 0}
    assert data(visitor.send("put", ALL_READ)) is True
    assert data(visitor.send("put", f"{READ}?ids=1")) is True


def test_a_superuser_sees_every_message() -> None:
    make_user("boss", superuser=True)
    User.objects.filter(username="boss").update(date_joined=timezone.now() - timedelta(days=1))
    make_alarm(alarm_level=2)
    assert unread_count(tab("boss")) == 1


def test_the_endpoints_need_a_login() -> None:
    anonymous = Frontend()
    for response in (anonymous.get(COUNT), anonymous.get(UNREAD), anonymous.send("put", ALL_READ)):
        assert response.status_code == 200
        assert response.json() == {"code": 401, "data": None, "msg": "账号未登录"}


# --- ids, reading -----------------------------------------------------------------------


def test_message_ids_are_stable_integers_shared_by_every_list(alice: Frontend) -> None:
    make_alarm(alarm_id="A1", alarm_level=1)
    make_alarm(alarm_id="A2", alarm_level=2)

    first = [message["id"] for message in data(alice.get(UNREAD))]
    again = [message["id"] for message in data(alice.get(UNREAD))]
    page = [row["id"] for row in data(alice.get(MY_PAGE))["list"]]

    assert first == again == page
    assert all(isinstance(value, int) for value in first)
    assert len(set(first)) == 2
    assert AlarmMessage.objects.count() == 2


def test_marking_read_drops_the_count_and_keeps_the_first_read_time(alice: Frontend) -> None:
    make_alarm(alarm_id="A1", alarm_level=1)
    make_alarm(alarm_id="A2", alarm_level=2)
    a1 = message_id(alice, "A1")
    read_at = timezone.now()

    with time_machine.travel(read_at, tick=False):
        assert data(alice.send("put", f"{READ}?ids={a1}")) is True
    with time_machine.travel(read_at + timedelta(minutes=5), tick=False):
        assert data(alice.send("put", f"{READ}?ids={a1}")) is True  # again: nothing changes

    assert unread_count(alice) == 1
    assert unread_ids(alice) == ["A2"]
    [row] = data(alice.get(MY_PAGE, {"readStatus": True}))["list"]
    assert row["templateParams"]["alarmId"] == "A1"
    assert row["readStatus"] is True
    assert row["readTime"] == int(read_at.timestamp() * 1000)
    assert AlarmMessageRead.objects.count() == 1


@pytest.mark.parametrize("style", ["repeated", "commas"])
def test_update_read_takes_ids_as_the_frontend_and_yudao_send_them(alice: Frontend, style: str) -> None:
    make_alarm(alarm_id="A1", alarm_level=1)
    make_alarm(alarm_id="A2", alarm_level=2)
    make_alarm(alarm_id="A3", alarm_level=2)
    a1, a2 = message_id(alice, "A1"), message_id(alice, "A2")
    # qs.stringify({ids}, {indices: false}) repeats the key; hand-built URLs join with commas.
    query = f"ids={a1}&ids={a2}" if style == "repeated" else f"ids={a1},{a2}"

    assert data(alice.send("put", f"{READ}?{query}")) is True

    assert unread_ids(alice) == ["A3"]


def test_read_state_is_per_user(alice: Frontend) -> None:
    staff("bob")
    bob = tab("bob")
    make_alarm(alarm_id="A1", alarm_level=1)
    make_alarm(alarm_id="A2", alarm_level=1)

    alice.send("put", f"{READ}?ids={message_id(alice, 'A1')}")
    bob.send("put", ALL_READ)

    assert unread_ids(alice) == ["A2"]
    assert unread_count(bob) == 0
    staff("carol")
    assert unread_count(tab("carol")) == 2


def test_ids_that_are_not_the_users_unread_messages_are_ignored(alice: Frontend) -> None:
    make_alarm(alarm_id="A1", alarm_level=1)
    message_id(alice, "A1")
    hidden = make_alarm(alarm_id="HIDDEN", alarm_level=1)
    # A message id of an alarm from before alice's account (another user could have listed it).
    User.objects.filter(username="alice").update(date_joined=hidden.created_at + timedelta(microseconds=1))
    hidden_id = AlarmMessage.objects.create(alarm=hidden).pk

    assert data(alice.send("put", f"{READ}?ids={hidden_id},987654321")) is True

    assert not AlarmMessageRead.objects.exists()


def test_all_read_covers_what_was_there_and_not_what_comes_after(alice: Frontend) -> None:
    make_alarm(alarm_id="A1", alarm_level=1)
    make_alarm(alarm_id="A2", alarm_level=2)
    make_alarm(alarm_id="MINOR", alarm_level=3)
    clicked = timezone.now() + timedelta(seconds=1)

    with time_machine.travel(clicked, tick=False):
        assert data(alice.send("put", ALL_READ)) is True
        assert unread_count(alice) == 0
    with time_machine.travel(clicked + timedelta(seconds=1), tick=False):
        make_alarm(alarm_id="A3", alarm_level=1)

    assert unread_ids(alice) == ["A3"]
    read = data(alice.get(MY_PAGE, {"readStatus": True}))
    assert read["total"] == 2
    assert {row["readTime"] for row in read["list"]} == {int(clicked.timestamp() * 1000)}
    assert data(alice.get(MY_PAGE, {"readStatus": False}))["total"] == 1


def test_a_message_read_one_by_one_keeps_its_time_after_all_read(alice: Frontend) -> None:
    make_alarm(alarm_id="A1", alarm_level=1)
    make_alarm(alarm_id="A2", alarm_level=1)
    first = timezone.now() + timedelta(seconds=1)
    with time_machine.travel(first, tick=False):
        alice.send("put", f"{READ}?ids={message_id(alice, 'A1')}")
    with time_machine.travel(first + timedelta(minutes=1), tick=False):
        alice.send("put", ALL_READ)

    times = {row["templateParams"]["alarmId"]: row["readTime"] for row in data(alice.get(MY_PAGE))["list"]}
    assert times == {"A1": int(first.timestamp() * 1000), "A2": int((first + timedelta(minutes=1)).timestamp() * 1000)}


# --- the page --------------------------------------------------------------------------


def test_my_page_pages_newest_first_and_filters_by_create_time(alice: Frontend) -> None:
    day = aware("2026-11-26 12:00:00")
    for offset in range(5):
        with time_machine.travel(day + timedelta(hours=offset), tick=False):
            make_alarm(alarm_id=f"M{offset}", alarm_level=1)
    User.objects.filter(username="alice").update(date_joined=day - timedelta(days=1))

    with time_machine.travel(day + timedelta(days=1), tick=False):
        second = data(alice.get(MY_PAGE, {"pageNo": 2, "pageSize": 2}))
        ranged = data(alice.get(MY_PAGE, {"createTime": ["2026-11-26 13:00:00", "2026-11-26 15:00:00"]}))
        beyond = data(alice.get(MY_PAGE, {"pageNo": 9, "pageSize": 2}))

    assert [row["templateParams"]["alarmId"] for row in second["list"]] == ["M2", "M1"]
    assert second["total"] == 5
    assert [row["templateParams"]["alarmId"] for row in ranged["list"]] == ["M3", "M2", "M1"]
    assert ranged["total"] == 3
    assert beyond == {"list": [], "total": 5}


def test_unread_list_size(alice: Frontend) -> None:
    for number in range(12):
        make_alarm(alarm_id=f"U{number:02d}", alarm_level=1)

    assert len(data(alice.get(UNREAD))) == 10  # Yudao's default
    assert unread_ids(alice)[0] == "U11"
    assert len(data(alice.get(UNREAD, {"size": 3}))) == 3


@pytest.mark.parametrize(
    ("path", "params", "msg"),
    [
        (MY_PAGE, {"pageSize": 201}, "请求参数不正确:每页条数最大值为 200"),
        (MY_PAGE, {"pageSize": 0}, "请求参数不正确:每页条数最小值为 1"),
        (MY_PAGE, {"pageNo": "x"}, "请求参数类型错误:pageNo: 'x'"),
        (MY_PAGE, {"readStatus": "maybe"}, "请求参数类型错误:readStatus: 'maybe'"),
        (MY_PAGE, {"createTime": ["yesterday"]}, "请求参数类型错误:createTime[0]: "),
        (UNREAD, {"size": 0}, "请求参数不正确:size: 条数最小值为 1"),
        (UNREAD, {"size": 201}, "请求参数不正确:size: 条数最大值为 200"),
        (UNREAD, {"size": "ten"}, "请求参数类型错误:size: 'ten'"),
    ],
)
def test_bad_list_parameters_are_a_400_naming_them(
    alice: Frontend, path: str, params: dict[str, Any], msg: str
) -> None:
    body = alice.get(path, params).json()
    assert body["code"] == 400
    assert body["msg"].startswith(msg)
    assert body["data"] is None


@pytest.mark.parametrize(
    ("query", "msg"),
    [
        ("", "请求参数缺失:ids"),
        ("?ids=", "请求参数缺失:ids"),
        ("?ids=,", "请求参数缺失:ids"),
        ("?ids=abc", "请求参数类型错误:ids: 'abc'"),
        ("?ids=1,-2", "请求参数类型错误:ids: '-2'"),
        ("?ids=1.5", "请求参数类型错误:ids: '1.5'"),
        ("?ids=99999999999999999999", "请求参数类型错误:ids: '99999999999999999999'"),
        ("?ids=" + ",".join(["1"] * 1001), "请求参数不正确:ids: 一次最多 1000 条"),
    ],
)
def test_bad_ids_are_a_400_naming_them(alice: Frontend, query: str, msg: str) -> None:
    response = alice.send("put", READ + query)
    assert response.json() == {"code": 400, "data": None, "msg": msg}


def test_update_read_is_a_put(alice: Frontend) -> None:
    assert alice.get(READ, {"ids": 1}).json()["code"] == 405


def test_the_lists_cost_a_fixed_number_of_queries(alice: Frontend, django_assert_max_num_queries: Any) -> None:
    make_device("cam-01", name="东门")
    for number in range(10):
        make_alarm(alarm_id=f"Q{number}", alarm_level=1)
    data(alice.get(UNREAD))  # the message ids exist from here on

    # The token's user, the user's permissions (two), the cursor, the rows (and the page's count).
    with django_assert_max_num_queries(5):
        assert len(data(alice.get(UNREAD))) == 10
    with django_assert_max_num_queries(6):
        assert data(alice.get(MY_PAGE))["total"] == 10
    with django_assert_max_num_queries(5):
        assert data(alice.get(COUNT)) == 10


def test_deleting_an_alarm_takes_its_message_and_read_state_with_it(alice: Frontend) -> None:
    make_alarm(alarm_id="A1", alarm_level=1)
    alice.send("put", f"{READ}?ids={message_id(alice, 'A1')}")

    AlarmEvent.objects.filter(pk="A1").delete()

    assert not AlarmMessage.objects.exists()
    assert not AlarmMessageRead.objects.exists()
    assert data(alice.get(MY_PAGE))["total"] == 0
