"""The live alarm page in headless Chromium: log in, open /live/, see a reported alarm appear without reload."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.conf import global_settings
from django.db import connections
from playwright.sync_api import Page, expect

from alarms.tests.factories import lost_event, make_alarm, make_device, report_payload
from conftest import chromium_page, make_user
from vsp.browser import CHROMIUM

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is installed by make's setup"
    ),
]


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page() as page:
        yield page


@pytest.fixture
def watcher(server: str, settings: Any) -> None:
    # Before the browser starts: Playwright's sync API runs an event loop, where the ORM refuses to run.
    # The server process checks passwords with the real hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    make_user("watcher", superuser=True)
    make_device("cam-09", name="North gate")
    make_alarm(alarm_id="BEFORE-1", alarm_type="smoke")
    # Once an event was stored the table is never empty (prune_events keeps the newest), so a page opened
    # now knows the latest number; the tests' flush between tests empties it, this stores one again.
    lost_event("BEFORE-2")


@pytest.mark.usefixtures("watcher")
def test_an_alarm_reported_over_http_appears_on_the_live_page(server: str, page: Page) -> None:
    log_in(server, page)
    expect(page.locator("tr[data-alarm-id='BEFORE-1']")).to_be_visible()

    response = httpx.post(
        f"{server}/api/ai/alert/edge/report",
        json=report_payload(alarm_id="LIVE:1", device_id="cam-09", alarm_level=1, alarm_type="intrusion"),
        timeout=10,
    )
    assert response.json()["data"]["created"] is True

    row = page.locator("tr[data-alarm-id='LIVE:1']")
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator(".level")).to_have_class("level level-1")
    expect(row).to_contain_text("区域入侵")
    expect(row).to_contain_text("North gate")
    assert page.locator("#live-rows tr").first.get_attribute("data-alarm-id") == "LIVE:1"

    row.click()
    page.wait_for_url(f"{server}/admin/alarms/alarmevent/LIVE_3A1/change/")
    expect(page.locator("body")).to_contain_text("LIVE:1")


def in_a_thread(function: Any, *args: Any) -> Any:
    """Run ORM work off the browser's event loop (the ORM refuses to run on one), on its own connection."""

    def run() -> Any:
        try:
            return function(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as executor:
        return executor.submit(run).result()


def log_in(server: str, page: Page) -> None:
    page.goto(f"{server}/admin/login/?next=/live/")
    page.fill("#id_username", "watcher")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server}/live/")
    expect(page.locator("#live-status")).to_have_text("实时", timeout=10_000)  # "live": the console is Chinese


@pytest.mark.usefixtures("watcher")
def test_the_live_page_fills_a_gap_in_the_event_numbers(server: str, page: Page) -> None:
    log_in(server, page)
    # An alarm stored while its event's message was lost; the next event's number shows the gap.
    in_a_thread(lost_event, "LOST-1")
    response = httpx.post(f"{server}/api/ai/alert/edge/report", json=report_payload(alarm_id="AFTER-1"), timeout=10)
    assert response.json()["data"]["created"] is True

    expect(page.locator("tr[data-alarm-id='AFTER-1']")).to_be_visible(timeout=10_000)
    # LOST-1 is of the same camera and type as BEFORE-2, moments apart: they make one storm row.
    expect(page.locator("tr[data-alarm-id='LOST-1']")).to_be_attached(timeout=10_000)
    expect(page.locator("tr.storm[data-latest-id='LOST-1']")).to_have_attribute("data-count", "2")
    expect(page.locator("#live-status")).to_have_text("已补齐")  # "caught up"


def test_the_live_page_needs_a_staff_login(server: str, page: Page) -> None:
    page.goto(f"{server}/live/")
    assert "/admin/login/" in page.url
