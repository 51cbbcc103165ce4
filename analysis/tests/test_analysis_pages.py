"""The second opinion in the browser (headless Chromium): the live page and the alarm's admin page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from alarms.models import AlarmEvent
from alarms.tests import test_live_page as live
from alarms.tests.factories import make_alarm
from alarms.tests.test_live_page import in_a_thread, log_in
from analysis import services
from analysis.models import AlarmLlmAnalysis

# The live page's browser, server and logged-in watcher.
pytestmark = live.pytestmark
page, watcher = live.page, live.watcher


def finished_analysis(alarm: AlarmEvent) -> None:
    """An analysis as a worker finishes one: stored, then announced (through Redis when the tests have it)."""
    analysis = AlarmLlmAnalysis.objects.create(
        alarm=alarm, model_name="qwen-vl-max", prompt_version="smoke-v1", status=AlarmLlmAnalysis.Status.DONE,
        verdict="FALSE_ALARM", confidence=0.93, description="水蒸气，不是烟雾", risk_level=4, latency_ms=812,
        detected_objects=[{"label": "steam", "box": [4, 4, 40, 30], "confidence": 0.9}], cost=Decimal("0.01"),
        finished_at=timezone.now(),
    )  # fmt: skip
    services._announce(analysis)


@pytest.mark.usefixtures("watcher")
def test_the_live_page_shows_the_verdict_when_it_arrives(server: str, page: Page) -> None:
    log_in(server, page)
    row = page.locator("tr[data-alarm-id='BEFORE-1']")
    expect(row.locator(".verdict")).to_have_text("—")

    in_a_thread(lambda: finished_analysis(AlarmEvent.objects.get(pk="BEFORE-1")))

    expect(row.locator(".verdict")).to_have_text("误报 0.93", timeout=10_000)
    assert row.locator(".verdict").get_attribute("title") == "水蒸气，不是烟雾"


@pytest.mark.usefixtures("watcher")
def test_admin_shows_the_analysis_beside_the_snapshot_with_its_boxes(server: str, page: Page) -> None:
    snapshot = f"{server}/static/admin/img/icon-yes.svg"  # an image the server itself serves
    in_a_thread(lambda: finished_analysis(make_alarm(alarm_id="BOX-1", snapshot_url=snapshot)))
    log_in(server, page)

    page.goto(f"{server}/admin/alarms/alarmevent/BOX-1/change/")
    opinion = page.locator(".field-second_opinion")
    expect(opinion).to_contain_text("误报 0.93")  # "False alarm": the console is Chinese
    expect(opinion).to_contain_text("水蒸气，不是烟雾")
    expect(opinion.locator("figure.vsp-boxes")).to_have_attribute("data-drawn", "1")
    expect(opinion.locator("svg rect")).to_have_count(1)
    expect(page.locator(".field-analysis_history")).to_contain_text("qwen-vl-max · smoke-v1")

    page.goto(f"{server}/admin/analysis/alarmllmanalysis/agreement/?by=model")
    expect(page.locator("#content")).to_contain_text("模型结论与人工处理结果对比")
