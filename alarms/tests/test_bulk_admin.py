"""The triage actions of admin's alarm list: confirm, resolve, false alarm, assign; outcomes in the message."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from alarms.models import AlarmEvent, AlarmHandleLog, AlarmStatus
from alarms.tests.factories import make_alarm
from conftest import make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/alarms/alarmevent/"


@pytest.fixture
def staff(admin_user_obj: User) -> Client:
    client = Client()
    client.force_login(admin_user_obj)
    return client


def act(client: Client, action: str, ids: list[str], **more: str) -> Any:
    return client.post(CHANGELIST, {"action": action, "_selected_action": ids, **more}, follow=True)


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    ("action", "handle_status", "alarm_status"),
    [
        ("confirm_alarms", "HANDLING", "CONFIRMED"),
        ("resolve_alarms", "HANDLED", "RESOLVED"),
        ("ignore_alarms", "IGNORED", "CONFIRMED"),
    ],
)
def test_an_action_handles_the_selected_alarms_and_reports_each_outcome(
    staff: Client, action: str, handle_status: str, alarm_status: str
) -> None:
    make_alarm(alarm_id="AA-1")
    make_alarm(alarm_id="AA-2")

    response = act(staff, action, ["AA-1", "AA-2"])

    assert response.status_code == 200
    assert messages_of(response) == ["已更新：2 条（AA-1, AA-2）"]
    rows = set(AlarmEvent.objects.values_list("handle_status", "alarm_status", "handler"))
    assert rows == {(handle_status, alarm_status, "boss")}
    assert AlarmHandleLog.objects.count() == 2


def test_an_alarm_that_cannot_go_back_is_reported_by_id(staff: Client) -> None:
    make_alarm(alarm_id="AA-3")
    make_alarm(alarm_id="AA-4", alarm_status=AlarmStatus.RESOLVED)

    response = act(staff, "confirm_alarms", ["AA-3", "AA-4"])

    assert messages_of(response) == ["已更新：1 条（AA-3）；状态不可变更：1 条（AA-4）"]
    assert AlarmEvent.objects.get(pk="AA-4").handle_status == "UNHANDLED"


def test_assign_asks_whom_then_assigns(staff: Client) -> None:
    make_user("zhang")
    make_user("visitor", staff=False)
    make_alarm(alarm_id="AA-5")
    make_alarm(alarm_id="AA-6")

    page = staff.post(CHANGELIST, {"action": "assign_alarms", "_selected_action": ["AA-5", "AA-6"]})

    assert page.status_code == 200
    assert page.templates[0].name == "admin/alarms/assign.html"
    choices = [label for _, label in page.context["form"].fields["assignee"].choices]
    assert "zhang" in choices
    assert "visitor" not in choices
    zhang = User.objects.get(username="zhang")

    done = act(staff, "assign_alarms", ["AA-5", "AA-6"], confirmed="yes", assignee=str(zhang.pk))

    assert messages_of(done) == ["已更新：2 条（AA-5, AA-6）"]
    assert set(AlarmEvent.objects.values_list("assignee__username", flat=True)) == {"zhang"}
    change_page = staff.get(f"{CHANGELIST}AA-5/change/")
    assert "zhang" in change_page.content.decode()


def test_a_viewer_gets_no_triage_actions(admin_user_obj: User) -> None:
    make_alarm(alarm_id="AA-7")
    viewer = Client()
    viewer.force_login(make_user("viewer", perms=("alarms.view_alarmevent",)))

    listing = viewer.get(CHANGELIST)
    assert listing.status_code == 200
    assert "confirm_alarms" not in listing.content.decode()
    act(viewer, "confirm_alarms", ["AA-7"])
    assert AlarmEvent.objects.get(pk="AA-7").handle_status == "UNHANDLED"


def test_the_list_offers_the_triage_actions_beside_the_analysis_one(staff: Client) -> None:
    make_alarm(alarm_id="AA-8")
    page = staff.get(CHANGELIST).content.decode()
    for action in ("confirm_alarms", "resolve_alarms", "ignore_alarms", "assign_alarms", "request_analyses"):
        assert f'value="{action}"' in page


def test_a_selection_over_the_limit_is_refused(staff: Client, settings: Any) -> None:
    settings.BULK_HANDLE_MAX_IDS = 2
    for number in range(3):
        make_alarm(alarm_id=f"AA-L{number}")

    response = act(staff, "resolve_alarms", ["AA-L0", "AA-L1", "AA-L2"])

    assert "每次操作最多 2 条告警" in messages_of(response)[0]
    assert set(AlarmEvent.objects.values_list("handle_status", flat=True)) == {"UNHANDLED"}
