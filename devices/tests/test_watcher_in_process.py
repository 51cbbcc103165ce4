"""`make run`'s one process runs the device watcher itself: a quiet box goes OFFLINE and its socket hears it."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.utils import timezone

from alarms.tests.factories import make_device
from conftest import make_user, run_server
from devices.models import EdgeDevice
from vsp.compat.tokens import issue_tokens

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_one_process_of_make_run_flips_a_quiet_box_offline_and_says_so() -> None:
    user = await sync_to_async(make_user)("boss", superuser=True)
    token = (await sync_to_async(issue_tokens)(user)).access_token
    # As `make run` has it: no Redis, so events reach only this process's own sockets.
    embedded = {"REDIS_URL": "", "JOB_BROKER_URL": "", "DEVICE_WATCH_INTERVAL": "1"}
    with run_server(embedded) as url:
        async with websockets.connect(url.replace("http://", "ws://") + f"/ws/alerts?token={token}") as socket:
            quiet_since = timezone.now() - timedelta(minutes=10)
            await sync_to_async(make_device)("quiet-box", status=EdgeDevice.Status.ONLINE, last_seen=quiet_since)
            frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))

    assert frame["type"] == "device.status"
    assert (frame["data"]["deviceId"], frame["data"]["status"]) == ("quiet-box", "OFFLINE")
    device = await EdgeDevice.objects.aget(pk="quiet-box")
    assert device.status == EdgeDevice.Status.OFFLINE
