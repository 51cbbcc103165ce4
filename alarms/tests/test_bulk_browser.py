"""Bulk triage in admin's alarm list, in headless Chromium: select rows, run an action, read the outcomes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import global_settings
from playwright.sync_api import Page, expect

from alarms.models import AlarmStatus
from alarms.tests.factories import make_alarm
from conftest import chromium_page, make_user
from vsp.browser import CHROMIUM

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is installed by make's setup"
    ),
]


@pytest.fixture
def triage(server: str, settings: Any) -> None:
    # Before the browser starts: Playwright's sync API runs an event loop, where the ORM refuses to run.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the server checks with the real hashers
    make_user("duty", superuser=True)
    make_user("zhang")
    make_alarm(alarm_id="BR-1")
    make_alarm(alarm_id="BR-2")
    make_alarm(alarm_id="BR-3", alarm_status=AlarmStatus.RESOLVED)


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page() as page:
        yield page


def open_the_alarm_list(server: str, page: Page) -> None:
    page.goto(f"{server}/admin/login/?next=/admin/alarms/alarmevent/")
    page.fill("#id_username", "duty")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server}/admin/alarms/alarmevent/")


def run_action(page: Page, action: str, *alarm_ids: str) -> None:
    for alarm_id in alarm_ids:
        page.check(f"input.action-select[value='{alarm_id}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def row(page: Page, alarm_id: str) -> Any:
    return page.locator("#result_list tr", has=page.locator(f"input.action-select[value='{alarm_id}']"))


@pytest.mark.usefixtures("triage")
def test_confirming_selected_alarms_reports_each_outcome(server: str, page: Page) -> None:
    open_the_alarm_list(server, page)

    run_action(page, "confirm_alarms", "BR-1", "BR-3")

    message = page.locator("ul.messagelist li")
    expect(message).to_have_text("已更新：1 条（BR-1）；状态不可变更：1 条（BR-3）")
    expect(row(page, "BR-1")).to_contain_text("处理中")  # "Handling"
    expect(row(page, "BR-3")).to_contain_text("未处理")  # "Unhandled"


@pytest.mark.usefixtures("triage")
def test_assigning_goes_through_a_page_to_pick_the_staff_member(server: str, page: Page) -> None:
    open_the_alarm_list(server, page)

    run_action(page, "assign_alarms", "BR-1", "BR-2")
    expect(page.locator("h1")).to_have_text("指派告警")
    page.select_option("#id_assignee", label="zhang")
    page.click("input[type=submit][value='指派']")

    expect(page.locator("ul.messagelist li")).to_have_text("已更新：2 条（BR-1, BR-2）")
    page.goto(f"{server}/admin/alarms/alarmevent/BR-1/change/")
    expect(page.locator("body")).to_contain_text("zhang")
