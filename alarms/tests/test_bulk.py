"""Bulk triage: one call handles or assigns many alarms, with an outcome per id (native, compat, service)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from alarms import counts, services
from alarms.exceptions import TooManyAlarms
from alarms.models import AlarmEvent, AlarmHandleLog, AlarmStatus, AlarmTiming, HandleStatus
from alarms.tests.factories import make_alarm, make_device
from conftest import make_user
from vsp.asgi import application
from vsp.compat.tokens import issue_tokens
from vsp.models import DashboardEvent
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

BULK_HANDLE = "/api/v1/alerts/bulk-handle/"
BULK_ASSIGN = "/api/v1/alerts/bulk-assign/"
BATCH_HANDLE = "/aiot/alarm/event/batch-handle"


@pytest.fixture
def boss() -> User:
    return make_user("boss", superuser=True)


@pytest.fixture
def client(boss: User) -> APIClient:
    client = APIClient()
    client.force_login(boss)
    return client


def updated_events() -> list[str]:
    """The alarm ids of the ``alarm.updated`` events numbered so far, in order."""
    import json

    rows = DashboardEvent.objects.filter(type="alarm.updated").order_by("seq").values_list("data", flat=True)
    return [json.loads(data)["alarmId"] for data in rows]


# --- the service ------------------------------------------------------------------------------


def test_each_id_gets_its_own_outcome(boss: User) -> None:
    make_alarm(alarm_id="B-1")
    make_alarm(alarm_id="B-2", alarm_status=AlarmStatus.RESOLVED)

    results = services.bulk_handle(
        ["B-1", "B-2", "B-missing"],
        handle_status=HandleStatus.HANDLED,
        alarm_status=AlarmStatus.CONFIRMED,
        remark="guard sent",
        actor=services.Actor.of(boss),
    )

    assert results == {"B-1": "updated", "B-2": "invalid_transition", "B-missing": "not_found"}
    first, second = AlarmEvent.objects.get(pk="B-1"), AlarmEvent.objects.get(pk="B-2")
    assert (first.handle_status, first.alarm_status, first.handler, first.handle_remark) == (
        "HANDLED", "CONFIRMED", "boss", "guard sent"
    )  # fmt: skip
    assert (second.handle_status, second.alarm_status) == ("UNHANDLED", "RESOLVED")
    log = AlarmHandleLog.objects.get()
    assert (log.alarm_id, log.actor, log.from_alarm_status, log.to_alarm_status) == ("B-1", boss, "NEW", "CONFIRMED")
    assert updated_events() == ["B-1"]


def test_without_a_status_a_new_alarm_is_acknowledged_and_others_keep_theirs(boss: User) -> None:
    make_alarm(alarm_id="B-3")
    make_alarm(alarm_id="B-4", alarm_status=AlarmStatus.RESOLVED)

    results = services.bulk_handle(["B-3", "B-4"], handle_status=HandleStatus.IGNORED, actor=services.Actor.of(boss))

    assert results == {"B-3": "updated", "B-4": "updated"}
    statuses = dict(AlarmEvent.objects.values_list("alarm_id", "alarm_status"))
    assert statuses == {"B-3": "CONFIRMED", "B-4": "RESOLVED"}
    assert set(AlarmEvent.objects.values_list("handle_status", flat=True)) == {"IGNORED"}
    # No remark given: the stored ones stay.
    assert set(AlarmEvent.objects.values_list("handle_remark", flat=True)) == {""}


def test_an_actor_without_the_handle_permission_is_forbidden_each_alarm_and_nothing_changes() -> None:
    viewer = make_user("viewer", perms=("alarms.view_alarmevent",))
    make_alarm(alarm_id="B-5")

    results = services.bulk_handle(
        ["B-5", "B-missing"], handle_status=HandleStatus.HANDLED, actor=services.Actor.of(viewer)
    )

    assert results == {"B-5": "forbidden", "B-missing": "not_found"}
    assert AlarmEvent.objects.get(pk="B-5").handle_status == "UNHANDLED"
    assert not AlarmHandleLog.objects.exists()
    assert updated_events() == []


def test_repeated_ids_are_written_logged_counted_and_announced_once(boss: User) -> None:
    for number in range(3):
        make_alarm(alarm_id=f"B-D{number}")
    changes_before = counts_changes()

    results = services.bulk_handle(
        ["B-D2", "B-D0", "B-D2", "B-D1", "B-D0"], handle_status=HandleStatus.HANDLING, actor=services.Actor.of(boss)
    )

    assert list(results) == ["B-D2", "B-D0", "B-D1"]  # in the order first given
    assert set(results.values()) == {"updated"}
    assert AlarmHandleLog.objects.count() == 3
    assert sorted(updated_events()) == ["B-D0", "B-D1", "B-D2"]
    assert counts_changes() - changes_before == 6  # each alarm counted out of its old status and into its new


def counts_changes() -> int:
    from alarms.models import AlarmCountChange

    return AlarmCountChange.objects.count()


def test_more_than_the_limit_is_refused_whole_but_the_limit_itself_goes_through(boss: User, settings: Any) -> None:
    settings.BULK_HANDLE_MAX_IDS = 1000
    make_alarm(alarm_id="B-L")
    ids = ["B-L", *(f"missing-{number}" for number in range(999))]

    with pytest.raises(TooManyAlarms):
        services.bulk_handle([*ids, "one-more"], handle_status=HandleStatus.HANDLED, actor=services.Actor.of(boss))
    assert AlarmEvent.objects.get(pk="B-L").handle_status == "UNHANDLED"

    # Repeats do not count towards the limit.
    results = services.bulk_handle([*ids, "B-L"], handle_status=HandleStatus.HANDLED, actor=services.Actor.of(boss))
    assert len(results) == 1000
    assert results["B-L"] == "updated"


def test_the_counts_still_reconcile_after_bulk_handling(boss: User) -> None:
    make_device("cam-7")
    for number in range(12):
        make_alarm(alarm_id=f"B-C{number}", device_id="cam-7", alarm_level=1 + number % 4)
    make_alarm(alarm_id="B-CR", alarm_status=AlarmStatus.RESOLVED)
    actor = services.Actor.of(boss)
    services.bulk_handle([f"B-C{n}" for n in range(6)], handle_status=HandleStatus.HANDLING, actor=actor)
    services.bulk_handle(
        [f"B-C{n}" for n in range(3, 12)] + ["B-CR"],
        handle_status=HandleStatus.HANDLED,
        alarm_status=AlarmStatus.RESOLVED,
        actor=actor,
    )
    services.bulk_handle(["B-CR"], handle_status=HandleStatus.IGNORED, alarm_status="NEW", actor=actor)

    assert counts.total(counts.Scope(handle_status=HandleStatus.HANDLED)) == 10
    assert counts.total(counts.Scope(handle_status=HandleStatus.HANDLING)) == 3
    said = io.StringIO()
    call_command("reconcile_alarm_counts", stdout=said)
    assert said.getvalue().strip() == "the counts were exact"


@pytest.mark.django_db(transaction=True)
async def test_a_socket_hears_one_update_per_alarm_however_often_it_was_named() -> None:
    boss = await sync_to_async(make_user)("boss", superuser=True)
    for alarm_id in ("B-W1", "B-W2"):
        await sync_to_async(make_alarm)(alarm_id=alarm_id)
    token = (await sync_to_async(issue_tokens)(boss)).access_token
    socket = WebsocketCommunicator(application, f"/ws/alerts?token={token}")
    connected, _ = await socket.connect(timeout=5)
    assert connected

    await sync_to_async(services.bulk_handle)(
        ["B-W2", "B-W1", "B-W2", "B-W1", "B-W2"], handle_status="HANDLED", actor=services.Actor.of(boss)
    )

    frames = [await socket.receive_json_from(timeout=5) for _ in range(2)]
    assert [(frame["type"], frame["data"]["alarmId"]) for frame in frames] == [
        ("alarm.updated", "B-W1"),  # announced in the order their rows were locked: by id
        ("alarm.updated", "B-W2"),
    ]
    assert {frame["data"]["handleStatus"] for frame in frames} == {"HANDLED"}
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


# --- native API -------------------------------------------------------------------------------


def test_bulk_handle_answers_each_outcome(client: APIClient) -> None:
    make_alarm(alarm_id="N-1")
    make_alarm(alarm_id="N-2", alarm_status=AlarmStatus.RESOLVED)

    response = client.post(
        BULK_HANDLE,
        {"alarm_ids": ["N-1", "N-2", "N-3", "N-1"], "handle_status": "HANDLED", "alarm_status": "CONFIRMED"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"results": {"N-1": "updated", "N-2": "invalid_transition", "N-3": "not_found"}}


def test_a_viewer_is_answered_forbidden_per_alarm() -> None:
    make_alarm(alarm_id="N-4")
    viewer = APIClient()
    viewer.force_login(make_user("viewer", perms=("alarms.view_alarmevent",)))

    response = viewer.post(BULK_HANDLE, {"alarm_ids": ["N-4", "N-5"], "handle_status": "HANDLED"}, format="json")

    assert response.json() == {"results": {"N-4": "forbidden", "N-5": "not_found"}}
    assert AlarmEvent.objects.get(pk="N-4").handle_status == "UNHANDLED"


def test_a_user_who_may_not_see_alarms_is_refused_outright() -> None:
    clerk = APIClient()
    clerk.force_login(make_user("clerk"))
    assert clerk.post(BULK_HANDLE, {"alarm_ids": ["x"], "handle_status": "HANDLED"}, format="json").status_code == 403
    assert clerk.post(BULK_ASSIGN, {"alarm_ids": ["x"], "assignee": None}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"handle_status": "HANDLED"}, "alarm_ids"),
        ({"alarm_ids": [], "handle_status": "HANDLED"}, "alarm_ids"),
        ({"alarm_ids": "N-1", "handle_status": "HANDLED"}, "alarm_ids"),
        ({"alarm_ids": [17], "handle_status": "HANDLED"}, "alarm_ids"),
        ({"alarm_ids": ["x" * 65], "handle_status": "HANDLED"}, "alarm_ids"),
        ({"alarm_ids": [f"id-{n}" for n in range(1001)], "handle_status": "HANDLED"}, "alarm_ids"),
        ({"alarm_ids": ["N-1"]}, "handle_status"),
        ({"alarm_ids": ["N-1"], "handle_status": "DONE"}, "handle_status"),
        ({"alarm_ids": ["N-1"], "handle_status": "HANDLED", "alarm_status": "OPEN"}, "alarm_status"),
        ({"alarm_ids": ["N-1"], "handle_status": "HANDLED", "remark": "x" * 2001}, "remark"),
    ],
)
def test_bad_bulk_input_is_a_400_naming_the_field(client: APIClient, body: dict[str, Any], field: str) -> None:
    make_alarm(alarm_id="N-1")
    response = client.post(BULK_HANDLE, body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert AlarmEvent.objects.get(pk="N-1").handle_status == "UNHANDLED"


def test_a_thousand_and_one_ids_are_refused_with_400(client: APIClient) -> None:
    response = client.post(
        BULK_HANDLE, {"alarm_ids": [f"id-{n}" for n in range(1001)], "handle_status": "HANDLED"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"alarm_ids": ["Ensure this field has no more than 1000 elements."]}


def test_bulk_assign_gives_alarms_to_a_staff_member_and_shows_it_everywhere(client: APIClient) -> None:
    make_user("zhang")
    make_alarm(alarm_id="A-1")
    make_alarm(alarm_id="A-2")

    response = client.post(BULK_ASSIGN, {"alarm_ids": ["A-1", "A-9", "A-1"], "assignee": "zhang"}, format="json")

    assert response.json() == {"results": {"A-1": "updated", "A-9": "not_found"}}
    listed = {row["alarm_id"]: row["assignee"] for row in client.get("/api/v1/alerts/").json()["results"]}
    assert listed == {"A-1": "zhang", "A-2": None}
    assert client.get("/api/v1/alerts/A-1/").json()["assignee"] == "zhang"
    assert updated_events() == ["A-1"]
    # An assignment is not a handling: no log, no status moved.
    assert not AlarmHandleLog.objects.exists()
    assert AlarmEvent.objects.get(pk="A-1").handle_status == "UNHANDLED"

    cleared = client.post(BULK_ASSIGN, {"alarm_ids": ["A-1"], "assignee": None}, format="json")
    assert cleared.json() == {"results": {"A-1": "updated"}}
    assert AlarmEvent.objects.get(pk="A-1").assignee is None


def test_bulk_assign_only_to_an_active_staff_member(client: APIClient) -> None:
    make_user("visitor", staff=False)
    make_alarm(alarm_id="A-3")
    for body in (
        {"alarm_ids": ["A-3"], "assignee": "visitor"},
        {"alarm_ids": ["A-3"], "assignee": "nobody-here"},
        {"alarm_ids": ["A-3"]},
    ):
        response = client.post(BULK_ASSIGN, body, format="json")
        assert (response.status_code, list(response.json())) == (400, ["assignee"])
    assert AlarmEvent.objects.get(pk="A-3").assignee is None


def test_a_deleted_assignee_leaves_the_alarm_unassigned(client: APIClient) -> None:
    li = make_user("li")
    make_alarm(alarm_id="A-4")
    client.post(BULK_ASSIGN, {"alarm_ids": ["A-4"], "assignee": "li"}, format="json")
    li.delete()
    assert client.get("/api/v1/alerts/A-4/").json()["assignee"] is None


# --- compat -----------------------------------------------------------------------------------


@pytest.fixture
def frontend(boss: User) -> Frontend:
    tab = Frontend()
    tab.login("boss")
    return tab


def test_batch_handle_sorts_the_ids_by_outcome_in_the_envelope(frontend: Frontend) -> None:
    make_alarm(alarm_id="C-1")
    make_alarm(alarm_id="C-2", alarm_status=AlarmStatus.RESOLVED)
    make_alarm(alarm_id="C-3")

    response = frontend.send(
        "put",
        BATCH_HANDLE,
        {"alarmIds": ["C-3", "C-2", "C-9", "C-1", "C-3"], "handleStatus": "HANDLED", "alarmStatus": "CONFIRMED",
         "remark": None},
    )  # fmt: skip

    assert response.json() == {
        "code": 0,
        "msg": "",
        "data": {"updated": ["C-3", "C-1"], "notFound": ["C-9"], "invalid": ["C-2"]},
    }
    assert AlarmEvent.objects.get(pk="C-1").handler == "boss"


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({"handleStatus": "HANDLED"}, "请求参数不正确:alarmIds: 该字段是必填项。"),
        ({"alarmIds": ["C-1"]}, "请求参数不正确:handleStatus: 该字段是必填项。"),
        ({"alarmIds": ["C-1"], "handleStatus": "DONE"}, "请求参数不正确:handleStatus: “DONE” 不是合法选项。"),
    ],
)
def test_bad_batch_handle_input_names_the_field(frontend: Frontend, body: dict[str, Any], msg: str) -> None:
    assert frontend.send("put", BATCH_HANDLE, body).json() == {"code": 400, "data": None, "msg": msg}


def test_batch_handle_refuses_too_many_ids_and_a_missing_body(frontend: Frontend) -> None:
    many = frontend.send("put", BATCH_HANDLE, {"alarmIds": [f"x{n}" for n in range(1001)], "handleStatus": "HANDLED"})
    assert (many.json()["code"], many.json()["msg"].split(":")[0]) == (400, "请求参数不正确")
    assert "alarmIds" in many.json()["msg"]
    assert frontend.send("put", BATCH_HANDLE).json() == {
        "code": 400,
        "data": None,
        "msg": "请求参数类型错误: request body 缺失",
    }


def test_batch_handle_needs_the_handle_permission() -> None:
    make_user("viewer", perms=("alarms.view_alarmevent",))
    make_alarm(alarm_id="C-4")
    tab = Frontend()
    tab.login("viewer")
    response = tab.send("put", BATCH_HANDLE, {"alarmIds": ["C-4"], "handleStatus": "HANDLED"})
    assert response.json() == {"code": 403, "data": None, "msg": "没有该操作权限"}
    assert AlarmEvent.objects.get(pk="C-4").handle_status == "UNHANDLED"


def test_the_compat_alarm_carries_its_assignee(frontend: Frontend, boss: User) -> None:
    make_alarm(alarm_id="C-5")
    services.bulk_assign(["C-5"], assignee=boss, actor=services.Actor.of(boss))
    page = frontend.get("/aiot/alarm/event/page").json()["data"]["list"]
    assert [(row["alarmId"], row["assignee"]) for row in page] == [("C-5", "boss")]
    assert frontend.get("/aiot/alarm/event/get", {"alarmId": "C-5"}).json()["data"]["assignee"] == "boss"


def test_bulk_handling_keeps_the_metrics_timings_a_rebuild_from_the_handling_log_would_make(boss: User) -> None:
    actor = services.Actor.of(boss)
    first, second = make_alarm(alarm_id="B-T1").created_at, make_alarm(alarm_id="B-T2").created_at
    services.handle_alarm("B-T2", handle_status=HandleStatus.HANDLING, actor=actor, now=second + timedelta(seconds=30))
    services.bulk_handle(
        ["B-T1", "B-T2"],
        handle_status=HandleStatus.HANDLED,
        alarm_status=AlarmStatus.RESOLVED,
        actor=actor,
        now=first + timedelta(seconds=90),
    )
    services.bulk_handle(["B-T1"], handle_status=HandleStatus.UNHANDLED, actor=actor, now=first + timedelta(minutes=5))

    kept = list(AlarmTiming.objects.order_by("pk").values())
    call_command("rebuild_alarm_timings", stdout=io.StringIO())
    assert kept == list(AlarmTiming.objects.order_by("pk").values())
    assert [(row["alarm_id"], row["handle_status"], row["resolve_seconds"] is not None) for row in kept] == [
        ("B-T1", "UNHANDLED", True), ("B-T2", "HANDLED", True)
    ]  # fmt: skip
    assert kept[0]["acknowledge_seconds"] == 90
