"""Fan-out: a socket that falls behind is closed with 1013 and costs the others nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings

from conftest import make_user, run_server
from vsp.compat.tokens import issue_tokens
from vsp.fanout import LAGGING, Hub, Outbox
from vsp.publish import build_message, publisher


def message(seq: int, padding: int = 0) -> dict[str, Any]:
    data = {"alarmId": f"F-{seq}", "alarmLevel": 1, "padding": "x" * padding}
    return build_message(seq, "alarm.created", data, json.dumps(data))


async def test_an_outbox_that_cannot_write_is_closed_without_holding_up_the_others() -> None:
    written: list[str] = []
    closes: list[dict[str, Any]] = []
    never = asyncio.Event()

    async def reading(event: dict[str, Any]) -> None:
        written.append(event["text"])

    async def stuck(event: dict[str, Any]) -> None:
        if event["type"] == "websocket.send":
            await never.wait()  # a client whose receive window stays full
        closes.append(event)

    hub = Hub()

    def alerts(queued: dict[str, Any]) -> str:
        return str(queued["alerts_frame"])

    good, bad = Outbox(reading, accepts=alerts, limit=5), Outbox(stuck, accepts=alerts, limit=5)
    hub.outboxes |= {good, bad}
    good.start()
    bad.start()
    for seq in range(1, 51):
        hub.dispatch(message(seq))
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)

    assert [json.loads(frame)["seq"] for frame in written] == list(range(1, 51))
    assert bad.closed
    assert closes == [{"type": "websocket.close", "code": LAGGING, "reason": "lagging: reconnect and catch up"}]
    await good.stop()
    await bad.stop()


async def test_a_socket_whose_writes_wait_a_while_gets_every_frame_in_order() -> None:
    # A transport that fills up and drains again: sends wait until it is writable, as the server's do.
    writable = asyncio.Event()
    writable.set()
    written: list[int] = []

    async def send(event: dict[str, Any]) -> None:
        await writable.wait()
        written.append(json.loads(event["text"])["seq"])
        if len(written) % 7 == 0:
            writable.clear()
            asyncio.get_running_loop().call_later(0.01, writable.set)

    outbox = Outbox(send, accepts=lambda queued: str(queued["alerts_frame"]), limit=100)
    outbox.start()
    await asyncio.sleep(0)
    for seq in range(1, 61):
        outbox.offer(message(seq))
        if seq % 5 == 0:
            await asyncio.sleep(0.004)
    for _ in range(100):
        if len(written) == 60:
            break
        await asyncio.sleep(0.01)

    assert written == list(range(1, 61))
    assert not outbox.closed
    await outbox.stop()


def stalled_client(url: str, token: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then reads nothing, with a tiny receive buffer."""
    host, port = url.removeprefix("http://").split(":")
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    client.sendall(
        f"GET /ws/alerts?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += client.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return client


def close_code(client: socket.socket, seconds: float) -> int | None:
    """Read what the server sent until it closed the connection: the close frame's code, or None if reset."""
    client.settimeout(seconds)
    data = b""
    try:
        while chunk := client.recv(1 << 20):
            data += chunk
    except ConnectionResetError:
        return None
    position = 0
    while position + 2 <= len(data):
        opcode, length = data[position] & 0x0F, data[position + 1] & 0x7F
        position += 2
        if length == 126:
            (length,), position = struct.unpack("!H", data[position : position + 2]), position + 2
        elif length == 127:
            (length,), position = struct.unpack("!Q", data[position : position + 8]), position + 8
        if opcode == 0x8:
            return int(struct.unpack("!H", data[position : position + 2])[0])
        position += length
    return None


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not settings.REDIS_URL, reason="the server process receives events through Redis (CI has it)")
async def test_a_client_that_stops_reading_is_closed_and_the_others_keep_up() -> None:
    user = await sync_to_async(make_user)("boss", superuser=True)
    token = (await sync_to_async(issue_tokens)(user)).access_token
    with run_server({"WEBSOCKET_SEND_QUEUE": "20"}) as url:
        stalled = await asyncio.to_thread(stalled_client, url, token)
        async with websockets.connect(url.replace("http://", "ws://") + f"/ws/alerts?token={token}") as reader:
            await asyncio.sleep(0.5)  # both subscribed
            started = time.monotonic()
            for seq in range(1, 201):  # 64 KB frames: 13 MB, far more than the stalled client's buffers hold
                await asyncio.to_thread(publisher.send, message(seq, padding=64 * 1024))
            seqs = [json.loads(await asyncio.wait_for(reader.recv(), timeout=10))["seq"] for _ in range(200)]
            took = time.monotonic() - started
            # The server has let it go by now: reading it ends (a timeout here would fail the test).
            code = await asyncio.to_thread(close_code, stalled, 10)
        stalled.close()

    assert seqs == list(range(1, 201))
    assert took < 10
    # Told, if its buffers let the close frame through before the connection was dropped; closed either way.
    assert code in (LAGGING, None), code
