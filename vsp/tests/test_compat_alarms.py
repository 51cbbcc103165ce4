"""Compat alarm and device endpoints, driven as the Yudao frontend drives them."""

from __future__ import annotations

import io
from typing import Any

import pytest
import time_machine
from openpyxl import load_workbook

from alarms.models import AlarmEvent, AlarmHandleLog, AlarmStatus, HandleStatus
from alarms.tests.factories import aware, make_alarm, make_device
from analysis.models import AlarmLlmAnalysis
from conftest import make_user
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

PAGE = "/aiot/alarm/event/page"
BAD_TIME = "请求参数类型错误:eventTime[0]: 时间应为 yyyy-MM-dd HH:mm:ss 或 yyyy-MM-dd（2000–2100 年）"
NOW = "2026-11-27T07:00:00Z"  # 15:00 in Asia/Shanghai


@pytest.fixture
def frontend() -> Frontend:
    make_user("boss", superuser=True)
    tab = Frontend()
    tab.login("boss")
    return tab


@pytest.fixture
def known_alarms() -> None:
    make_device("cam-01", name="East gate")
    make_device("cam-02", name="Warehouse")
    make_alarm(
        alarm_id="A1",
        alarm_type="intrusion",
        device_id="cam-01",
        scene_id="gate",
        alarm_level=1,
        event_time=aware("2026-11-20 09:00:00"),
    )
    make_alarm(
        alarm_id="A2",
        alarm_type="smoke",
        device_id="cam-02",
        scene_id="store",
        alarm_level=2,
        event_time=aware("2026-11-21 09:00:00"),
        alarm_status=AlarmStatus.CONFIRMED,
        handle_status=HandleStatus.HANDLING,
    )
    make_alarm(
        alarm_id="A3",
        alarm_type="smoke",
        device_id="cam-01",
        scene_id="gate",
        alarm_level=3,
        event_time=aware("2026-11-22 23:59:59"),
        alarm_status=AlarmStatus.RESOLVED,
        handle_status=HandleStatus.HANDLED,
    )
    make_alarm(alarm_id="A4", alarm_type="no_helmet", device_id="cam-02", scene_id="store", alarm_level=4,
               event_time=aware("2026-11-23 00:00:00"), handle_status=HandleStatus.IGNORED)  # fmt: skip


def page_ids(frontend: Frontend, params: dict[str, Any]) -> tuple[list[str], int]:
    body = frontend.get(PAGE, {"pageNo": 1, "pageSize": 10, **params}).json()
    assert body["code"] == 0, body
    return [row["alarmId"] for row in body["data"]["list"]], body["data"]["total"]


# --- page ---------------------------------------------------------------------------


@pytest.mark.usefixtures("known_alarms")
def test_the_page_is_newest_first_in_yudao_shape(frontend: Frontend) -> None:
    body = frontend.get(PAGE, {"pageNo": 1, "pageSize": 10}).json()

    assert body["code"] == 0
    assert body["msg"] == ""
    assert body["data"]["total"] == 4
    rows = body["data"]["list"]
    assert [row["alarmId"] for row in rows] == ["A4", "A3", "A2", "A1"]
    a2 = rows[2]
    assert set(a2) == {
        "alarmId", "alarmType", "deviceId", "deviceName", "sceneId", "eventTime", "alarmLevel", "alarmStatus",
        "handleStatus", "snapshotUrl", "thumbnailUrl", "snapshotStatus", "confidenceScore", "durationMs", "endTime",
        "resolveType", "handler", "handleRemark", "handleTime", "assignee", "incidentId", "incidentCount",
        "createTime", "updateTime",
    }  # fmt: skip
    assert a2["deviceName"] == "Warehouse"
    assert a2["eventTime"] == int(aware("2026-11-21 09:00:00").timestamp() * 1000)
    assert isinstance(a2["createTime"], int)
    assert a2["endTime"] is None
    assert (a2["alarmLevel"], a2["alarmStatus"], a2["handleStatus"]) == (2, "CONFIRMED", "HANDLING")


@pytest.mark.usefixtures("known_alarms")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"alarmType": "smoke"}, ["A3", "A2"]),
        ({"deviceId": "cam-01"}, ["A3", "A1"]),
        ({"sceneId": "store"}, ["A4", "A2"]),
        ({"alarmLevel": 1}, ["A1"]),
        ({"alarmStatus": "CONFIRMED"}, ["A2"]),
        ({"handleStatus": "IGNORED"}, ["A4"]),
        # Range pickers send 00:00:00 and 23:59:59; both ends are inclusive.
        ({"eventTime": ["2026-11-21 00:00:00", "2026-11-22 23:59:59"]}, ["A3", "A2"]),
        ({"eventTime": ["2026-11-22 23:59:59", None]}, ["A4", "A3"]),
        ({"eventTime": [None, "2026-11-20 09:00:00"]}, ["A1"]),
        # A date-only picker (type="daterange") sends days; the end day is included whole.
        ({"eventTime": ["2026-11-21", "2026-11-22"]}, ["A3", "A2"]),
        ({"eventTime": [None, "2026-11-20"]}, ["A1"]),
        # key= (null or '' in the frontend) means "not given".
        ({"alarmType": None, "deviceId": "", "alarmLevel": None}, ["A4", "A3", "A2", "A1"]),
        ({"alarmType": "smoke", "deviceId": "cam-02"}, ["A2"]),
    ],
)
def test_page_filters(frontend: Frontend, params: dict[str, Any], expected: list[str]) -> None:
    assert page_ids(frontend, params) == (expected, len(expected))


@pytest.mark.usefixtures("known_alarms")
def test_paging_keeps_the_total(frontend: Frontend) -> None:
    assert page_ids(frontend, {"pageNo": 2, "pageSize": 3}) == (["A1"], 4)
    assert page_ids(frontend, {"pageNo": 9, "pageSize": 3}) == ([], 4)


@pytest.mark.parametrize(
    ("params", "msg"),
    [
        ({"pageSize": 0}, "请求参数不正确:每页条数最小值为 1"),
        ({"pageSize": 201}, "请求参数不正确:每页条数最大值为 200"),
        ({"pageSize": -1}, "请求参数不正确:每页条数最小值为 1"),
        ({"pageNo": 0}, "请求参数不正确:页码最小值为 1"),
        ({"pageNo": "1_0"}, "请求参数类型错误:pageNo: '1_0'"),  # int() would take it; Java does not
        ({"pageNo": "x"}, "请求参数类型错误:pageNo: 'x'"),
        ({"alarmLevel": 9}, "请求参数不正确:alarmLevel: 选择一个有效的选项。 9 不在可用的选项中。"),
        ({"eventTime": ["tomorrow", None]}, BAD_TIME),
        ({"eventTime": ["0001-01-01 00:00:00", None]}, BAD_TIME),
    ],
)  # fmt: skip
def test_bad_page_parameters_in_yudao_words(frontend: Frontend, params: dict[str, Any], msg: str) -> None:
    response = frontend.get(PAGE, {"pageNo": 1, "pageSize": 10, **params})
    assert response.status_code == 200
    assert response.json() == {"code": 400, "data": None, "msg": msg}


def test_the_page_costs_a_fixed_number_of_queries(frontend: Frontend, django_assert_max_num_queries: Any) -> None:
    for number in range(30):
        make_device(f"cam-{number}", name=f"Camera {number}")
        make_alarm(device_id=f"cam-{number}")
    # token lookup, the total (the counts, and their changes not yet folded), page
    with django_assert_max_num_queries(4):
        assert len(frontend.get(PAGE, {"pageNo": 1, "pageSize": 30}).json()["data"]["list"]) == 30


# --- get ----------------------------------------------------------------------------


def test_get_carries_ext_data_and_the_latest_analysis(frontend: Frontend) -> None:
    alarm = make_alarm(alarm_id="G-1", ext_data={"bbox": [1, 2, 3, 4]})
    AlarmLlmAnalysis.objects.create(alarm=alarm, model_name="qwen-vl", status="DONE", verdict="FALSE_ALARM",
                                    description="a cat", risk_level=1)  # fmt: skip

    for params in ({"alarmId": "G-1"}, {"id": "G-1"}):
        body = frontend.get("/aiot/alarm/event/get", params).json()
        assert body["code"] == 0
        assert body["data"]["alarmId"] == "G-1"
        assert body["data"]["extData"] == {"bbox": [1, 2, 3, 4]}
        analysis = body["data"]["analysis"]
        assert (analysis["model"], analysis["verdict"], analysis["riskLevel"]) == ("qwen-vl", "FALSE_ALARM", 1)
        contract = {"status", "verdict", "confidence", "description", "riskLevel", "model", "promptVersion"}
        assert contract | {"latencyMs", "createTime"} <= set(analysis)
        assert isinstance(analysis["createTime"], int)


def test_get_of_an_unknown_alarm_is_null(frontend: Frontend) -> None:
    assert frontend.get("/aiot/alarm/event/get", {"alarmId": "nope"}).json() == {"code": 0, "data": None, "msg": ""}


def test_get_without_the_id_names_the_missing_parameter(frontend: Frontend) -> None:
    assert frontend.get("/aiot/alarm/event/get").json() == {"code": 400, "data": None, "msg": "请求参数缺失:alarmId"}


# --- handle -------------------------------------------------------------------------


def test_handle_records_who_and_when(frontend: Frontend) -> None:
    make_alarm(alarm_id="H-1")

    response = frontend.send(
        "put", "/aiot/alarm/event/handle", {"alarmId": "H-1", "handleStatus": "HANDLED", "alarmStatus": None,
                                            "remark": "guard sent"}
    )  # fmt: skip

    assert response.json() == {"code": 0, "data": True, "msg": ""}
    alarm = AlarmEvent.objects.get(pk="H-1")
    assert (alarm.handle_status, alarm.alarm_status, alarm.handler, alarm.handle_remark) == (
        "HANDLED", "CONFIRMED", "boss", "guard sent"
    )  # fmt: skip
    log = AlarmHandleLog.objects.get(alarm=alarm)
    assert (log.actor_name, log.to_handle_status) == ("boss", "HANDLED")


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({"alarmId": "H-2", "handleStatus": "DONE"}, "请求参数不正确:handleStatus: “DONE” 不是合法选项。"),
        ({"alarmId": "H-2"}, "请求参数不正确:handleStatus: 该字段是必填项。"),
        ({"handleStatus": "HANDLED"}, "请求参数不正确:alarmId: 该字段是必填项。"),
        ({"alarmId": "H-2", "handleStatus": "HANDLED", "alarmStatus": "OPEN"},
         "请求参数不正确:alarmStatus: “OPEN” 不是合法选项。"),
    ],
)  # fmt: skip
def test_a_bad_handle_is_refused_naming_the_field(frontend: Frontend, body: dict[str, Any], msg: str) -> None:
    make_alarm(alarm_id="H-2")
    assert frontend.send("put", "/aiot/alarm/event/handle", body).json() == {"code": 400, "data": None, "msg": msg}
    assert AlarmEvent.objects.get(pk="H-2").handle_status == HandleStatus.UNHANDLED


def test_handle_of_an_unknown_alarm_or_backwards_status_is_a_business_error(frontend: Frontend) -> None:
    make_alarm(alarm_id="H-3", alarm_status=AlarmStatus.RESOLVED)
    unknown = frontend.send("put", "/aiot/alarm/event/handle", {"alarmId": "nope", "handleStatus": "HANDLED"})
    backwards = frontend.send(
        "put", "/aiot/alarm/event/handle", {"alarmId": "H-3", "handleStatus": "HANDLED", "alarmStatus": "NEW"}
    )
    assert unknown.json() == {"code": 1050001000, "data": None, "msg": "告警事件不存在"}
    assert backwards.json() == {"code": 1050001001, "data": None, "msg": "告警状态不能从 RESOLVED 回退到 NEW"}


def test_handle_with_the_wrong_method_or_no_body(frontend: Frontend) -> None:
    assert frontend.get("/aiot/alarm/event/handle").json() == {
        "code": 405,
        "data": None,
        "msg": "请求方法不正确:Request method 'GET' is not supported",
    }
    broken = frontend.client.put(
        "/admin-api/aiot/alarm/event/handle", data="{oops", content_type="application/json",
        headers=frontend.headers("/admin-api/aiot/alarm/event/handle"),
    )  # fmt: skip
    assert broken.json()["code"] == 400
    assert broken.json()["msg"].startswith("请求参数类型错误:")
    empty = frontend.send("put", "/aiot/alarm/event/handle")
    assert empty.json() == {"code": 400, "data": None, "msg": "请求参数类型错误: request body 缺失"}


def test_handle_needs_the_handle_permission() -> None:
    make_user("viewer", perms=("alarms.view_alarmevent",))
    make_alarm(alarm_id="H-4")
    tab = Frontend()
    tab.login("viewer")
    response = tab.send("put", "/aiot/alarm/event/handle", {"alarmId": "H-4", "handleStatus": "HANDLED"})
    assert response.json() == {"code": 403, "data": None, "msg": "没有该操作权限"}


# --- statistics ---------------------------------------------------------------------


@pytest.mark.usefixtures("known_alarms")
def test_statistics_over_a_range(frontend: Frontend) -> None:
    with time_machine.travel(NOW, tick=False):
        body = frontend.get(
            "/aiot/alarm/event/statistics", {"eventTime": ["2026-11-21 00:00:00", "2026-11-23 23:59:59"]}
        ).json()

    assert body["code"] == 0
    data = body["data"]
    assert (data["total"], data["today"], data["unhandled"]) == (3, 0, 0)
    assert data["byAlarmStatus"] == {"NEW": 1, "CONFIRMED": 1, "RESOLVED": 1}
    assert data["byHandleStatus"] == {"UNHANDLED": 0, "HANDLING": 1, "HANDLED": 1, "IGNORED": 1}
    assert data["byLevel"] == {"1": 0, "2": 1, "3": 1, "4": 1}
    assert data["byType"] == [{"alarmType": "smoke", "count": 2}, {"alarmType": "no_helmet", "count": 1}]
    assert data["byDevice"] == [
        {"deviceId": "cam-02", "deviceName": "Warehouse", "count": 2},
        {"deviceId": "cam-01", "deviceName": "East gate", "count": 1},
    ]
    assert data["trend"] == [
        {"date": "2026-11-21", "count": 1},
        {"date": "2026-11-22", "count": 1},
        {"date": "2026-11-23", "count": 1},
    ]


@pytest.mark.usefixtures("known_alarms")
def test_statistics_for_one_device(frontend: Frontend) -> None:
    with time_machine.travel(NOW, tick=False):
        data = frontend.get("/aiot/alarm/event/statistics", {"deviceId": "cam-01"}).json()["data"]
    assert data["total"] == 2
    assert data["byType"] == [{"alarmType": "intrusion", "count": 1}, {"alarmType": "smoke", "count": 1}]


def test_a_device_without_a_name_reads_null_in_pages_and_statistics(frontend: Frontend) -> None:
    make_device("cam-07", name="")
    make_alarm(alarm_id="U-1", device_id="cam-07")  # a box nobody named
    make_alarm(alarm_id="U-2", device_id="cam-08")  # a box never registered

    rows = frontend.get("/aiot/alarm/event/page").json()["data"]["list"]
    by_device = frontend.get("/aiot/alarm/event/statistics").json()["data"]["byDevice"]

    assert {row["deviceId"]: row["deviceName"] for row in rows} == {"cam-07": None, "cam-08": None}
    assert {row["deviceId"]: row["deviceName"] for row in by_device} == {"cam-07": None, "cam-08": None}


# --- export -------------------------------------------------------------------------


@pytest.mark.usefixtures("known_alarms")
def test_export_is_a_workbook_of_the_filtered_rows(frontend: Frontend) -> None:
    response = frontend.get("/aiot/alarm/event/export-excel", {"alarmType": "smoke"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == "attachment;filename=%E5%91%8A%E8%AD%A6%E4%BA%8B%E4%BB%B6.xlsx"
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("告警编号", "告警类型", "设备编号")
    assert [row[0] for row in rows[1:]] == ["A3", "A2"]
    a3 = rows[1]
    assert (a3[1], a3[3], a3[6], a3[7], a3[8]) == ("烟雾", "East gate", "三级", "已结束", "已处理")
    assert a3[5].isoformat() == "2026-11-22T23:59:59"


def test_export_writes_control_characters_and_formulas_as_text(frontend: Frontend) -> None:
    # Staff text keeps what was typed (edge text refuses control characters at ingest).
    make_alarm(alarm_id="CTRL-1", handler='=HYPERLINK("http://evil.example")', handle_remark="bell\x07 tab\t ok")
    make_alarm(alarm_id="CTRL-2", handler="@SUM(A1)", scene_id="+1", handle_remark="-2", resolve_type="\x1b[31m")

    response = frontend.get("/aiot/alarm/event/export-excel")

    assert response.status_code == 200  # one such character made every export of the range a 500
    rows = {row[0]: row for row in load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True)}
    handler, remark, resolve_type, scene = 13, 14, 12, 4
    assert rows["CTRL-1"][handler] == '\'=HYPERLINK("http://evil.example")'
    assert rows["CTRL-1"][remark] == "bell\\x07 tab\t ok"
    assert (rows["CTRL-2"][handler], rows["CTRL-2"][scene], rows["CTRL-2"][remark]) == ("'@SUM(A1)", "'+1", "'-2")
    assert rows["CTRL-2"][resolve_type] == "\\x1b[31m"


def test_export_errors_are_json(frontend: Frontend, settings: Any) -> None:
    settings.EXPORT_MAX_ROWS = 1
    make_alarm()
    make_alarm()
    response = frontend.get("/aiot/alarm/event/export-excel")
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": 1050001002, "data": None, "msg": "导出数据超过 1 条，请缩小筛选范围"}


def test_export_needs_the_export_permission() -> None:
    make_user("viewer", perms=("alarms.view_alarmevent",))
    tab = Frontend()
    tab.login("viewer")
    assert tab.get("/aiot/alarm/event/export-excel").json()["code"] == 403


# --- devices ------------------------------------------------------------------------


def test_device_page_and_get(frontend: Frontend) -> None:
    make_device(
        "cam-01",
        name="East gate",
        status="ONLINE",
        version="2.1",
        last_ip="10.0.0.5",
        last_heartbeat=aware("2026-11-27 10:00:00"),
    )
    make_device("cam-02", name="Warehouse", status="OFFLINE")  # fmt: skip

    body = frontend.get("/aiot/edge/device/page", {"pageNo": 1, "pageSize": 10, "status": "ONLINE"}).json()
    assert body["data"]["total"] == 1
    row = body["data"]["list"][0]
    assert (row["deviceId"], row["deviceName"], row["status"], row["ip"], row["version"]) == (
        "cam-01", "East gate", "ONLINE", "10.0.0.5", "2.1"
    )  # fmt: skip
    assert row["lastHeartbeatTime"] == int(aware("2026-11-27 10:00:00").timestamp() * 1000)
    assert [
        r["deviceId"] for r in frontend.get("/aiot/edge/device/page", {"deviceName": "ware"}).json()["data"]["list"]
    ] == ["cam-02"]
    assert frontend.get("/aiot/edge/device/get", {"deviceId": "cam-02"}).json()["data"]["deviceName"] == "Warehouse"
    assert frontend.get("/aiot/edge/device/get", {"deviceId": "nope"}).json() == {"code": 0, "data": None, "msg": ""}
    assert frontend.get("/aiot/edge/device/page", {"status": "BROKEN"}).json()["code"] == 400


# --- the envelope everywhere --------------------------------------------------------


def test_an_unknown_path_is_a_404_envelope(frontend: Frontend) -> None:
    for method in ("get", "post", "delete"):
        response = getattr(frontend.client, method)("/admin-api/aiot/alarm/nope", headers=frontend.headers("x"))
        assert response.status_code == 200
        assert response.json() == {"code": 404, "data": None, "msg": "请求地址不存在:/admin-api/aiot/alarm/nope"}


def test_a_server_error_is_a_500_envelope(database_down: None) -> None:
    tab = Frontend()
    tab.access_token = "a" * 32
    response = tab.get(PAGE)
    assert response.status_code == 200
    assert response.json() == {"code": 500, "data": None, "msg": "系统异常"}


def test_dictionaries_have_string_values_sorted_by_type(frontend: Frontend) -> None:
    make_alarm(alarm_type="climbing")
    entries = frontend.get("/system/dict-data/simple-list").json()["data"]

    assert all(isinstance(entry["value"], str) for entry in entries)
    types = [entry["dictType"] for entry in entries]
    assert types == sorted(types)
    assert {"aiot_alarm_level", "aiot_alarm_status", "aiot_alarm_handle_status", "aiot_alarm_type",
            "aiot_edge_device_status", "infra_boolean_string", "system_notify_template_type"} == set(types)  # fmt: skip
    # The 我的站内信 page's 是否已读 and 类型 columns.
    read = [(e["value"], e["label"]) for e in entries if e["dictType"] == "infra_boolean_string"]
    assert read == [("true", "是"), ("false", "否")]
    levels = [(e["value"], e["label"]) for e in entries if e["dictType"] == "aiot_alarm_level"]
    assert levels == [("1", "一级"), ("2", "二级"), ("3", "三级"), ("4", "四级")]
    assert {"dictType": "aiot_alarm_type", "value": "climbing", "label": "climbing", "colorType": "default",
            "cssClass": ""} in entries  # fmt: skip


def test_dictionaries_need_a_login_but_no_permission() -> None:
    make_user("clerk")
    tab = Frontend()
    assert tab.get("/system/dict-data/simple-list").json()["code"] == 401
    tab.login("clerk")
    assert tab.get("/system/dict-data/simple-list").json()["code"] == 0


def test_deep_compat_pages_are_the_rows_plain_offsets_give(frontend: Frontend, settings: Any) -> None:
    settings.PAGE_DEFERRED_JOIN_FROM = 0
    make_device("cam-named", name="Named")
    for number in range(12):
        make_alarm(alarm_id=f"CJ-{number:02d}", device_id="cam-named", event_time=aware("2026-11-10 08:00:00"))
    rows = [frontend.get(PAGE, {"pageNo": page, "pageSize": 5}).json()["data"] for page in (1, 2, 3)]

    assert [row["alarmId"] for page in rows for row in page["list"]] == [f"CJ-{n:02d}" for n in range(11, -1, -1)]
    assert {page["total"] for page in rows} == {12}
    assert {row["deviceName"] for page in rows for row in page["list"]} == {"Named"}
