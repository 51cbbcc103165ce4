"""The native staff API for alarms: /api/v1/alerts/."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alarms import counts
from alarms.filters import AlarmEventFilterSet
from alarms.models import AlarmEvent, AlarmHandleLog, AlarmSource, AlarmStatus, HandleStatus
from alarms.tests.factories import aware, make_alarm, make_device
from alarms.tests.indexes import read_off_an_index
from conftest import make_user

pytestmark = pytest.mark.django_db

LIST = "/api/v1/alerts/"


def ids(response: Any) -> list[str]:
    return [row["alarm_id"] for row in response.json()["results"]]


# --- who may call -------------------------------------------------------------


def test_anonymous_callers_are_refused_with_401(api_client: APIClient) -> None:
    response = api_client.get(LIST)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_logged_in_non_staff_user_is_refused_with_403(api_client: APIClient) -> None:
    api_client.force_login(make_user("visitor", staff=False))
    assert api_client.get(LIST).status_code == 403


def test_staff_without_the_view_permission_are_refused(api_client: APIClient) -> None:
    api_client.force_login(make_user("newbie"))
    assert api_client.get(LIST).status_code == 403
    assert api_client.get(f"{LIST}statistics/").status_code == 403


def test_staff_read_with_a_token(api_client: APIClient) -> None:
    user = make_user("reader", perms=("alarms.view_alarmevent",))
    make_alarm(alarm_id="TOK-1")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    assert ids(api_client.get(LIST)) == ["TOK-1"]


def test_handling_needs_the_handle_permission(api_client: APIClient) -> None:
    make_alarm(alarm_id="P-1")
    api_client.force_login(make_user("reader", perms=("alarms.view_alarmevent",)))

    response = api_client.post(f"{LIST}P-1/handle/", {"handle_status": "HANDLED"}, format="json")

    assert response.status_code == 403
    assert AlarmEvent.objects.get(pk="P-1").handle_status == HandleStatus.UNHANDLED


def test_creating_needs_the_add_permission(api_client: APIClient) -> None:
    api_client.force_login(make_user("reader", perms=("alarms.view_alarmevent",)))
    response = api_client.post(LIST, {"alarm_type": "smoke", "device_id": "cam-01"}, format="json")
    assert response.status_code == 403


# --- list, filters, ordering, pagination ----------------------------------------


def test_the_list_is_newest_first_with_device_names(staff_client: APIClient) -> None:
    make_device("cam-01", name="East gate")
    make_alarm(alarm_id="OLD", event_time=aware("2026-11-01 08:00:00"))
    make_alarm(alarm_id="NEW", event_time=aware("2026-11-02 08:00:00"))
    make_alarm(alarm_id="ORPHAN", device_id="cam-gone", event_time=aware("2026-11-03 08:00:00"))

    response = staff_client.get(LIST)

    assert response.status_code == 200
    assert ids(response) == ["ORPHAN", "NEW", "OLD"]
    rows = {row["alarm_id"]: row for row in response.json()["results"]}
    assert rows["NEW"]["device_name"] == "East gate"
    assert rows["ORPHAN"]["device_name"] is None
    assert rows["NEW"]["event_time"] == "2026-11-02T08:00:00+08:00"


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
        handle_remark="fire brigade notified",
    )
    make_alarm(
        alarm_id="A3",
        alarm_type="smoke",
        device_id="cam-01",
        scene_id="gate",
        alarm_level=3,
        event_time=aware("2026-11-22 09:00:00"),
        alarm_status=AlarmStatus.RESOLVED,
        handle_status=HandleStatus.HANDLED,
    )
    make_alarm(
        alarm_id="A4",
        alarm_type="no_helmet",
        device_id="cam-02",
        scene_id="store",
        alarm_level=4,
        event_time=aware("2026-11-23 09:00:00"),
        handle_status=HandleStatus.IGNORED,
    )


@pytest.mark.usefixtures("known_alarms")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("alarm_type=smoke", ["A3", "A2"]),
        ("device_id=cam-01", ["A3", "A1"]),
        ("scene_id=store", ["A4", "A2"]),
        ("alarm_level=1", ["A1"]),
        ("alarm_status=CONFIRMED", ["A2"]),
        ("handle_status=IGNORED", ["A4"]),
        ("event_time_after=2026-11-21T09:00:00%2B08:00", ["A4", "A3", "A2"]),
        ("event_time_before=2026-11-21 09:00:00", ["A2", "A1"]),
        ("event_time_after=2026-11-21 00:00:00&event_time_before=2026-11-22 23:59:59", ["A3", "A2"]),
        # A date is a whole day in TIME_ZONE: as an upper bound it includes that day.
        ("event_time_after=2026-11-21&event_time_before=2026-11-22", ["A3", "A2"]),
        ("event_time_before=2026-11-21", ["A2", "A1"]),
        ("event_time_after=2026-11-23", ["A4"]),
        ("q=brigade", ["A2"]),
        ("q=cam-02", ["A4", "A2"]),
        ("q=a1", ["A1"]),
        ("alarm_type=smoke&device_id=cam-02", ["A2"]),
        ("ordering=event_time", ["A1", "A2", "A3", "A4"]),
        ("ordering=alarm_level", ["A1", "A2", "A3", "A4"]),
        ("ordering=-alarm_level", ["A4", "A3", "A2", "A1"]),
        ("ordering=device_id,-event_time", ["A3", "A1", "A4", "A2"]),
        # One field's ties go on by the time its index holds next, in the same direction.
        ("ordering=device_id", ["A1", "A3", "A2", "A4"]),
        ("ordering=-device_id", ["A4", "A2", "A3", "A1"]),
    ],
)
def test_list_filters_and_ordering(staff_client: APIClient, query: str, expected: list[str]) -> None:
    response = staff_client.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.json()
    assert ids(response) == expected
    assert response.json()["count"] == len(expected)


@pytest.mark.parametrize("field", AlarmEventFilterSet.base_filters["ordering"].param_map)
@pytest.mark.parametrize("sign", ["", "-"])
def test_every_sort_of_the_list_is_read_off_an_index(field: str, sign: str) -> None:
    alarms = AlarmEventFilterSet({"ordering": sign + field}, queryset=AlarmEvent.objects.all()).qs
    assert read_off_an_index(AlarmEvent, alarms.query.order_by), alarms.query.order_by


@pytest.mark.usefixtures("known_alarms")
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("alarm_level=9", "alarm_level"),
        ("alarm_status=DONE", "alarm_status"),
        ("handle_status=x", "handle_status"),
        ("event_time_after=tuesday", "event_time_after"),
        ("event_time_before=2026-02-30", "event_time_before"),
        ("created_before=100%25", "created_before"),  # a "%" in the quoted value once answered 500
        ("ordering=snapshot_url", "ordering"),
    ],
)
def test_bad_filters_are_refused_naming_the_parameter(staff_client: APIClient, query: str, field: str) -> None:
    response = staff_client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("page_size=201", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=-3", "page_size"),
        ("page_size=ten", "page_size"),
        ("page_size=", "page_size"),
        ("page=0", "page"),
        ("page=last", "page"),
        ("page=", "page"),
        ("page=1.5", "page"),
    ],
)
def test_a_bad_page_or_page_size_is_refused_naming_it(staff_client: APIClient, query: str, name: str) -> None:
    response = staff_client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_pagination_is_bounded(staff_client: APIClient, settings: Any) -> None:
    stored = AlarmEvent.objects.bulk_create(
        AlarmEvent(
            alarm_id=f"PG-{n:03d}", alarm_type="smoke", device_id="cam-01", event_time=aware("2026-11-01 00:00:00")
        )
        for n in range(205)
    )
    counts.add_alarms(counts.Counted.of(alarm) for alarm in stored)  # the total comes from the counts

    default = staff_client.get(LIST).json()
    assert (default["count"], len(default["results"])) == (205, 20)
    assert len(staff_client.get(f"{LIST}?page_size=50").json()["results"]) == 50
    assert len(staff_client.get(f"{LIST}?page_size=200").json()["results"]) == 200
    assert len(staff_client.get(f"{LIST}?page=11").json()["results"]) == 5
    assert staff_client.get(f"{LIST}?page=12").status_code == 404
    pages = [ids(staff_client.get(f"{LIST}?page={page}&page_size=100")) for page in (1, 2, 3)]
    seen = [alarm_id for page in pages for alarm_id in page]
    assert len(seen) == len(set(seen)) == 205


def test_the_list_costs_a_fixed_number_of_queries(staff_client: APIClient, django_assert_max_num_queries: Any) -> None:
    for number in range(30):
        make_device(f"cam-{number}", name=f"Camera {number}")
        make_alarm(device_id=f"cam-{number}", ext_data={"n": number})
    # session + user lookups, the total (the counts and their unfolded changes), page
    with django_assert_max_num_queries(5):
        response = staff_client.get(f"{LIST}?page_size=30")
    assert len(response.json()["results"]) == 30


# --- detail -------------------------------------------------------------------


def test_the_detail_carries_ext_data_and_the_handling_log(staff_client: APIClient, admin_user_obj: User) -> None:
    make_alarm(alarm_id="D-1", ext_data={"bbox": [1, 2, 3, 4]})
    staff_client.post("/api/v1/alerts/D-1/handle/", {"handle_status": "HANDLING", "remark": "on my way"}, format="json")

    body = staff_client.get("/api/v1/alerts/D-1/").json()

    assert body["ext_data"] == {"bbox": [1, 2, 3, 4]}
    assert [
        (log["actor_name"], log["from_handle_status"], log["to_handle_status"], log["remark"])
        for log in body["handle_logs"]
    ] == [("boss", "UNHANDLED", "HANDLING", "on my way")]


def test_ids_with_dots_and_colons_resolve(staff_client: APIClient) -> None:
    make_alarm(alarm_id="box-7:2026.11.27_01")
    assert staff_client.get("/api/v1/alerts/box-7:2026.11.27_01/").status_code == 200


def test_an_unknown_alarm_is_404(staff_client: APIClient) -> None:
    assert staff_client.get("/api/v1/alerts/nope/").status_code == 404
    assert (
        staff_client.post("/api/v1/alerts/nope/handle/", {"handle_status": "HANDLED"}, format="json").status_code == 404
    )


def test_the_detail_costs_a_fixed_number_of_queries(
    staff_client: APIClient, django_assert_max_num_queries: Any
) -> None:
    alarm = make_alarm(ext_data={"a": 1})
    for _ in range(5):
        staff_client.post(f"/api/v1/alerts/{alarm.pk}/handle/", {"handle_status": "HANDLING"}, format="json")
    with django_assert_max_num_queries(4):
        assert len(staff_client.get(f"/api/v1/alerts/{alarm.pk}/").json()["handle_logs"]) == 5


# --- staff create and handle -----------------------------------------------------


def test_staff_create_an_alarm_by_hand_and_it_gets_an_alt_id(staff_client: APIClient) -> None:
    response = staff_client.post(
        LIST,
        {"alarm_type": "smoke", "device_id": "cam-09", "alarm_level": 1, "ext_data": {"note": "seen on patrol"}},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert re.fullmatch(r"ALT\d{14}[0-9A-F]{8}", body["alarm_id"])
    assert body["source"] == AlarmSource.MANUAL
    assert body["ext_data"] == {"note": "seen on patrol"}
    assert AlarmEvent.objects.get(pk=body["alarm_id"]).alarm_level == 1


def test_a_bad_manual_alarm_is_refused_naming_the_field(staff_client: APIClient) -> None:
    response = staff_client.post(LIST, {"alarm_type": "smoke", "alarm_level": 7}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"device_id", "alarm_level"}
    assert AlarmEvent.objects.count() == 0


def test_manual_alarm_text_is_as_strict_as_the_edge_s(staff_client: APIClient) -> None:
    response = staff_client.post(LIST, {"alarm_type": 5, "device_id": "cam\x00", "scene_id": ["a"]}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"alarm_type", "device_id", "scene_id"}
    assert AlarmEvent.objects.count() == 0


def test_a_remark_keeps_its_line_breaks(staff_client: APIClient) -> None:
    make_alarm(alarm_id="H-9")
    remark = "gate closed\n\tguard on site"
    response = staff_client.post(
        "/api/v1/alerts/H-9/handle/", {"handle_status": "HANDLED", "remark": remark}, format="json"
    )
    assert response.status_code == 200
    assert AlarmEvent.objects.get(pk="H-9").handle_remark == remark


def test_handling_records_who_and_when_and_acknowledges_a_new_alarm(staff_client: APIClient) -> None:
    make_alarm(alarm_id="H-1")

    response = staff_client.post(
        "/api/v1/alerts/H-1/handle/", {"handle_status": "HANDLED", "remark": "checked on camera"}, format="json"
    )

    assert response.status_code == 200
    alarm = AlarmEvent.objects.get(pk="H-1")
    assert (alarm.handle_status, alarm.alarm_status, alarm.handler, alarm.handle_remark) == (
        HandleStatus.HANDLED,
        AlarmStatus.CONFIRMED,
        "boss",
        "checked on camera",
    )
    assert alarm.handle_time is not None
    log = AlarmHandleLog.objects.get(alarm=alarm)
    assert log.actor is not None
    assert (log.from_alarm_status, log.to_alarm_status, log.actor.username) == ("NEW", "CONFIRMED", "boss")


def test_handling_can_resolve_but_never_move_the_alarm_status_back(staff_client: APIClient) -> None:
    make_alarm(alarm_id="H-2", alarm_status=AlarmStatus.RESOLVED)

    back = staff_client.post(
        "/api/v1/alerts/H-2/handle/", {"handle_status": "HANDLED", "alarm_status": "CONFIRMED"}, format="json"
    )
    forward = staff_client.post(
        "/api/v1/alerts/H-2/handle/", {"handle_status": "HANDLED", "alarm_status": "RESOLVED"}, format="json"
    )

    assert back.status_code == 409
    assert back.json() == {"detail": "alarm_status cannot go from RESOLVED back to CONFIRMED"}
    assert forward.status_code == 200
    assert AlarmHandleLog.objects.filter(alarm_id="H-2").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "handle_status"),
        ({"handle_status": "DONE"}, "handle_status"),
        ({"handle_status": "HANDLED", "alarm_status": "OPEN"}, "alarm_status"),
        ({"handle_status": "HANDLED", "remark": "x" * 2001}, "remark"),
        ({"handle_status": "HANDLED", "remark": 5}, "remark"),
        ({"handle_status": "HANDLED", "remark": "bell\x07"}, "remark"),
    ],
)
def test_bad_handle_input_is_refused_naming_the_field(
    staff_client: APIClient, body: dict[str, Any], field: str
) -> None:
    make_alarm(alarm_id="H-3")
    response = staff_client.post("/api/v1/alerts/H-3/handle/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not AlarmHandleLog.objects.exists()


def test_deep_pages_are_the_rows_plain_offsets_give(staff_client: APIClient, settings: Any) -> None:
    settings.PAGE_DEFERRED_JOIN_FROM = 0  # every page by the deferred join
    make_device("cam-named", name="Named")
    same_time = aware("2026-11-10 08:00:00")
    for number in range(23):  # ties on event_time, broken by alarm id, across page boundaries
        make_alarm(
            alarm_id=f"DJ-{number:02d}", device_id="cam-named", event_time=same_time - timedelta(hours=number // 4)
        )
    expected = list(AlarmEvent.objects.order_by("-event_time", "-alarm_id").values_list("alarm_id", flat=True))

    pages = [staff_client.get(f"{LIST}?page={page}&page_size=5").json()["results"] for page in range(1, 6)]

    assert [row["alarm_id"] for page in pages for row in page] == expected
    assert {row["device_name"] for page in pages for row in page} == {"Named"}


def test_cursor_paging_walks_every_alarm_once_newest_first(staff_client: APIClient) -> None:
    moments = [aware("2026-11-20 08:00:00") + timedelta(minutes=number // 3) for number in range(45)]  # ties
    for number, moment in enumerate(moments):
        make_alarm(alarm_id=f"CUR-{number:02d}", event_time=moment)
    expected = list(AlarmEvent.objects.order_by("-event_time", "-alarm_id").values_list("alarm_id", flat=True))

    seen, url, pages = [], f"{LIST}?cursor=&page_size=10", []
    while url:
        body = staff_client.get(url).json()
        assert body["count"] == 45
        pages.append(body)
        seen += [alarm["alarm_id"] for alarm in body["results"]]
        url = body["next"]
    assert seen == expected
    assert len(pages) == 5
    assert pages[0]["previous"] is None
    back = staff_client.get(pages[2]["previous"]).json()
    assert [alarm["alarm_id"] for alarm in back["results"]] == expected[10:20]
    filtered = staff_client.get(f"{LIST}?cursor=&page_size=10&event_time_before=2026-11-20 08:05:00").json()
    assert filtered["count"] == 18
    assert filtered["results"][0]["alarm_id"] == "CUR-17"


@pytest.mark.parametrize("query", ["cursor=bm9wZQ", "cursor=%%%", "cursor=&page=2", "cursor=&ordering=alarm_level"])
def test_a_bad_cursor_or_combination_is_a_400_naming_it(staff_client: APIClient, query: str) -> None:
    response = staff_client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert "cursor" in response.json()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("created_after=2026-11-20 10:00:00&created_before=2026-11-21", ["ST-2", "ST-3"]),
        ("created_after=2026-11-21", ["ST-3", "ST-4"]),
        ("created_before=2026-11-20 09:59:59", ["ST-1"]),
        ("created_after=2026-11-20&device_id=cam-02", ["ST-2"]),
    ],
)
def test_the_stored_time_range_filters(staff_client: APIClient, query: str, expected: list[str]) -> None:
    for number, (stored, device_id) in enumerate(
        [
            ("2026-11-20 09:00:00", "cam-01"),
            ("2026-11-20 10:00:00", "cam-02"),
            ("2026-11-21 23:59:59", "cam-01"),
            ("2026-11-22 00:00:00", "cam-01"),
        ],
        start=1,
    ):
        # Event times run the other way, so that the stored-time filter is seen not to follow them.
        alarm = make_alarm(alarm_id=f"ST-{number}", device_id=device_id, event_time=aware("2026-11-25 12:00:00")
                           - timedelta(hours=number))  # fmt: skip
        AlarmEvent.objects.filter(pk=alarm.pk).update(created_at=aware(stored))
    response = staff_client.get(f"{LIST}?{query}")
    assert ids(response) == expected
    assert response.json()["count"] == len(expected)
