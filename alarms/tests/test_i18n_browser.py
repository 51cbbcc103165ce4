"""The admin's alarm list on a 1366 × 768 screen, in headless Chromium, in both languages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import global_settings
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from alarms.models import AlarmStatus, HandleStatus
from alarms.tests.factories import make_alarm, make_device
from conftest import chromium_page, make_user
from vsp.browser import CHROMIUM

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is installed by make's setup"
    ),
]

SCREEN: ViewportSize = {"width": 1366, "height": 768}


@pytest.fixture
def page() -> Iterator[Page]:
    # A browser installed in English: the console is Chinese all the same, until the user picks English.
    with chromium_page(viewport=SCREEN, locale="en-US") as page:
        yield page


@pytest.fixture
def alarms(server: str, settings: Any) -> None:
    # Before the browser starts: Playwright's sync API runs an event loop, where the ORM refuses to run.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the server checks with the real hashers
    make_user("watcher", superuser=True)
    make_device("cam-warehouse-north-07", name="北区仓库 7 号摄像头")
    now = timezone.now()
    for number, (alarm_type, status, handling) in enumerate(
        [
            ("no_helmet", AlarmStatus.NEW, HandleStatus.UNHANDLED),
            ("leave_post", AlarmStatus.CONFIRMED, HandleStatus.HANDLING),
            ("intrusion", AlarmStatus.RESOLVED, HandleStatus.IGNORED),
            ("climbing_over_the_fence", AlarmStatus.RESOLVED, HandleStatus.HANDLED),
        ]
    ):
        make_alarm(
            # The edge's ids run to 64 characters; a realistic one is about this long.
            alarm_id=f"EDGE-20261203-093000-{number:04d}-a1b2c3d4",
            alarm_type=alarm_type,
            device_id="cam-warehouse-north-07",
            alarm_level=1 + number % 4,
            alarm_status=status,
            handle_status=handling,
            handler="zhang.wei" if handling != HandleStatus.UNHANDLED else "",
            event_time=now - timedelta(minutes=number),
        )


def log_in(server: str, page: Page) -> None:
    page.goto(f"{server}/admin/login/?next=/admin/alarms/alarmevent/")
    page.fill("#id_username", "watcher")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server}/admin/alarms/alarmevent/")


def widths(page: Page) -> dict[str, float]:
    return dict(
        page.evaluate(
            """() => ({
                table: document.querySelector('#result_list').getBoundingClientRect().right,
                page: document.documentElement.scrollWidth,
                viewport: window.innerWidth,
            })"""
        )
    )


@pytest.mark.usefixtures("alarms")
def test_the_alarm_list_fits_a_1366_pixel_screen_in_both_languages(server: str, page: Page) -> None:
    log_in(server, page)
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    expect(page.locator("#result_list")).to_contain_text("未戴安全帽")
    chinese = widths(page)
    assert chinese["table"] <= chinese["viewport"] == 1366, chinese
    assert chinese["page"] <= 1366, chinese  # no sideways scrolling

    page.select_option("#language-select", "en")  # the header's picker
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#result_list")).to_contain_text("No helmet")
    english = widths(page)
    assert english["table"] <= english["viewport"] == 1366, english
    assert english["page"] <= 1366, english
