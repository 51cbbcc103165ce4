"""An alarm reported to one server process reaches a socket held by another, through Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings

from alarms.tests.factories import report_payload
from conftest import make_user, run_server
from vsp.compat.tokens import issue_tokens

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="two processes share events only through Redis (CI has it)"),
]


@pytest.fixture
def two_servers(transactional_db: None) -> Iterator[tuple[str, str]]:
    with run_server() as first, run_server() as second:
        yield first, second


async def test_an_alarm_reported_to_one_process_reaches_a_socket_on_the_other(two_servers: tuple[str, str]) -> None:
    reporting, watching = two_servers
    user = await sync_to_async(make_user)("boss", superuser=True)
    token = (await sync_to_async(issue_tokens)(user)).access_token
    ws_url = watching.replace("http://", "ws://") + f"/ws/alerts?token={token}"

    async with websockets.connect(ws_url, open_timeout=10) as socket, httpx.AsyncClient(base_url=reporting) as http:
        response = await http.post("/api/ai/alert/edge/report", json=report_payload(alarm_id="CROSS-1"), timeout=10)
        assert response.json()["data"] == {"alarm_id": "CROSS-1", "created": True}

        # The box came online with its report: that event comes first, then the alarm.
        online = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))

    assert online["type"] == "device.status"
    assert frame["type"] == "alarm.created"
    assert frame["data"]["alarmId"] == "CROSS-1"
