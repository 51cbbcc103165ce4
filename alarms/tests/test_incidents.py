"""Storm grouping: alarms of one (device, scene, type) close together join one incident; every row stays."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from alarms import services
from alarms.models import AlarmEvent, HandleStatus, Incident
from alarms.tests.factories import aware
from conftest import make_user

pytestmark = pytest.mark.django_db

START = aware("2026-12-03 08:00:00")


def report(alarm_id: str, at: datetime = START, **fields: Any) -> services.ReportResult:
    values: dict[str, Any] = {"alarm_type": "no_helmet", "device_id": "cam-7", "scene_id": "gate", "alarm_level": 3}
    values.update(fields)
    return services.report_alarm(services.AlarmReport(alarm_id=alarm_id, event_time=at, **values))


def incident_of(alarm_id: str) -> Incident:
    incident = AlarmEvent.objects.get(pk=alarm_id).incident
    assert incident is not None
    return incident


@pytest.fixture
def boss() -> User:
    return make_user("boss", superuser=True)


@pytest.fixture
def client(boss: User) -> APIClient:
    client = APIClient()
    client.force_login(boss)
    return client


# --- grouping ---------------------------------------------------------------------------------


def test_alarms_of_one_key_within_the_window_join_one_incident(settings: Any) -> None:
    settings.INCIDENT_WINDOW = 600
    report("I-1", START, alarm_level=3)
    report("I-2", START + timedelta(minutes=9), alarm_level=1)
    report("I-3", START + timedelta(minutes=18), alarm_level=2)  # 9 min after the last: still the storm

    incident = incident_of("I-1")
    assert incident == incident_of("I-2") == incident_of("I-3")
    assert (incident.count, incident.first_time, incident.last_time) == (3, START, START + timedelta(minutes=18))
    assert (incident.highest_level, incident.status) == (1, "OPEN")
    assert (incident.device_id, incident.scene_id, incident.alarm_type) == ("cam-7", "gate", "no_helmet")
    assert AlarmEvent.objects.count() == 3  # every alarm keeps its row


def test_another_scene_type_or_device_is_another_incident() -> None:
    report("I-4")
    report("I-5", scene_id="yard")
    report("I-6", alarm_type="smoke")
    report("I-7", device_id="cam-8")
    assert len({incident_of(alarm_id).pk for alarm_id in ("I-4", "I-5", "I-6", "I-7")}) == 4


def test_an_alarm_after_the_window_starts_a_new_incident_and_the_old_one_stays(settings: Any) -> None:
    settings.INCIDENT_WINDOW = 600
    report("I-8", START)
    report("I-9", START + timedelta(minutes=5))
    report("I-10", START + timedelta(minutes=16))  # 11 min of quiet: a new event

    old, new = incident_of("I-8"), incident_of("I-10")
    assert old != new
    assert (old.count, old.last_time, old.current_key) == (2, START + timedelta(minutes=5), None)
    assert (new.count, new.first_time, new.current_key is not None) == (1, START + timedelta(minutes=16), True)
    report("I-11", START + timedelta(minutes=20))
    assert incident_of("I-11") == new


def test_a_repeated_report_is_not_counted_again() -> None:
    report("I-12")
    services._stored_recently.clear()  # as another process would see it: through the database
    assert report("I-12").created is False
    assert incident_of("I-12").count == 1


def test_grouping_off_leaves_alarms_without_an_incident(settings: Any) -> None:
    settings.INCIDENT_WINDOW = 0
    report("I-13")
    assert AlarmEvent.objects.get(pk="I-13").incident is None
    assert not Incident.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_48_concurrent_reports_of_one_key_make_one_incident_of_48() -> None:
    reporters = 48
    ready = threading.Barrier(reporters)
    errors: list[BaseException] = []

    def one(number: int) -> None:
        try:
            ready.wait(timeout=30)
            report(f"I-C{number:02d}", START + timedelta(seconds=number % 7), alarm_level=1 + number % 4)
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(number,)) for number in range(reporters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    incident = Incident.objects.get()
    assert (incident.count, incident.highest_level) == (48, 1)
    assert (incident.first_time, incident.last_time) == (START, START + timedelta(seconds=6))
    assert AlarmEvent.objects.filter(incident=incident).count() == 48


# --- status and triage ------------------------------------------------------------------------


def test_an_incident_is_open_while_any_alarm_is_unhandled(boss: User) -> None:
    report("I-14")
    report("I-15")
    actor = services.Actor.of(boss)
    services.handle_alarm("I-14", handle_status=HandleStatus.HANDLED, actor=actor)
    assert incident_of("I-14").status == "OPEN"
    services.bulk_handle(["I-15"], handle_status=HandleStatus.IGNORED, actor=actor)
    assert incident_of("I-14").status == "HANDLED"
    report("I-16")
    assert (incident_of("I-16").status, incident_of("I-16").count) == ("OPEN", 3)


def test_an_incident_is_triaged_as_a_whole_with_an_outcome_per_open_alarm(client: APIClient, boss: User) -> None:
    for number in range(3):
        report(f"I-T{number}")
    services.handle_alarm("I-T0", handle_status=HandleStatus.HANDLED, actor=services.Actor.of(boss))
    incident = incident_of("I-T0")

    response = client.post(
        f"/api/v1/incidents/{incident.pk}/handle/",
        {"handle_status": "IGNORED", "remark": "camera glare"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"results": {"I-T1": "updated", "I-T2": "updated"}}
    handled = dict(AlarmEvent.objects.values_list("alarm_id", "handle_status"))
    assert handled == {"I-T0": "HANDLED", "I-T1": "IGNORED", "I-T2": "IGNORED"}
    assert Incident.objects.get(pk=incident.pk).status == "HANDLED"


def test_incident_triage_in_batches_past_the_limit(client: APIClient, settings: Any) -> None:
    settings.BULK_HANDLE_MAX_IDS = 2
    for number in range(5):
        report(f"I-B{number}")
    response = client.post(
        f"/api/v1/incidents/{incident_of('I-B0').pk}/handle/", {"handle_status": "HANDLED"}, format="json"
    )
    assert set(response.json()["results"].values()) == {"updated"}
    assert len(response.json()["results"]) == 5


def test_triage_of_an_unknown_incident_or_with_bad_input(client: APIClient) -> None:
    report("I-17")
    incident = incident_of("I-17")
    assert (
        client.post("/api/v1/incidents/999999/handle/", {"handle_status": "HANDLED"}, format="json").status_code == 404
    )
    bad = client.post(f"/api/v1/incidents/{incident.pk}/handle/", {"handle_status": "DONE"}, format="json")
    assert (bad.status_code, list(bad.json())) == (400, ["handle_status"])


def test_a_viewer_triaging_an_incident_is_answered_forbidden_per_alarm() -> None:
    report("I-18")
    viewer = APIClient()
    viewer.force_login(make_user("viewer", perms=("alarms.view_alarmevent",)))
    response = viewer.post(
        f"/api/v1/incidents/{incident_of('I-18').pk}/handle/", {"handle_status": "HANDLED"}, format="json"
    )
    assert response.json() == {"results": {"I-18": "forbidden"}}


# --- lists ------------------------------------------------------------------------------------


def test_the_incident_list_filters_and_the_alarm_list_shows_an_incident_s_alarms(client: APIClient) -> None:
    report("I-L1", alarm_level=2)
    report("I-L2")
    report("I-L3", device_id="cam-8")
    storm = incident_of("I-L1")

    listed = client.get("/api/v1/incidents/", {"device_id": "cam-7"}).json()
    assert [(row["id"], row["count"], row["highest_level"]) for row in listed["results"]] == [(storm.pk, 2, 2)]
    assert client.get("/api/v1/incidents/", {"status": "HANDLED"}).json()["count"] == 0
    assert client.get("/api/v1/incidents/").json()["count"] == 2
    one = client.get(f"/api/v1/incidents/{storm.pk}/").json()
    assert (one["alarm_type"], one["scene_id"], one["status"]) == ("no_helmet", "gate", "OPEN")

    alarms = client.get("/api/v1/alerts/", {"incident": storm.pk}).json()["results"]
    assert sorted(row["alarm_id"] for row in alarms) == ["I-L1", "I-L2"]
    assert {(row["incident_id"], row["incident_count"]) for row in alarms} == {(storm.pk, 2)}


def test_the_incident_list_refuses_bad_filters(client: APIClient) -> None:
    response = client.get("/api/v1/incidents/", {"highest_level": 9})
    assert (response.status_code, list(response.json())) == (400, ["highest_level"])


def test_the_compat_alarm_carries_its_incident(boss: User) -> None:
    from vsp.tests.compat_client import Frontend

    report("I-P1")
    report("I-P2")
    tab = Frontend()
    tab.login("boss")
    rows = tab.get("/aiot/alarm/event/page").json()["data"]["list"]
    assert {(row["incidentId"], row["incidentCount"]) for row in rows} == {(incident_of("I-P1").pk, 2)}


# --- admin ------------------------------------------------------------------------------------


def test_the_incident_admin_lists_and_triages_open_alarms(admin_user_obj: User) -> None:
    report("I-A1")
    report("I-A2")
    incident = incident_of("I-A1")
    staff = Client()
    staff.force_login(admin_user_obj)

    page = staff.get("/admin/alarms/incident/").content.decode()
    assert "no_helmet" in page
    assert f"?incident={incident.pk}" in page  # the link to its alarms
    alarms_page = staff.get(f"/admin/alarms/alarmevent/?incident={incident.pk}")
    assert alarms_page.status_code == 200
    assert "I-A1" in alarms_page.content.decode()

    done = staff.post(
        "/admin/alarms/incident/", {"action": "resolve_incidents", "_selected_action": [incident.pk]}, follow=True
    )
    assert [str(message) for message in done.context["messages"]] == ["已更新：2 条（I-A1, I-A2）"]
    assert set(AlarmEvent.objects.values_list("handle_status", flat=True)) == {"HANDLED"}
    assert Incident.objects.get().status == "HANDLED"


def test_the_incident_admin_assigns_its_open_alarms(admin_user_obj: User) -> None:
    zhang = make_user("zhang")
    report("I-A3")
    incident = incident_of("I-A3")
    staff = Client()
    staff.force_login(admin_user_obj)

    asked = staff.post("/admin/alarms/incident/", {"action": "assign_incidents", "_selected_action": [incident.pk]})
    assert asked.templates[0].name == "admin/alarms/assign.html"
    staff.post(
        "/admin/alarms/incident/",
        {"action": "assign_incidents", "_selected_action": [incident.pk], "confirmed": "yes", "assignee": zhang.pk},
    )
    assert AlarmEvent.objects.get(pk="I-A3").assignee == zhang


def test_an_alarm_entered_by_staff_groups_like_a_reported_one() -> None:
    first = services.create_manual_alarm({"alarm_type": "smoke", "device_id": "cam-9"}, now=timezone.now())
    second = services.create_manual_alarm({"alarm_type": "smoke", "device_id": "cam-9"}, now=timezone.now())
    assert incident_of(first) == incident_of(second)
    assert incident_of(first).count == 2


def test_each_alarm_s_created_event_carries_the_incident_and_its_count_so_far() -> None:
    import json

    from vsp.models import DashboardEvent

    for number in range(3):
        report(f"I-E{number}", START + timedelta(minutes=number))
    created = [
        json.loads(data)
        for data in DashboardEvent.objects.filter(type="alarm.created").order_by("seq").values_list("data", flat=True)
    ]
    incident = incident_of("I-E0")
    assert [(event["alarmId"], event["incidentId"], event["incidentCount"]) for event in created] == [
        ("I-E0", incident.pk, 1),
        ("I-E1", incident.pk, 2),
        ("I-E2", incident.pk, 3),
    ]
