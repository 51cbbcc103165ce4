"""Acting from the live page in headless Chromium: handling, false alarms, refusals, the snapshot lightbox,
filters in the URL, storms collapsed into one row, and the sound toggle."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from django.conf import global_settings
from django.test import Client
from PIL import Image
from playwright.sync_api import Page, expect

from alarms.models import AlarmEvent, AlarmStatus, HandleStatus
from alarms.tests.factories import lost_event, make_alarm, make_device, report_payload
from alarms.tests.test_live_page import in_a_thread
from conftest import chromium_page, make_user
from vsp.browser import CHROMIUM

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is installed by make's setup"
    ),
]

SNAPSHOT_SIZE = (640, 360)


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page() as page:
        yield page


@pytest.fixture
def staff(server: str, settings: Any) -> None:
    """A superuser, a handler without the handle permission, two cameras, and a known event number."""
    # The server process checks passwords with the real hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    make_user("watcher", superuser=True)
    make_user("viewer", perms=("alarms.view_alarmevent",))
    make_user("colleague", superuser=True)
    make_device("cam-09", name="North gate")
    make_device("cam-10", name="Loading bay")
    lost_event("SEED-1")  # so that the page knows the latest event number (see test_live_page)


@pytest.fixture
def snapshot_server() -> Iterator[str]:
    """A camera's snapshot over local HTTP: a 640x360 PNG, as an edge box's image server would serve it."""
    buffer = io.BytesIO()
    Image.new("RGB", SNAPSHOT_SIZE, (90, 100, 110)).save(buffer, "PNG")
    body = buffer.getvalue()

    class Snapshot(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Snapshot)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def log_in(server: str, page: Page, username: str = "watcher", query: str = "") -> None:
    page.goto(f"{server}/admin/login/?next=/live/{query}")
    page.fill("#id_username", username)
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server}/live/{query}")
    expect(page.locator("#live-status")).to_have_text("实时", timeout=10_000)  # "live": the console is Chinese


def said(page: Page, name: str, /, **values: object) -> str:
    """A message of the page's, as its template words it (``#live-text``), with its {placeholders} filled."""
    template = page.locator("#live-text").get_attribute(f"data-{name}")
    assert template is not None, name
    return template.format(**values)


def report(server: str, **fields: Any) -> None:
    response = httpx.post(f"{server}/api/ai/alert/edge/report", json=report_payload(**fields), timeout=10)
    assert response.json()["data"]["created"] is True, response.text


def add_alarm(**fields: Any) -> None:
    in_a_thread(lambda: make_alarm(**fields))


def stored(alarm_id: str) -> tuple[str, str]:
    alarm = in_a_thread(lambda: AlarmEvent.objects.get(pk=alarm_id))
    return alarm.handle_status, alarm.alarm_status


@pytest.mark.usefixtures("staff")
def test_handling_from_the_row_changes_the_alarm_and_the_row(server: str, page: Page) -> None:
    add_alarm(alarm_id="H-1", device_id="cam-09", alarm_type="smoke", alarm_level=2)
    log_in(server, page)
    row = page.locator("tr[data-alarm-id='H-1']")
    expect(row.locator(".handling")).to_have_attribute("data-handle-status", "UNHANDLED")

    row.locator("button[data-action=handle]").click()

    expect(row.locator(".outcome")).to_have_attribute("data-state", "ok")
    expect(row.locator(".outcome")).to_have_text(said(page, "done-handle"))
    expect(row.locator(".handling")).to_have_attribute("data-handle-status", "HANDLED")
    assert stored("H-1") == (HandleStatus.HANDLED, AlarmStatus.CONFIRMED)
    # Our own alarm.updated frame arrives too: the row keeps saying what we did, not "updated by".
    page.wait_for_timeout(500)
    expect(row.locator(".outcome")).to_have_attribute("data-state", "ok")
    assert page.url == f"{server}/live/"  # the buttons do not open the row's admin page


@pytest.mark.usefixtures("staff")
def test_confirm_then_false_alarm_from_the_row(server: str, page: Page) -> None:
    add_alarm(alarm_id="F-1", device_id="cam-09", alarm_type="smoke", alarm_level=3)
    log_in(server, page)
    row = page.locator("tr[data-alarm-id='F-1']")

    row.locator("button[data-action=confirm]").click()
    expect(row.locator(".outcome")).to_have_text(said(page, "done-confirm"))
    assert stored("F-1") == (HandleStatus.HANDLING, AlarmStatus.CONFIRMED)

    row.locator("button[data-action=ignore]").click()
    expect(row.locator(".outcome")).to_have_text(said(page, "done-ignore"))
    expect(row.locator(".handling")).to_have_attribute("data-handle-status", "IGNORED")
    assert stored("F-1") == (HandleStatus.IGNORED, AlarmStatus.CONFIRMED)


@pytest.mark.usefixtures("staff")
def test_another_staff_members_handling_reaches_the_row(server: str, page: Page) -> None:
    add_alarm(alarm_id="R-1", device_id="cam-09", alarm_type="smoke")
    log_in(server, page)
    token = httpx.post(
        f"{server}/api/v1/auth/token/", json={"username": "colleague", "password": "secret-pass-123"}, timeout=10
    ).json()["token"]

    response = httpx.post(
        f"{server}/api/v1/alerts/R-1/handle/",
        json={"handle_status": "HANDLED"},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    row = page.locator("tr[data-alarm-id='R-1']")
    expect(row.locator(".handling")).to_have_attribute("data-handle-status", "HANDLED", timeout=10_000)
    expect(row.locator(".outcome")).to_have_attribute("data-state", "remote")
    expect(row.locator(".outcome")).to_contain_text("colleague")


@pytest.mark.usefixtures("staff")
def test_a_user_without_the_handle_permission_sees_the_refusal(server: str, page: Page) -> None:
    add_alarm(alarm_id="P-1", device_id="cam-09", alarm_type="smoke")
    log_in(server, page, username="viewer")
    row = page.locator("tr[data-alarm-id='P-1']")

    row.locator("button[data-action=handle]").click()

    outcome = row.locator(".outcome")
    expect(outcome).to_have_attribute("data-state", "error")
    expect(outcome).to_have_attribute("data-status", "403")
    expect(outcome).to_have_text(said(page, "error-forbidden"))
    assert stored("P-1") == (HandleStatus.UNHANDLED, AlarmStatus.NEW)


@pytest.mark.usefixtures("staff")
def test_a_refused_transition_and_a_vanished_alarm_are_shown(server: str, page: Page) -> None:
    add_alarm(alarm_id="C-1", device_id="cam-09", alarm_status=AlarmStatus.RESOLVED)
    add_alarm(alarm_id="GONE-1", device_id="cam-10", alarm_type="smoke")
    log_in(server, page)

    resolved = page.locator("tr[data-alarm-id='C-1']")
    resolved.locator("button[data-action=confirm]").click()
    expect(resolved.locator(".outcome")).to_have_attribute("data-status", "409")
    expect(resolved.locator(".outcome")).to_contain_text("cannot go from RESOLVED back to CONFIRMED")

    in_a_thread(lambda: AlarmEvent.objects.filter(pk="GONE-1").delete())
    gone = page.locator("tr[data-alarm-id='GONE-1']")
    gone.locator("button[data-action=handle]").click()
    expect(gone.locator(".outcome")).to_have_attribute("data-status", "404")
    expect(gone.locator(".outcome")).to_have_text(said(page, "error-not-found"))


@pytest.mark.usefixtures("staff")
def test_assigning_from_the_row_and_unassigning(server: str, page: Page) -> None:
    add_alarm(alarm_id="A-1", device_id="cam-09", alarm_type="smoke")
    log_in(server, page)
    row = page.locator("tr[data-alarm-id='A-1']")
    options = row.locator("select.assign option")
    # Every active staff member, the page's user marked as such, and "nobody".
    assert options.all_text_contents()[1:] == ["colleague", "viewer", "watcher（我）", "无人（取消指派）"]

    row.locator("select.assign").select_option("colleague")

    expect(row.locator(".outcome")).to_have_text(said(page, "done-assign", name="colleague"))
    expect(row.locator(".assignee")).to_have_attribute("data-assignee", "colleague")
    assignee = in_a_thread(lambda: AlarmEvent.objects.values_list("assignee__username", flat=True).get(pk="A-1"))
    assert assignee == "colleague"
    assert stored("A-1") == (HandleStatus.UNHANDLED, AlarmStatus.NEW)  # an assignment changes no status
    # The alarm.updated frame that follows is our own: the row keeps saying what we did.
    page.wait_for_timeout(500)
    expect(row.locator(".outcome")).to_have_attribute("data-state", "ok")
    assert page.url == f"{server}/live/"  # choosing did not open the row's admin page

    row.locator("select.assign").select_option(label="无人（取消指派）")
    expect(row.locator(".outcome")).to_have_text(said(page, "done-unassign"))
    expect(row.locator(".assignee")).to_have_count(0)
    assert in_a_thread(lambda: AlarmEvent.objects.get(pk="A-1").assignee) is None


@pytest.mark.usefixtures("staff")
def test_an_assignment_elsewhere_reaches_the_row_and_a_viewer_is_refused(server: str, page: Page) -> None:
    add_alarm(alarm_id="A-2", device_id="cam-09", alarm_type="smoke")
    log_in(server, page, username="viewer")
    row = page.locator("tr[data-alarm-id='A-2']")

    row.locator("select.assign").select_option("viewer")
    expect(row.locator(".outcome")).to_have_attribute("data-state", "error")
    expect(row.locator(".outcome")).to_have_text(said(page, "error-forbidden"))
    assert in_a_thread(lambda: AlarmEvent.objects.get(pk="A-2").assignee) is None

    token = httpx.post(
        f"{server}/api/v1/auth/token/", json={"username": "colleague", "password": "secret-pass-123"}, timeout=10
    ).json()["token"]
    response = httpx.post(
        f"{server}/api/v1/alerts/bulk-assign/",
        json={"alarm_ids": ["A-2"], "assignee": "watcher"},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert response.json() == {"results": {"A-2": "updated"}}
    expect(row.locator(".assignee")).to_have_attribute("data-assignee", "watcher", timeout=10_000)


@pytest.mark.usefixtures("staff")
def test_the_lightbox_draws_the_edges_boxes_over_the_snapshot(server: str, page: Page, snapshot_server: str) -> None:
    in_a_thread(
        lambda: make_alarm(
            alarm_id="S-1",
            device_id="cam-09",
            snapshot_url=f"{snapshot_server}/S-1.png",
            ext_data={"bbox": [320, 90, 480, 270], "bind_id": "b-1"},
        )
    )
    page.set_viewport_size({"width": 1000, "height": 800})
    log_in(server, page)

    page.locator("tr[data-alarm-id='S-1'] .snapshot img").click()

    lightbox = page.locator("#live-lightbox")
    expect(lightbox).to_be_visible()
    expect(lightbox).to_have_attribute("data-drawn", "1", timeout=10_000)
    image = page.locator("#lightbox-image").bounding_box()
    box = page.locator("#lightbox-boxes .box").bounding_box()
    assert image is not None
    assert box is not None
    # The image is drawn at 92 % of the viewport's width; the box keeps its place in the snapshot's pixels.
    scale = image["width"] / SNAPSHOT_SIZE[0]
    assert scale == pytest.approx(920 / 640, rel=0.01)
    assert box["x"] - image["x"] == pytest.approx(320 * scale, abs=1.5)
    assert box["y"] - image["y"] == pytest.approx(90 * scale, abs=1.5)
    assert box["width"] == pytest.approx(160 * scale, abs=1.5)
    assert box["height"] == pytest.approx(180 * scale, abs=1.5)
    expect(page.locator("#lightbox-boxes .box span")).to_have_text("区域入侵")

    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    page.locator("tr[data-alarm-id='S-1'] .snapshot img").focus()
    page.keyboard.press("Enter")
    expect(lightbox).to_be_visible()
    lightbox.click()
    expect(lightbox).to_be_hidden()
    assert page.url == f"{server}/live/"


@pytest.mark.usefixtures("staff")
def test_filters_hide_rows_and_live_in_the_url(server: str, page: Page) -> None:
    add_alarm(alarm_id="L1-A", device_id="cam-09", alarm_type="smoke", alarm_level=1)
    add_alarm(alarm_id="L3-A", device_id="cam-09", alarm_type="intrusion", alarm_level=3)
    add_alarm(alarm_id="L1-B", device_id="cam-10", alarm_type="intrusion", alarm_level=1)
    log_in(server, page)

    page.locator("#filter-level input[value='1']").check()
    expect(page.locator("tr[data-alarm-id='L3-A']")).to_be_hidden()
    expect(page.locator("tr[data-alarm-id='L1-A']")).to_be_visible()
    expect(page.locator("tr[data-alarm-id='L1-B']")).to_be_visible()
    assert page.url == f"{server}/live/?level=1"

    page.fill("#filter-device", "cam-10")
    page.press("#filter-device", "Enter")
    expect(page.locator("tr[data-alarm-id='L1-A']")).to_be_hidden()
    expect(page.locator("tr[data-alarm-id='L1-B']")).to_be_visible()
    assert page.url == f"{server}/live/?level=1&device=cam-10"
    expect(page.locator("#filter-count")).to_have_text(said(page, "shown", shown=1, total=4))  # SEED-1 is the fourth

    # The link reproduces the view: the server leaves the other rows out, and so does the socket.
    page.reload()
    expect(page.locator("#live-status")).to_have_text("实时", timeout=10_000)  # "live": the console is Chinese
    expect(page.locator("#filter-level input[value='1']")).to_be_checked()
    expect(page.locator("#filter-device")).to_have_value("cam-10")
    expect(page.locator("tr[data-alarm-id='L1-B']")).to_be_visible()
    expect(page.locator("tr[data-alarm-id='L1-A']")).to_have_count(0)
    report(server, alarm_id="LIVE-OTHER", device_id="cam-09", alarm_level=1)
    report(server, alarm_id="LIVE-MINE", device_id="cam-10", alarm_level=1)
    expect(page.locator("tr[data-alarm-id='LIVE-MINE']")).to_be_visible(timeout=10_000)
    expect(page.locator("tr[data-alarm-id='LIVE-OTHER']")).to_have_count(0)

    # Narrower than the socket's filter: the rows go; wider: the page loads again, with the rows it had left out.
    page.select_option("#filter-type", "intrusion")
    expect(page.locator("tr[data-alarm-id='LIVE-MINE']")).to_be_hidden()
    assert page.url == f"{server}/live/?level=1&type=intrusion&device=cam-10"
    page.click("#filter-clear")
    page.wait_for_url(f"{server}/live/")
    expect(page.locator("tr[data-alarm-id='L3-A']")).to_be_visible()
    expect(page.locator("tr[data-alarm-id='LIVE-OTHER']")).to_be_visible()
    expect(page.locator("#filter-type")).to_have_value("")


def test_a_bad_filter_in_the_url_is_refused() -> None:
    client = Client()
    client.force_login(make_user("boss", superuser=True))
    response = client.get("/live/?level=7")
    assert response.status_code == 400
    assert b"level must be" in response.content


@pytest.mark.usefixtures("staff")
def test_a_storm_of_one_camera_collapses_into_one_row(server: str, page: Page) -> None:
    log_in(server, page)
    levels = [3, 3, 1, 3, 2]
    for number, level in enumerate(levels):
        report(
            server,
            alarm_id=f"STORM-{number}",
            device_id="cam-09",
            scene_id="gate-1",
            alarm_type="intrusion",
            alarm_level=level,
            event_time=f"2026-11-27 10:00:{number * 10:02d}",
        )
    report(server, alarm_id="CALM-1", device_id="cam-10", alarm_type="intrusion", event_time="2026-11-27 10:00:20")
    # The same camera, scene and type, but past the window (INCIDENT_WINDOW): an incident and a row of its own.
    report(server, alarm_id="LATER-1", device_id="cam-09", alarm_type="intrusion", event_time="2026-11-27 10:15:00")

    storm = page.locator("tr.storm")
    expect(storm).to_have_count(1, timeout=10_000)
    expect(storm).to_have_attribute("data-count", "5", timeout=10_000)
    expect(storm.locator(".storm-toggle")).to_have_text("×5")
    expect(storm.locator(".level")).to_have_class("level level-1")  # the highest level among the five
    assert storm.get_attribute("data-latest-id") == "STORM-4"
    expect(page.locator("tr[data-alarm-id='CALM-1']")).to_be_visible()
    expect(page.locator("tr[data-alarm-id='LATER-1']")).to_be_visible(timeout=10_000)
    expect(page.locator("tr[data-alarm-id='LATER-1']")).not_to_have_class("storm-member")
    members = page.locator(f"tr[data-member-of='{storm.get_attribute('data-storm')}']")
    expect(members).to_have_count(5)
    for index in range(5):
        expect(members.nth(index)).to_be_hidden()

    storm.locator(".storm-toggle").click()
    for index in range(5):
        expect(members.nth(index)).to_be_visible()
    assert members.first.get_attribute("data-alarm-id") == "STORM-4"

    # The storm's button handles every alarm in it.
    storm.locator("button[data-action=handle]").click()
    expect(storm.locator(".outcome")).to_have_text(said(page, "done-many", done=5, total=5), timeout=10_000)
    statuses = in_a_thread(
        lambda: set(AlarmEvent.objects.filter(alarm_id__startswith="STORM-").values_list("handle_status", flat=True))
    )
    assert statuses == {HandleStatus.HANDLED}

    # And its assignment gives every alarm in it to one person, in one request.
    storm.locator("select.assign").select_option("colleague")
    expect(storm.locator(".outcome")).to_have_text(said(page, "done-many", done=5, total=5), timeout=10_000)
    assignees = in_a_thread(
        lambda: set(
            AlarmEvent.objects.filter(alarm_id__startswith="STORM-").values_list("assignee__username", flat=True)
        )
    )
    assert assignees == {"colleague"}


@pytest.mark.usefixtures("staff")
def test_the_sound_toggle_is_remembered_and_plays_for_level_1_and_2(server: str, page: Page) -> None:
    log_in(server, page)
    assert page.evaluate("window.vspLive.sound.context") is None

    page.check("#live-sound")
    assert page.evaluate("localStorage.getItem('vsp.live.sound')") == "1"
    assert page.evaluate("window.vspLive.sound.context !== null")
    report(server, alarm_id="QUIET-1", device_id="cam-09", alarm_type="smoke", alarm_level=3)
    expect(page.locator("tr[data-alarm-id='QUIET-1']")).to_be_visible(timeout=10_000)
    assert page.evaluate("window.vspLive.sound.played") == 0
    report(server, alarm_id="LOUD-1", device_id="cam-10", alarm_level=1)
    expect(page.locator("tr[data-alarm-id='LOUD-1']")).to_be_visible(timeout=10_000)
    assert page.evaluate("window.vspLive.sound.played") == 1

    page.reload()
    expect(page.locator("#live-sound")).to_be_checked()
    page.uncheck("#live-sound")
    page.reload()
    expect(page.locator("#live-sound")).not_to_be_checked()
