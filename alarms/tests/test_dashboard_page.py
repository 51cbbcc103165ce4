"""The staff dashboard in headless Chromium: reached from admin's index, it draws its charts and figures and
redraws them when an alarm is reported while it is open."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.conf import global_settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from alarms.tests.factories import make_alarm, make_device, report_payload
from conftest import chromium_page, make_user
from devices.models import EdgeDevice
from vsp.browser import CHROMIUM

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is installed by make's setup"
    ),
]


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page(viewport={"width": 1366, "height": 768}) as page:
        yield page


@pytest.fixture
def watcher(server: str, settings: Any) -> None:
    # Before the browser starts: Playwright's sync API runs an event loop, where the ORM refuses to run.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    make_user("watcher", superuser=True)
    make_device("cam-09", name="North gate", status=EdgeDevice.Status.ONLINE)
    make_device("cam-10", name="Boiler room", status=EdgeDevice.Status.OFFLINE)
    make_alarm(alarm_id="TODAY-1", alarm_type="smoke", device_id="cam-09", alarm_level=1)


@pytest.mark.usefixtures("watcher")
def test_the_dashboard_draws_its_charts_and_follows_new_alarms(server: str, page: Page) -> None:
    page.goto(f"{server}/admin/login/?next=/admin/")
    page.fill("#id_username", "watcher")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.click("#console-links a[href='/dashboard/']")
    page.wait_for_url(f"{server}/dashboard/")
    expect(page.locator("#dash-status")).to_have_text("实时", timeout=10_000)
    expect(page.locator("#fig-today")).to_have_text("1")
    expect(page.locator("#fig-week")).to_have_text("近 7 天 1 条")  # the template's words, filled in
    expect(page.locator("#fig-backlog-oldest")).to_have_text(re.compile(r"^\d+ 秒$|^\d+ 分 \d+ 秒$"))
    expect(page.locator("#fig-unhandled")).to_have_text("1")
    expect(page.locator("#fig-offline")).to_have_text("1")
    expect(page.locator("#offline-table")).to_contain_text("Boiler room")
    for chart in ("chart-level", "chart-type", "chart-devices"):
        expect(page.locator(f"canvas#{chart}")).to_be_visible()
    drawn = page.evaluate("() => ['chart-level', 'chart-type', 'chart-devices'].map((id) => Chart.getChart(id).data)")
    assert [dataset["data"][-1] for dataset in drawn[0]["datasets"]] == [1, 0, 0, 0]  # today, by level
    assert drawn[2]["labels"] == ["North gate"]

    now = timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")
    payload = report_payload(
        alarm_id="DASH:1", device_id="cam-09", alarm_level=2, alarm_type="intrusion", event_time=now
    )
    response = httpx.post(f"{server}/api/ai/alert/edge/report", json=payload, timeout=10)
    assert response.json()["data"]["created"] is True

    expect(page.locator("#fig-today")).to_have_text("2", timeout=10_000)
    expect(page.locator("#fig-unhandled")).to_have_text("2")
    level_today = page.evaluate("() => Chart.getChart('chart-level').data.datasets.map((d) => d.data.at(-1))")
    assert level_today == [1, 1, 0, 0]
    types = page.evaluate("() => Chart.getChart('chart-type').data.datasets.map((d) => d.label)")
    assert len(types) == 2


def test_the_dashboard_needs_a_staff_login(server: str, page: Page) -> None:
    page.goto(f"{server}/dashboard/")
    assert "/admin/login/" in page.url
