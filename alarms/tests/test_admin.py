"""Django admin: staff triage alarms and handle them from the change page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from alarms.admin import AlarmEventAdmin
from alarms.models import AlarmEvent, AlarmHandleLog, AlarmStatus, AlarmTiming, AlarmTimingDay, HandleStatus
from alarms.tests.factories import aware, make_alarm, make_device
from alarms.tests.indexes import read_off_an_index
from conftest import make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/alarms/alarmevent/"


@pytest.fixture
def admin_client_(admin_user_obj: User) -> Client:
    client = Client()
    client.force_login(admin_user_obj)
    return client


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("", ["AD-1", "AD-2"], []),
        ("?handle_status__exact=HANDLED", ["AD-2"], ["AD-1"]),
        ("?alarm_status__exact=NEW", ["AD-1"], ["AD-2"]),
        ("?alarm_level__exact=1", ["AD-1"], ["AD-2"]),
        ("?alarm_type=smoke", ["AD-2"], ["AD-1"]),
        ("?device_id=cam-02", ["AD-2"], ["AD-1"]),
        ("?q=brigade", ["AD-2"], ["AD-1"]),
        ("?event_time__year=2026&event_time__month=11&event_time__day=20", ["AD-1"], ["AD-2"]),
    ],
)
def test_the_alarm_list_filters(admin_client_: Client, query: str, shown: list[str], hidden: list[str]) -> None:
    make_alarm(alarm_id="AD-1", alarm_level=1, event_time=aware("2026-11-20 09:00:00"))
    make_alarm(
        alarm_id="AD-2",
        alarm_type="smoke",
        device_id="cam-02",
        event_time=aware("2026-11-21 09:00:00"),
        alarm_status=AlarmStatus.CONFIRMED,
        handle_status=HandleStatus.HANDLED,
        handle_remark="fire brigade",
    )

    response = admin_client_.get(CHANGELIST + query)

    assert response.status_code == 200
    page = response.content.decode()
    for alarm_id in shown:
        assert f">{alarm_id}<" in page
    for alarm_id in hidden:
        assert f">{alarm_id}<" not in page


def test_the_change_page_shows_ext_data_and_the_log(admin_client_: Client) -> None:
    make_device("cam-01", name="East gate")
    make_alarm(alarm_id="AD-3", ext_data={"bind_id": "seat-42"}, snapshot_url="https://img.example.com/x.jpg")

    page = admin_client_.get(f"{CHANGELIST}AD-3/change/").content.decode()

    assert "seat-42" in page
    assert 'href="https://img.example.com/x.jpg"' in page
    assert "处理记录" in page  # the inline's title: the console is Chinese by default


def test_handling_from_the_change_page_goes_through_the_log(admin_client_: Client) -> None:
    make_alarm(alarm_id="AD-4")

    response = admin_client_.post(
        f"{CHANGELIST}AD-4/change/",
        {
            "handle_status": "HANDLED",
            "alarm_status": "CONFIRMED",
            "handle_remark": "false trigger by a cat",
            "ext-TOTAL_FORMS": "0",
            "ext-INITIAL_FORMS": "0",
            "handle_logs-TOTAL_FORMS": "0",
            "handle_logs-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    alarm = AlarmEvent.objects.get(pk="AD-4")
    assert (alarm.handle_status, alarm.alarm_status, alarm.handle_remark, alarm.handler) == (
        "HANDLED",
        "CONFIRMED",
        "false trigger by a cat",
        "boss",
    )
    assert AlarmHandleLog.objects.filter(alarm=alarm, actor_name="boss", to_handle_status="HANDLED").count() == 1


def test_the_change_page_refuses_moving_the_status_back(admin_client_: Client) -> None:
    make_alarm(alarm_id="AD-5", alarm_status=AlarmStatus.RESOLVED)

    response = admin_client_.post(
        f"{CHANGELIST}AD-5/change/",
        {
            "handle_status": "HANDLED",
            "alarm_status": "NEW",
            "handle_remark": "",
            "ext-TOTAL_FORMS": "0",
            "ext-INITIAL_FORMS": "0",
            "handle_logs-TOTAL_FORMS": "0",
            "handle_logs-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "alarm_status cannot go from RESOLVED back to NEW" in response.content.decode()
    assert AlarmEvent.objects.get(pk="AD-5").alarm_status == AlarmStatus.RESOLVED
    assert not AlarmHandleLog.objects.exists()


def test_staff_without_the_handle_permission_only_view(client: Client) -> None:
    make_alarm(alarm_id="AD-6")
    client.force_login(make_user("viewer", perms=("alarms.view_alarmevent",)))

    assert client.get(CHANGELIST).status_code == 200
    client.post(f"{CHANGELIST}AD-6/change/", {"handle_status": "HANDLED", "alarm_status": "NEW"})
    assert AlarmEvent.objects.get(pk="AD-6").handle_status == HandleStatus.UNHANDLED


def test_the_device_admin_lists_and_searches(admin_client_: Client) -> None:
    make_device("cam-01", name="East gate")
    make_device("cam-02", name="Warehouse")
    page = admin_client_.get("/admin/devices/edgedevice/?q=ware").content.decode()
    assert "cam-02" in page
    assert "cam-01" not in page


@pytest.mark.parametrize(
    ("query", "counted"),
    [
        ("", True),
        ("?handle_status__exact=HANDLED&alarm_level__exact=2", True),
        ("?device_id=cam-02&o=3", True),
        ("?event_time__gte=2026-11-21+00%3A00%3A00%2B08%3A00&event_time__lt=2026-11-22+00%3A00%3A00%2B08%3A00", True),
        ("?q=brigade", False),
        ("?source__exact=EDGE", False),
    ],
)
def test_the_alarm_list_total_comes_from_the_counts_where_it_can(
    admin_client_: Client, query: str, counted: bool
) -> None:
    make_device("cam-02", name="Warehouse")
    for number in range(12):
        make_alarm(
            device_id="cam-02" if number % 3 else "cam-01",
            alarm_level=1 + number % 2,
            event_time=aware("2026-11-20 22:00:00") + timedelta(hours=5 * number),
            handle_status=HandleStatus.HANDLED if number % 4 else HandleStatus.UNHANDLED,
            handle_remark="fire brigade" if number == 5 else "",
        )

    with CaptureQueriesContext(connection) as queries:
        response = admin_client_.get(CHANGELIST + query)

    assert response.status_code == 200
    changelist = response.context["cl"]
    assert changelist.result_count == changelist.queryset.count()
    counted_rows = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "alarms_alarmevent" in q["sql"]]
    assert bool(counted_rows) != counted, counted_rows
    assert "cam-02 (Warehouse)" in response.content.decode()  # the device filter offers registered boxes


def test_alarms_deleted_in_admin_leave_the_counts_and_their_days_metrics(admin_client_: Client) -> None:
    from alarms import counts, services
    from alarms.metrics import roll_up_day

    day = date(2026, 11, 20)
    for number in range(4):
        make_alarm(alarm_id=f"DEL-{number}", event_time=aware("2026-11-20 09:00:00"))
        services.handle_alarm(f"DEL-{number}", handle_status=HandleStatus.HANDLED, actor=services.Actor(name="li"))
    counts.fold()
    roll_up_day(day)

    admin_client_.post(f"{CHANGELIST}DEL-0/delete/", {"post": "yes"})
    assert not AlarmTimingDay.objects.get(day=day).fresh  # its rollup still counts DEL-0
    roll_up_day(day)
    admin_client_.post(CHANGELIST, {"action": "delete_selected", "_selected_action": ["DEL-1", "DEL-2"], "post": "yes"})
    assert not AlarmTimingDay.objects.get(day=day).fresh

    assert list(AlarmEvent.objects.values_list("alarm_id", flat=True)) == ["DEL-3"]
    assert list(AlarmTiming.objects.values_list("alarm_id", flat=True)) == ["DEL-3"]
    assert counts.total(counts.Scope()) == 1
    assert counts.reconcile() == {}


@pytest.mark.parametrize("column", range(len(AlarmEventAdmin.list_display) + 1))  # and the action checkbox
@pytest.mark.parametrize("sign", ["", "-"])
def test_every_sort_of_the_alarm_list_is_read_off_an_index(admin_client_: Client, column: int, sign: str) -> None:
    make_alarm(alarm_id="AD-1", device_id="cam-02", event_time=aware("2026-11-20 09:00:00"))
    make_alarm(alarm_id="AD-2", device_id="cam-01", event_time=aware("2026-11-21 09:00:00"))
    make_alarm(alarm_id="AD-3", device_id="cam-01", event_time=aware("2026-11-22 09:00:00"))
    response = admin_client_.get(CHANGELIST, {"o": f"{sign}{column}"})
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert read_off_an_index(AlarmEvent, changelist.queryset.query.order_by), changelist.queryset.query.order_by
    if changelist.list_display[column] == "device_id":
        shown = [alarm.alarm_id for alarm in changelist.result_list]
        assert shown == (["AD-2", "AD-3", "AD-1"] if not sign else ["AD-1", "AD-3", "AD-2"])
