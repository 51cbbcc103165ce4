"""Fan-out: a socket that falls behind is closed with 1013 and costs the others nothing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvicorn
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings

from conftest import free_port, make_user, run_server
from vsp.compat.tokens import issue_tokens
from vsp.fanout import LAGGING, Hub, Outbox, framed
from vsp.fanout import hub as fanout_hub
from vsp.publish import build_message, encode, group_channel, publisher


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


async def receive_seqs(client: Any, count: int, *, timeout: float = 5) -> list[int]:
    return [json.loads(await asyncio.wait_for(client.recv(), timeout=timeout))["seq"] for _ in range(count)]


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
            # The reader reads as the frames come (its library stops reading 16 frames ahead of the caller).
            reading = asyncio.ensure_future(receive_seqs(reader, 200, timeout=10))
            for seq in range(1, 201):  # 64 KB frames: 13 MB, far more than the stalled client's buffers hold
                await asyncio.to_thread(publisher.send, message(seq, padding=64 * 1024))
            seqs = await reading
            took = time.monotonic() - started
            # The server has let it go by now: reading it ends (a timeout here would fail the test).
            code = await asyncio.to_thread(close_code, stalled, 10)
        stalled.close()

    assert seqs == list(range(1, 201))
    assert took < 10
    # Told, if its buffers let the close frame through before the connection was dropped; closed either way.
    assert code in (LAGGING, None), code


@contextlib.asynccontextmanager
async def sansio_server() -> AsyncIterator[str]:
    """The service's ASGI app on uvicorn's websockets-sansio protocol (as the ws processes run it), served
    from this event loop, so that this loop's hub is the server's."""
    from vsp.asgi import application

    config = uvicorn.Config(
        application, host="127.0.0.1", port=free_port(), ws="websockets-sansio", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.025)
        assert server.started
        yield f"ws://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


@pytest.mark.django_db(transaction=True)
async def test_under_the_ws_processes_protocol_frames_are_framed_once_and_written_as_bytes() -> None:
    """A plain socket (no compression) gets each event as bytes framed once for every socket, messages
    that came together in one write; one that negotiated compression is sent to as before. Both in order."""
    user = await sync_to_async(make_user)("boss", superuser=True)
    token = (await sync_to_async(issue_tokens)(user)).access_token
    async with sansio_server() as base:
        url = f"{base}/ws/alerts?token={token}"
        async with (
            websockets.connect(url, compression=None) as plain,
            websockets.connect(url, compression=None) as other,
            websockets.connect(url) as compressed,  # permessage-deflate, as browsers offer it
        ):
            hub = fanout_hub()
            for _ in range(100):
                if len(hub.outboxes) == 3:
                    break
                await asyncio.sleep(0.02)
            wires = sorted(outbox._wire is not None for outbox in hub.outboxes)
            assert wires == [False, True, True]

            hub.dispatch(message(1))
            hub.dispatch_all([message(2), message(3, padding=200_000), message(4)])  # one write of ~200 KB
            for client in (plain, other, compressed):
                assert await receive_seqs(client, 4) == [1, 2, 3, 4]
            frame = message(5)["alerts_frame"]
            assert framed(frame) is framed(frame)  # framed once, whichever socket asks


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not settings.REDIS_URL, reason="the events arrive through Redis (CI has it)")
async def test_events_published_together_are_dispatched_together_in_order() -> None:
    user = await sync_to_async(make_user)("boss", superuser=True)
    token = (await sync_to_async(issue_tokens)(user)).access_token
    async with (
        sansio_server() as base,
        websockets.connect(f"{base}/ws/alerts?token={token}", compression=None) as client,
    ):
        batches: list[int] = []
        hub = fanout_hub()
        dispatch_all = hub.dispatch_all

        def counting(messages: list[dict[str, Any]]) -> None:
            batches.append(len(messages))
            dispatch_all(messages)

        hub.dispatch_all = counting  # type: ignore[method-assign]
        redis_client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            async with redis_client.pipeline(transaction=False) as pipeline:
                for seq in range(1, 41):  # one round trip: they reach the subscriber together
                    pipeline.publish(group_channel(), encode(message(seq)))
                await pipeline.execute()
            assert await receive_seqs(client, 40) == list(range(1, 41))
        finally:
            await redis_client.aclose()
    assert sum(batches) == 40
    assert max(batches) > 1  # some were dispatched together
    assert max(batches) <= 16  # and never more than _BATCH
