"""Take the README's screenshots from a running service.

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8093 [docs/screenshots]

It logs in to admin with the demo account (`make run` creates it), opens the live page, posts a few
realistic alarms to the edge ingest endpoint (two of them with a snapshot image, one resolved, one
handled, and a storm of one camera) so that they arrive while the page is open, confirms one from its
row, and saves 1366x768 PNGs of the live page, a snapshot in its lightbox, the admin alarm list, an
alarm's change page, the staff dashboard and the API docs. Meant for `make run` on an empty database
(DEBUG on, so ingest needs no device key; alarms already there would join its storm). The dashboard's
charts are fuller with a week of alarms: after the first run, `manage.py seed_alarms --count 20000
--days 7 --devices 60 --force`, then the same command with ``--dashboard-only``.

With ``--model-port P`` it also plays the LLM on 127.0.0.1:P (the tests' OpenAI-compatible fake), so a
service started with ``AI_MODEL_NAME=qwen-vl-max AI_MODEL_URL=http://127.0.0.1:P/v1`` analyses the
snapshots: the live page then shows the verdicts, and one more PNG shows the analysis in admin.

Playwright drives Debian's chromium (`apt-get install chromium`); it never downloads a browser.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vsp.browser import CHROMIUM, CHROMIUM_ARGS

VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
MAX_PNG_BYTES = 300_000

# The boxes the alarms come from: (device_id, name, address, firmware).
DEVICES = [
    ("cam-gate-01", "北门", "10.20.1.11", "2.4.1"),
    ("cam-ws3-02", "三号车间 B 线", "10.20.3.22", "2.4.1"),
    ("cam-wh-07", "仓库装卸区", "10.20.5.17", "2.3.9"),
    ("cam-guard-03", "门岗", "10.20.1.13", "2.4.0"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", help="the running service, e.g. http://127.0.0.1:8093")
    parser.add_argument("out_dir", nargs="?", default="docs/screenshots", help="where the PNGs go (%(default)s)")
    parser.add_argument("--username", default="admin", help="staff login (%(default)s, the demo account)")
    parser.add_argument("--password", default="admin123", help="its password (%(default)s)")
    parser.add_argument("--model-port", type=int, help="play the LLM on this port (see above)")
    parser.add_argument("--dashboard-only", action="store_true", help="only the dashboard (after seeding, above)")
    args = parser.parse_args(argv)
    if args.dashboard_only:
        return take_dashboard(args)
    with contextlib.ExitStack() as stack:
        if args.model_port:
            from analysis.tests.fake_model import fake_model

            model = stack.enter_context(fake_model(args.model_port))
            model.opinion = OPINION
        return take(args, analysed=bool(args.model_port))


# What the played model says of every snapshot: the figure the box drew is real, in its box.
OPINION = {
    "verdict": "REAL",
    "confidence": 0.91,
    "description": "画面中一名人员位于围栏内侧的警戒区域，未见授权标识，需现场核实。",
    "risk_level": 1,
    "objects": [{"label": "person", "box": [430, 168, 510, 356], "confidence": 0.95}],
}


def take(args: argparse.Namespace, *, analysed: bool) -> int:
    base = args.base_url.rstrip("/")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    chromium = CHROMIUM
    if chromium is None:
        sys.exit("chromium is missing: apt-get install chromium (never `playwright install`)")
    try:
        get_json(f"{base}/health")
    except OSError as error:
        sys.exit(f"{base} does not answer ({error}); start it with `make run PORT=...`")

    # The live page's labels are Chinese (the Yudao dictionaries); without a CJK font they render as boxes.
    if shutil.which("fc-list") and not subprocess.run(["fc-list", ":lang=zh"], capture_output=True).stdout.strip():
        sys.stderr.write("warning: no Chinese font, labels show as boxes: apt-get install fonts-wqy-microhei\n")

    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            # The console as staff see it by default: in Chinese (LANGUAGE_CODE zh-hans).
            page = browser.new_page(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
            log_in(page, base, args.username, args.password)
            expect(page.locator("#live-status[data-state=live]")).to_be_visible(timeout=15_000)

            featured = post_alarms(base, run, args.username, args.password)
            for alarm_id in featured["all"]:
                expect(page.locator(f"tr[data-alarm-id='{alarm_id}']")).to_be_visible(timeout=15_000)
            # Snapshots are stored after the alarm commits; their thumbnails reach the page with
            # alarm.updated. Wait for them, then shoot while the newest rows still glow.
            page.wait_for_function(
                "n => document.querySelectorAll('#live-rows .snapshot img').length >= n", arg=2, timeout=15_000
            )
            if analysed:
                expect(page.locator(f"tr[data-alarm-id='{featured['intrusion']}'] .verdict")).to_contain_text(
                    "真实告警", timeout=30_000
                )
            live_page(page, base, out, run, featured)

            # Admin's navigation sidebar collapsed: the list's columns fit in 1366 px then.
            page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
            page.goto(f"{base}/admin/alarms/alarmevent/")
            wait_for_images(page)
            shoot(page, out / "admin-alarm-list.png")

            page.goto(f"{base}/admin/alarms/alarmevent/{featured['change']}/change/")
            expect(page.locator("#content")).to_contain_text(featured["change"])
            wait_for_images(page)
            shoot(page, out / "admin-alarm-change.png")

            if analysed:
                page.goto(f"{base}/admin/alarms/alarmevent/{featured['intrusion']}/change/")
                opinion = page.locator(".field-second_opinion")
                expect(opinion.locator("svg rect")).to_have_count(1, timeout=10_000)
                opinion.scroll_into_view_if_needed()
                page.evaluate("window.scrollBy(0, -60)")
                wait_for_images(page)
                shoot(page, out / "admin-alarm-analysis.png")

            shoot_dashboard(page, base, out / "dashboard.png")

            page.goto(f"{base}/docs")
            expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=15_000)
            page.wait_for_timeout(500)
            shoot(page, out / "docs.png")
        finally:
            browser.close()
    return 0


def live_page(page: Page, base: str, out: Path, run: str, featured: dict[str, Any]) -> None:
    """The live page with a storm collapsed into one row and one alarm handled from its row; then the
    intrusion's snapshot in the lightbox, with the edge's box drawn over it."""
    now = datetime.now(UTC)
    for number in range(6):
        when = now - timedelta(seconds=40 - number * 6)
        body = report(run, 10 + number, "smoke", "cam-wh-07", "loading-bay", when, 2 if number == 3 else 3, 0.72)
        edge(base, "/api/ai/alert/edge/report", body)
    # The warehouse's smoke alarm of a minute ago starts the storm: seven alarms, one row.
    expect(page.locator("tr.storm")).to_have_attribute("data-count", "7", timeout=15_000)
    intrusion = page.locator(f"tr[data-alarm-id='{featured['intrusion']}']")
    intrusion.locator("button[data-action=confirm]").click()
    expect(intrusion.locator(".outcome")).to_have_attribute("data-state", "ok")
    wait_for_images(page)
    shoot(page, out / "live.png")

    page.locator(f"tr[data-alarm-id='{featured['intrusion']}'] .snapshot img").click()
    expect(page.locator("#live-lightbox")).to_have_attribute("data-drawn", "1", timeout=10_000)
    wait_for_images(page)
    shoot(page, out / "live-lightbox.png")
    page.keyboard.press("Escape")


def take_dashboard(args: argparse.Namespace) -> int:
    base = args.base_url.rstrip("/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
            log_in(page, base, args.username, args.password)
            shoot_dashboard(page, base, Path(args.out_dir) / "dashboard.png")
        finally:
            browser.close()
    return 0


def shoot_dashboard(page: Page, base: str, path: Path) -> None:
    """The staff dashboard, reached from admin's index, once its figures and charts are drawn."""
    page.goto(f"{base}/admin/")
    page.click("#console-links a[href='/dashboard/']")
    expect(page.locator("#dash-status")).to_have_attribute("data-state", "live", timeout=15_000)
    page.wait_for_function("() => document.body.dataset.refreshes >= 1", timeout=15_000)
    page.wait_for_timeout(300)  # the charts' first layout
    shoot(page, path)


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/admin/login/?next=/live/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    try:
        page.wait_for_url(f"{base}/live/", timeout=10_000)
    except Exception:
        sys.exit(f"login as {username!r} failed: is this the demo account of `make run`?")


def post_alarms(base: str, run: str, username: str, password: str) -> dict[str, Any]:
    """Heartbeats, then reports arriving one by one; one is resolved and one handled. Ids end in ``run``."""
    for device_id, name, ip, version in DEVICES:
        edge(base, "/api/ai/device/heartbeat", {"device_id": device_id, "name": name, "ip": ip, "version": version})

    now = datetime.now(UTC)
    reports: list[dict[str, Any]] = [
        report(run, 1, "leave_post", "cam-guard-03", "guard-booth", now - timedelta(minutes=4), 2, 0.88),
        report(run, 2, "no_helmet", "cam-ws3-02", "line-b", now - timedelta(minutes=2), 3, 0.93, snapshot="helmet"),
        report(run, 3, "smoke", "cam-wh-07", "loading-bay", now - timedelta(seconds=50), 1, 0.81),
        report(run, 4, "intrusion", "cam-gate-01", "perimeter-n", now - timedelta(seconds=10), 1, 0.97, "person"),
    ]
    for body in reports:
        edge(base, "/api/ai/alert/edge/report", body)
        time.sleep(0.6)
    first, helmet = reports[0]["alarm_id"], reports[1]["alarm_id"]
    edge(
        base,
        "/api/ai/alert/edge/resolve",
        {
            "alarm_id": first,
            "duration_ms": 185_000,
            "last_frame_time": (now - timedelta(seconds=55)).isoformat(timespec="seconds"),
            "resolve_type": "person_returned",
        },
    )
    token = post_json(f"{base}/api/v1/auth/token/", {"username": username, "password": password})["token"]
    post_json(
        f"{base}/api/v1/alerts/{helmet}/handle/",
        {"handle_status": "HANDLING", "remark": "Shift lead notified; worker sent for a helmet."},
        headers={"Authorization": f"Token {token}"},
    )
    return {"all": [body["alarm_id"] for body in reports], "change": helmet, "intrusion": reports[3]["alarm_id"]}


def report(
    run: str,
    number: int,
    alarm_type: str,
    device_id: str,
    scene_id: str,
    when: datetime,
    level: int,
    confidence: float,
    snapshot: str | None = None,
) -> dict[str, Any]:
    # Only letters and digits: Django admin would quote ':' and '_' in the change page's URL.
    body: dict[str, Any] = {
        "alarm_id": f"ALM{run[2:]}{number:02d}",
        "alarm_type": alarm_type,
        "device_id": device_id,
        "scene_id": scene_id,
        "event_time": when.isoformat(timespec="seconds"),
        "alarm_level": level,
        "confidence_score": confidence,
        "ext_data": {
            "model": "yolov8s-vsp-2.1",
            "bbox": [430, 168, 510, 356],  # the figure's box in the 640x360 snapshot below
            "frame_no": 18_240 + number * 37,
            "rule": f"{scene_id}/{alarm_type}",
        },
    }
    if snapshot is not None:
        body["snapshot_base64"] = base64.b64encode(snapshot_jpeg(snapshot, when)).decode()
    return body


def snapshot_jpeg(kind: str, when: datetime) -> bytes:
    """A small camera frame: ground, a building or a gate, a figure in a red detection box, a time stamp."""
    image = Image.new("RGB", (640, 360), (88, 96, 104))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 640, 150), fill=(150, 170, 190))  # sky / far wall
    draw.rectangle((0, 250, 640, 360), fill=(70, 74, 70))  # ground
    if kind == "person":
        for x in range(0, 640, 40):  # a fence
            draw.rectangle((x, 150, x + 6, 260), fill=(60, 60, 60))
        draw.rectangle((0, 170, 640, 176), fill=(60, 60, 60))
    else:
        draw.rectangle((40, 60, 300, 250), fill=(120, 120, 112))  # machinery
        draw.rectangle((70, 90, 270, 150), fill=(95, 110, 120))
        draw.rectangle((360, 120, 600, 250), fill=(134, 110, 80))  # crates
    # The figure: head, body, legs; a helmet when it is not the no-helmet alarm.
    x, y = 470, 180
    draw.ellipse((x - 14, y, x + 14, y + 28), fill=(224, 186, 150))
    if kind == "person":
        draw.pieslice((x - 16, y - 6, x + 16, y + 22), 180, 360, fill=(40, 40, 40))
    draw.rectangle((x - 22, y + 30, x + 22, y + 110), fill=(230, 120, 20) if kind == "helmet" else (30, 50, 90))
    draw.rectangle((x - 20, y + 110, x - 4, y + 170), fill=(40, 40, 60))
    draw.rectangle((x + 4, y + 110, x + 20, y + 170), fill=(40, 40, 60))
    draw.rectangle((x - 40, y - 12, x + 40, y + 176), outline=(230, 30, 30), width=3)
    label = "person 0.97" if kind == "person" else "no_helmet 0.93"
    draw.rectangle((x - 40, y - 28, x + 60, y - 12), fill=(230, 30, 30))
    draw.text((x - 36, y - 26), label, fill=(255, 255, 255))
    local = when.astimezone(ZoneInfo("Asia/Shanghai"))  # the default TIME_ZONE, as an NVR stamps it
    draw.text((10, 10), local.strftime("%Y-%m-%d %H:%M:%S") + "  CH01", fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def edge(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        answer = post_json(base + path, body)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        if error.code == 401:
            sys.exit(f"{path}: 401, ingest needs device keys here; use `make run` (DEBUG: open ingest): {detail}")
        sys.exit(f"{path}: HTTP {error.code}: {detail}")
    if answer.get("code") != 0:
        sys.exit(f"{path}: {answer}")
    return answer


def post_json(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for_images(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => [...document.images].every(image => image.complete)", timeout=10_000)


def shoot(page: Page, path: Path) -> None:
    """The viewport only, as PNG; warn when it grew past what a README should carry."""
    page.screenshot(path=str(path), type="png", full_page=False)
    size = path.stat().st_size
    note = "" if size < MAX_PNG_BYTES else f"  (over {MAX_PNG_BYTES // 1000} KB)"
    print(f"{path}  {size // 1024} KB{note}")  # noqa: T201


if __name__ == "__main__":
    sys.exit(main())
