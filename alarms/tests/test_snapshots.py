"""Snapshots on local storage: uploads checked and stored after commit, signed links, pending retries, pruning."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from PIL import Image

from alarms import counts
from alarms.metrics import roll_up_day
from alarms.models import (
    AlarmEvent,
    AlarmEventExt,
    AlarmHandleLog,
    AlarmTiming,
    AlarmTimingDay,
    PendingSnapshot,
    SnapshotStatus,
)
from alarms.tests.factories import aware, make_alarm, report_payload

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = "/api/ai/alert/edge/report"


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, fmt)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header (enough for a decompression bomb check) and has no pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture
def snapshot_dir(settings: Any, tmp_path: Path) -> Path:
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    return tmp_path


def report_with_image(alarm_id: str, data: bytes, **fields: Any) -> Any:
    payload = report_payload(alarm_id=alarm_id, snapshot_url=None, **fields)
    payload["snapshot_base64"] = base64.b64encode(data).decode()
    return Client().post(REPORT, data=json.dumps(payload), content_type="application/json")


def test_a_base64_image_is_stored_with_a_thumbnail(snapshot_dir: Path) -> None:
    response = report_with_image("S-1", image_bytes(size=(1280, 720)), device_id="cam/01")

    assert response.status_code == 200, response.json()
    alarm = AlarmEvent.objects.get(pk="S-1")
    assert alarm.snapshot_status == SnapshotStatus.STORED
    assert alarm.snapshot_url == "snapshots/2026/11/27/cam_01/S-1.jpg"
    assert alarm.thumbnail_key == "snapshots/2026/11/27/cam_01/S-1.thumb.jpg"
    assert (snapshot_dir / alarm.snapshot_url).read_bytes()[:2] == b"\xff\xd8"
    with Image.open(snapshot_dir / alarm.thumbnail_key) as thumb:
        assert max(thumb.size) <= 320
    assert not PendingSnapshot.objects.exists()


def test_a_multipart_file_is_stored(snapshot_dir: Path) -> None:
    fields = {
        key: value for key, value in report_payload(alarm_id="S-2", snapshot_url=None).items() if value is not None
    }
    fields["ext_data"] = json.dumps(fields["ext_data"])
    fields["snapshot"] = io.BytesIO(image_bytes("PNG"))
    fields["snapshot"].name = "frame.png"
    fields["firmware_note"] = ["unknown fields", "are ignored, even twice"]

    response = Client().post(REPORT, data=fields)

    assert response.status_code == 200, response.json()
    alarm = AlarmEvent.objects.get(pk="S-2")
    assert (alarm.snapshot_status, alarm.snapshot_url) == (SnapshotStatus.STORED, "snapshots/2026/11/27/cam-01/S-2.png")
    assert alarm.ext.ext_data == {"bbox": [1, 2, 3, 4], "bind_id": "b-7"}


@pytest.mark.parametrize("twice", ["confidence_score", "snapshot"])
def test_a_multipart_field_sent_twice_is_refused(snapshot_dir: Path, twice: str) -> None:
    fields: dict[str, Any] = {
        key: value for key, value in report_payload(alarm_id="S-9", snapshot_url=None).items() if value is not None
    }
    fields["ext_data"] = json.dumps(fields["ext_data"])
    fields["confidence_score"] = ["0.3", "0.9"] if twice == "confidence_score" else "0.5"
    files = [io.BytesIO(image_bytes("PNG")) for _ in range(2 if twice == "snapshot" else 1)]
    for number, file in enumerate(files):
        file.name = f"frame{number}.png"
    fields["snapshot"] = files
    fields["unknown_tag"] = ["a", "b"]  # unknown fields are ignored, however often they come

    response = Client().post(REPORT, data=fields)

    assert response.status_code == 400
    assert response.json()["msg"] == f"{twice}: sent more than once; send each field once"
    assert not AlarmEvent.objects.filter(pk="S-9").exists()


def test_links_are_signed_and_expire(snapshot_dir: Path, staff_client: Any) -> None:
    data = image_bytes()
    report_with_image("S-3", data)
    body = staff_client.get("/api/v1/alerts/S-3/").json()
    link, thumb = body["snapshot_url"], body["thumbnail_url"]
    assert body["snapshot_status"] == "STORED"
    assert "/files/snapshots/2026/11/27/cam-01/S-3.jpg?exp=" in link

    anonymous = Client()
    assert anonymous.get(link).getvalue() == data
    assert anonymous.get(thumb).status_code == 200
    assert anonymous.get(link.replace("sig=", "sig=x")).status_code == 404
    assert anonymous.get(link.split("?")[0]).status_code == 404  # no signature, not logged in
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert anonymous.get(link).status_code == 404
    # Staff following a plain link get a fresh signed one.
    assert staff_client.get(link.split("?")[0]).status_code == 302


def test_the_edge_url_and_object_keys_are_kept(snapshot_dir: Path, staff_client: Any) -> None:
    make_alarm(alarm_id="E-1", snapshot_url="https://img.example.com/e.jpg", snapshot_status=SnapshotStatus.EXTERNAL)
    make_alarm(alarm_id="E-2", snapshot_url="boxes/cam-01/e2.jpg", snapshot_status=SnapshotStatus.STORED)
    external = staff_client.get("/api/v1/alerts/E-1/").json()
    keyed = staff_client.get("/api/v1/alerts/E-2/").json()
    assert external["snapshot_url"] == external["thumbnail_url"] == "https://img.example.com/e.jpg"
    assert "/files/boxes/cam-01/e2.jpg?exp=" in keyed["snapshot_url"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello, not an image", "is not an image that can be read"),
        (png_header_only(10_000, 10_000), "has 10000x10000 pixels"),
        (image_bytes("GIF", (10, 10)), "is GIF; allowed: JPEG, PNG, WEBP"),
        (image_bytes("PNG")[:200], "is a broken image"),
        (image_bytes("JPEG", (800, 600))[:-400], "is a broken image"),  # cut off: only decoding shows it
        (b"", "is empty"),
    ],
)
def test_bad_images_are_refused(snapshot_dir: Path, data: bytes, message: str) -> None:
    response = report_with_image("BAD-1", data)

    assert response.status_code == 400
    assert response.json()["msg"].startswith("snapshot_base64: ")
    assert message in response.json()["msg"]
    assert not AlarmEvent.objects.exists()


def test_an_image_over_the_size_limit_is_refused(snapshot_dir: Path, settings: Any) -> None:
    settings.SNAPSHOT_MAX_BYTES = 1000
    response = report_with_image("BIG-1", image_bytes(size=(400, 400)))
    assert response.status_code == 400
    assert "1000 bytes" in response.json()["msg"]


def test_bad_base64_and_image_plus_url_are_refused(snapshot_dir: Path) -> None:
    payload = {**report_payload(alarm_id="B-2"), "snapshot_base64": "@@not base64@@"}
    bad = Client().post(REPORT, data=json.dumps(payload), content_type="application/json")
    both = Client().post(
        REPORT,
        data=json.dumps(
            {**report_payload(alarm_id="B-3"), "snapshot_base64": base64.b64encode(image_bytes()).decode()}
        ),
        content_type="application/json",
    )
    assert bad.json()["msg"] == "snapshot_base64: Is not valid base64."
    assert both.json()["msg"] == "snapshot_url: Send either snapshot_url or an image, not both."


def test_the_store_down_keeps_the_alarm_and_a_retry_finishes_it(settings: Any, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the store's folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": blocked}},
    }
    data = image_bytes()

    response = report_with_image("P-1", data)

    assert response.status_code == 200
    assert response.json()["data"] == {"alarm_id": "P-1", "created": True}
    alarm = AlarmEvent.objects.get(pk="P-1")
    assert alarm.snapshot_status == SnapshotStatus.PENDING
    pending = PendingSnapshot.objects.get(alarm=alarm)
    assert bytes(pending.data) == data
    assert "Error" in pending.last_error

    call_command("retry_snapshots")  # still down
    assert PendingSnapshot.objects.get(alarm=alarm).attempts == 2

    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "ok"},
        },
    }
    call_command("retry_snapshots")

    alarm.refresh_from_db()
    assert alarm.snapshot_status == SnapshotStatus.STORED
    assert (tmp_path / "ok" / alarm.snapshot_url).read_bytes() == data
    assert not PendingSnapshot.objects.exists()


# --- retention --------------------------------------------------------------------------


def stored_alarm(alarm_id: str, event_time: Any, **fields: Any) -> AlarmEvent:
    storage = storages["snapshots"]
    key = storage.save(f"snapshots/x/{alarm_id}.jpg", io.BytesIO(b"jpeg"))
    thumb = storage.save(f"snapshots/x/{alarm_id}.thumb.jpg", io.BytesIO(b"thumb"))
    return make_alarm(
        alarm_id=alarm_id, event_time=event_time, snapshot_url=key, thumbnail_key=thumb,
        snapshot_status=SnapshotStatus.STORED, **fields,
    )  # fmt: skip


def test_prune_deletes_old_unpinned_snapshots_only(snapshot_dir: Path, capsys: Any) -> None:
    now = aware("2026-11-27 12:00:00")
    stored_alarm("OLD-1", now - timedelta(days=91))
    stored_alarm("OLD-PINNED", now - timedelta(days=200), snapshot_pinned=True)
    stored_alarm("EDGE-OF-CUTOFF", now - timedelta(days=90))
    stored_alarm("NEW-1", now - timedelta(days=1))
    stored_alarm("NEW-2", now - timedelta(days=2))

    with time_machine.travel(now, tick=False):
        call_command("prune_snapshots", "--older-than", "90d")

    statuses = dict(AlarmEvent.objects.values_list("alarm_id", "snapshot_status"))
    assert statuses == {
        "OLD-1": "PRUNED", "OLD-PINNED": "STORED", "EDGE-OF-CUTOFF": "STORED", "NEW-1": "STORED", "NEW-2": "STORED",
    }  # fmt: skip
    assert not (snapshot_dir / "snapshots/x/OLD-1.jpg").exists()
    assert not (snapshot_dir / "snapshots/x/OLD-1.thumb.jpg").exists()
    assert (snapshot_dir / "snapshots/x/OLD-PINNED.jpg").exists()
    out = capsys.readouterr().out
    assert "1 of 5 stored snapshot(s)" in out
    assert "pruned 1 snapshot(s)" in out


def test_a_dry_run_deletes_nothing(snapshot_dir: Path, capsys: Any) -> None:
    stored_alarm("OLD-2", timezone.now() - timedelta(days=100))
    stored_alarm("NEW-3", timezone.now())
    call_command("prune_snapshots", "--older-than", "90d", "--dry-run")
    assert AlarmEvent.objects.get(pk="OLD-2").snapshot_status == "STORED"
    assert (snapshot_dir / "snapshots/x/OLD-2.jpg").exists()
    assert "1 of 2 stored snapshot(s)" in capsys.readouterr().out


def test_prune_stops_before_deleting_most_snapshots_unless_forced(snapshot_dir: Path) -> None:
    for number in range(3):
        stored_alarm(f"OLD-{number}", timezone.now() - timedelta(days=100))
    stored_alarm("NEW-4", timezone.now())

    with pytest.raises(CommandError, match="refusing to delete 3 of 4 snapshots"):
        call_command("prune_snapshots", "--older-than", "90d")
    assert AlarmEvent.objects.filter(snapshot_status="STORED").count() == 4

    call_command("prune_snapshots", "--older-than", "90d", "--force")
    assert AlarmEvent.objects.filter(snapshot_status="PRUNED").count() == 3


def test_prune_walks_every_batch_even_where_times_are_equal(snapshot_dir: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr("alarms.management.commands.prune_snapshots.CHUNK", 2)
    old = timezone.now() - timedelta(days=100)
    for number in range(5):
        stored_alarm(f"SAME-{number}", old)  # one event time: the walk goes on by alarm id
    stored_alarm("LATER", old + timedelta(seconds=1))

    call_command("prune_snapshots", "--older-than", "90d", "--force")

    assert set(AlarmEvent.objects.values_list("snapshot_status", flat=True)) == {"PRUNED"}


def test_prune_needs_a_sane_age(snapshot_dir: Path) -> None:
    with pytest.raises(CommandError, match="--older-than: an age is a number of days"):
        call_command("prune_snapshots", "--older-than", "soon")


def test_admin_shows_the_thumbnail_and_lets_staff_pin(snapshot_dir: Path, admin_user_obj: Any) -> None:
    report_with_image("AD-1", image_bytes())
    client = Client()
    client.force_login(admin_user_obj)

    listing = client.get("/admin/alarms/alarmevent/").content.decode()
    page = client.get("/admin/alarms/alarmevent/AD-1/change/").content.decode()
    inlines = {f"{name}-{count}_FORMS": "0" for name in ("ext", "handle_logs") for count in ("TOTAL", "INITIAL")}
    handling = {"handle_status": "UNHANDLED", "alarm_status": "NEW", "handle_remark": ""}
    client.post("/admin/alarms/alarmevent/AD-1/change/", {**handling, "snapshot_pinned": "on", **inlines})

    assert "AD-1.thumb.jpg" in listing
    assert "AD-1.thumb.jpg" in page
    assert "AD-1.jpg?exp=" in page
    alarm = AlarmEvent.objects.get(pk="AD-1")
    assert alarm.snapshot_pinned is True
    assert not alarm.handle_logs.exists()


@pytest.mark.parametrize("query", ["exp=" + "9" * 5000 + "&sig=x", "exp=%C2%B2&sig=x", "exp=&sig=", "sig=only"])
def test_odd_link_parameters_are_404_not_500(snapshot_dir: Path, query: str) -> None:
    report_with_image("Q-1", image_bytes())
    assert Client().get(f"/files/snapshots/2026/11/27/cam-01/Q-1.jpg?{query}").status_code == 404


def test_a_signed_link_to_a_folder_is_404(snapshot_dir: Path) -> None:
    from alarms.snapshots import link

    report_with_image("Q-2", image_bytes())
    assert Client().get(link("snapshots/2026/11/27")).status_code == 404
    assert Client().get(link("snapshots/2026/11/27/cam-01/Q-2.jpg/inside")).status_code == 404


# --- alarm retention (prune_alarms) ---------------------------------------------------------


def test_alarm_retention_is_off_by_default(snapshot_dir: Path, capsys: Any) -> None:
    make_alarm(alarm_id="ANCIENT", event_time=timezone.now() - timedelta(days=3000), handle_status="HANDLED")
    call_command("prune_alarms")
    assert AlarmEvent.objects.filter(pk="ANCIENT").exists()
    assert "alarm retention is off" in capsys.readouterr().out


def test_retention_deletes_closed_old_alarms_in_batches_and_keeps_open_and_pinned_ones(
    snapshot_dir: Path, settings: Any
) -> None:
    settings.ALARM_RETENTION_DAYS = 180
    old = timezone.now() - timedelta(days=200)
    for number in range(5):  # one event time for all: the batches go on by alarm id
        alarm = stored_alarm(f"DONE-{number}", old, handle_status="HANDLED", alarm_status="RESOLVED")
        AlarmEventExt.objects.create(alarm=alarm, ext_data={"n": number})
        AlarmHandleLog.objects.create(
            alarm=alarm, actor_name="li.na", from_handle_status="UNHANDLED", to_handle_status="HANDLED",
            from_alarm_status="NEW", to_alarm_status="RESOLVED", created_at=old,
        )  # fmt: skip
    make_alarm(alarm_id="FALSE-OLD", event_time=old, handle_status="IGNORED")
    make_alarm(alarm_id="OPEN-OLD", event_time=old)
    make_alarm(alarm_id="BUSY-OLD", event_time=old, handle_status="HANDLING")
    make_alarm(alarm_id="PINNED-OLD", event_time=old, handle_status="HANDLED", snapshot_pinned=True)
    make_alarm(alarm_id="DONE-RECENT", event_time=timezone.now() - timedelta(days=10), handle_status="HANDLED")
    roll_up_day(counts.local_date(old))  # the handling logs made the DONE alarms' timings

    call_command("prune_alarms", "--batch", "2")

    assert set(AlarmEvent.objects.values_list("pk", flat=True)) == {"OPEN-OLD", "BUSY-OLD", "PINNED-OLD", "DONE-RECENT"}
    assert not AlarmTiming.objects.exists()
    assert not AlarmTimingDay.objects.get(day=counts.local_date(old)).fresh  # its rollup counted them
    assert not AlarmEventExt.objects.exists()
    assert not AlarmHandleLog.objects.exists()
    assert not list((snapshot_dir / "snapshots/x").iterdir())  # the deleted alarms' images went with them


def test_a_retention_dry_run_counts_and_deletes_nothing(snapshot_dir: Path, capsys: Any) -> None:
    make_alarm(alarm_id="DONE-OLD", event_time=timezone.now() - timedelta(days=100), handle_status="HANDLED")
    make_alarm(alarm_id="OPEN-OLDER", event_time=timezone.now() - timedelta(days=100))

    call_command("prune_alarms", "--older-than", "90d", "--dry-run")

    assert AlarmEvent.objects.count() == 2
    assert "1 closed, unpinned alarm(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args", [["--older-than", "soon"], ["--older-than", "0d"], ["--older-than", "9d", "--batch", "0"]]
)
def test_retention_needs_sane_arguments(snapshot_dir: Path, args: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("prune_alarms", *args)


def test_a_batch_leaves_what_was_pinned_or_reopened_after_the_walk_read_it(snapshot_dir: Path) -> None:
    from alarms import retention

    old = timezone.now() - timedelta(days=200)
    stored_alarm("PIN-LATE", old, snapshot_pinned=True)  # pinned after the walk listed it
    stored_alarm("PRUNE-ME", old)
    make_alarm(alarm_id="REOPENED", event_time=old, handle_status="HANDLING")
    make_alarm(alarm_id="CLOSED", event_time=old, handle_status="HANDLED")

    assert retention.prune_snapshots(["PIN-LATE", "PRUNE-ME"]) == 1
    assert retention.delete_alarms([(old, "REOPENED"), (old, "CLOSED")]) == 1

    assert dict(AlarmEvent.objects.values_list("pk", "snapshot_status")) == {
        "PIN-LATE": "STORED", "PRUNE-ME": "PRUNED", "REOPENED": "NONE",
    }  # fmt: skip
    assert (snapshot_dir / "snapshots/x/PIN-LATE.jpg").exists()
    assert not (snapshot_dir / "snapshots/x/PRUNE-ME.jpg").exists()
