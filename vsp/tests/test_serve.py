"""The production process set as `make serve` runs it: one port, events across processes, a clean SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings

from alarms.models import AlarmEvent
from alarms.tests.factories import report_payload
from conftest import _database_url, free_port, make_user
from vsp.compat.tokens import issue_tokens

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the set's processes share events through Redis (CI has it)"),
]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, wherever its session (honcho starts each process in a session of its own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    running = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                running.add(pid)
    return running


@contextlib.contextmanager
def serving_set() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`make serve` on a free port against the test database, in production mode; yields its URL and process."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": "serve-test-key-not-the-default-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1",
        "EDGE_AUTH_REQUIRED": "0",
        # The limits count in the shared Redis, across tests; these tests are not about them.
        "EDGE_RATE_PER_IP": "1000000/s",
        "EDGE_RATE_PER_DEVICE": "1000000/s",
        "LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"PORT={port}", "HOST=127.0.0.1"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"make serve exited with {process.returncode}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the serving set did not answer /health in 2 minutes"
            time.sleep(0.25)
        yield url, process
    finally:
        pids = descendants(process.pid) | {process.pid}
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while alive(pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in alive(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()


async def token() -> str:
    user = await sync_to_async(make_user)("boss", superuser=True)
    return (await sync_to_async(issue_tokens)(user)).access_token


async def test_an_alarm_reported_to_the_web_process_reaches_a_socket_on_a_ws_process() -> None:
    access = await token()
    with serving_set() as (url, _process):
        socket_url = url.replace("http://", "ws://") + f"/ws/alerts?token={access}"
        async with websockets.connect(socket_url, open_timeout=10) as socket, httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/api/ai/alert/edge/report", json=report_payload(alarm_id="SET-1"), timeout=10)
            assert response.json()["data"] == {"alarm_id": "SET-1", "created": True}
            first = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            second = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            # Multipart the servers cannot read still reaches Django, which answers in the envelope.
            malformed = [
                ("multipart/form-data; boundary=XYZ", b"--ABC\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"),
                ("multipart/form-data", b"garbage"),
            ]
            answers = [
                await http.post("/api/ai/alert/edge/report", content=body, headers={"Content-Type": kind})
                for kind, body in malformed
            ]

    # Through the one port: nginx sent the report to granian and the socket to uvicorn, Redis in between.
    assert (first["type"], first["data"]["deviceId"]) == ("device.status", "cam-01")
    assert (second["type"], second["data"]["alarmId"], second["seq"]) == ("alarm.created", "SET-1", first["seq"] + 1)
    for answer in answers:
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["code"] == 400


def test_sigterm_with_reports_in_flight_stops_every_process_in_10_s_and_loses_nothing_acknowledged() -> None:
    acknowledged: list[str] = []
    refused: list[str] = []
    stop = threading.Event()

    def keep_reporting(worker: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            for number in range(100_000):
                if stop.is_set():
                    return
                alarm_id = f"TERM-{worker}-{number}"
                try:
                    body = report_payload(alarm_id=alarm_id, device_id=f"term-cam-{worker}")
                    response = client.post("/api/ai/alert/edge/report", json=body)
                except httpx.TransportError:
                    refused.append(alarm_id)
                    time.sleep(0.05)
                    continue
                (acknowledged if response.status_code == 200 else refused).append(alarm_id)

    with serving_set() as (url, process):
        workers = [threading.Thread(target=keep_reporting, args=(number, url)) for number in range(8)]
        for worker in workers:
            worker.start()
        time.sleep(2)
        pids = descendants(process.pid) | {process.pid}
        before_term = len(acknowledged)
        os.killpg(process.pid, signal.SIGTERM)
        sent = time.monotonic()
        while alive(pids) and time.monotonic() - sent < 12:
            time.sleep(0.05)
        stopped_in = time.monotonic() - sent
        still_running = alive(pids)
        stop.set()
        for worker in workers:
            worker.join()

    assert not still_running, f"still running 12 s after SIGTERM: {still_running}"
    assert stopped_in <= 10
    assert before_term > 50  # the set was busy when it was told to stop
    stored = set(AlarmEvent.objects.filter(alarm_id__startswith="TERM-").values_list("alarm_id", flat=True))
    assert set(acknowledged) <= stored  # every answered report is there; unanswered ones the box sends again
