"""Snapshots end to end with SNAPSHOT_STORAGE=cos, against the local COS fake (never real COS)."""

from __future__ import annotations

import base64
import io
import json
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.test import Client
from PIL import Image
from qcloud_cos import cos_client  # type: ignore[import-untyped]

from alarms.models import AlarmEvent, PendingSnapshot, SnapshotStatus
from alarms.tests.factories import report_payload
from vsp.cos_fake import PRODUCTION, FakeCOS, assert_offline

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cos_settings(cos_fake: FakeCOS, settings: Any, monkeypatch: pytest.MonkeyPatch) -> FakeCOS:
    """Production-shaped COS settings; only the scheme and a loopback proxy differ."""
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    settings.SNAPSHOT_STORAGE = "cos"
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {
            "BACKEND": "vsp.cos_storage.TencentCOSStorage",
            "OPTIONS": {"scheme": "http", "proxies": cos_fake.proxies},
        },
    }
    # The SDK sleeps 1, 2, 3… s between retries; count the waits instead of spending them.
    monkeypatch.setattr(cos_client, "time", SimpleNamespace(sleep=lambda seconds: None, time=time.time))
    from alarms.snapshots import snapshot_storage

    assert_offline(snapshot_storage())  # type: ignore[arg-type]
    return cos_fake


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def report(alarm_id: str, data: bytes) -> Any:
    payload = {
        **report_payload(alarm_id=alarm_id, snapshot_url=None),
        "snapshot_base64": base64.b64encode(data).decode(),
    }
    return Client().post("/api/ai/alert/edge/report", data=json.dumps(payload), content_type="application/json")


def test_an_uploaded_image_lands_in_cos_and_its_presigned_link_opens(cos_settings: FakeCOS, staff_client: Any) -> None:
    data = jpeg()

    assert report("C-1", data).json()["data"] == {"alarm_id": "C-1", "created": True}

    alarm = AlarmEvent.objects.get(pk="C-1")
    assert (alarm.snapshot_status, alarm.snapshot_url) == (SnapshotStatus.STORED, "snapshots/2026/11/27/cam-01/C-1.jpg")
    hosts = {host for method, host, _path in cos_settings.requests if method == "PUT"}
    assert hosts == {"vsp-snapshots-1250000000.cos.ap-beijing.myqcloud.com"}
    body = staff_client.get("/api/v1/alerts/C-1/").json()
    assert "q-signature=" in body["snapshot_url"]
    assert body["snapshot_url"].startswith("http://vsp-snapshots-1250000000.cos.ap-beijing.myqcloud.com/")
    fetched = httpx.get(body["snapshot_url"], proxy=cos_settings.proxy, timeout=10)
    assert (fetched.status_code, fetched.content) == (200, data)
    thumbnail = httpx.get(body["thumbnail_url"], proxy=cos_settings.proxy, timeout=10)
    assert thumbnail.status_code == 200
    assert Image.open(io.BytesIO(thumbnail.content)).size[0] <= 320


def test_cos_down_keeps_the_alarm_pending_and_the_retry_completes(cos_settings: FakeCOS) -> None:
    data = jpeg()
    cos_settings.fail_next(1, status=503, method="PUT")  # the one quick try the edge waits for

    response = report("C-2", data)

    assert response.json()["data"] == {"alarm_id": "C-2", "created": True}
    assert AlarmEvent.objects.get(pk="C-2").snapshot_status == SnapshotStatus.PENDING
    assert PendingSnapshot.objects.filter(alarm_id="C-2").exists()

    cos_settings.fail_next(2, status=503, method="PUT")  # transient: the retry's own retries get through
    call_command("retry_snapshots")

    alarm = AlarmEvent.objects.get(pk="C-2")
    assert alarm.snapshot_status == SnapshotStatus.STORED
    assert not PendingSnapshot.objects.exists()
    assert cos_settings.pending_failures == 0
