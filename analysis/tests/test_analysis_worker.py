"""The second opinion through the real processes: a server, Celery workers on Redis, dashboards' sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from alarms.tests.factories import make_alarm, report_payload
from analysis import services
from analysis.models import AlarmLlmAnalysis
from analysis.tests.fake_model import FakeModel, fake_model
from conftest import make_user, run_server
from vsp.compat.tokens import issue_tokens
from vsp.models import DashboardEvent
from vsp.tests.test_jobs import job_processes, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="workers and servers share jobs and events through Redis"),
]
Status = AlarmLlmAnalysis.Status


@pytest.fixture
def model() -> Iterator[FakeModel]:
    with fake_model() as fake:
        yield fake


def analysis_env(model: FakeModel, **more: str) -> dict[str, str]:
    return {
        "AI_MODEL_NAME": "qwen-vl-max",
        "AI_MODEL_URL": model.url,
        "AI_MODEL_RATE": "1000/s",
        "AI_DISPATCH_INTERVAL": "1",
        **more,
    }


async def next_frame(socket: websockets.ClientConnection, wanted: str) -> dict[str, object]:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
        if frame["type"] == wanted:
            return dict(frame)


async def test_a_reported_alarm_is_analysed_by_a_worker_and_both_socket_paths_hear_it(
    model: FakeModel, tmp_path: Path
) -> None:
    user = await sync_to_async(make_user)("boss", superuser=True)
    token = (await sync_to_async(issue_tokens)(user)).access_token
    snapshot = model.url.removesuffix("/v1") + "/snapshot.jpg"
    env = analysis_env(model)
    # The report writes the request; the scheduler's dispatch sends it; a worker runs it.
    with job_processes(tmp_path, "worker", "scheduler", extra_env=env), run_server(env) as base_url:
        ws = base_url.replace("http://", "ws://")
        async with (
            websockets.connect(f"{ws}/ws/alerts?token={token}", open_timeout=10) as native,
            websockets.connect(f"{ws}/infra/ws?token={token}", open_timeout=10) as yudao,
            httpx.AsyncClient(base_url=base_url) as http,
        ):
            payload = report_payload(alarm_id="AI-1", alarm_type="intrusion", snapshot_url=snapshot)
            response = await http.post("/api/ai/alert/edge/report", json=payload, timeout=10)
            assert response.json()["data"] == {"alarm_id": "AI-1", "created": True}
            on_native = await next_frame(native, "alarm.analyzed")
            on_yudao = await next_frame(yudao, "alarm.analyzed")

    data = on_native["data"]
    assert isinstance(data, dict)
    assert data["alarmId"] == "AI-1"
    assert data["analysis"]["status"] == "DONE"
    assert (data["analysis"]["verdict"], data["analysis"]["promptVersion"]) == ("FALSE_ALARM", "intrusion-v1")
    assert json.loads(str(on_yudao["content"])) == data
    stored = await AlarmLlmAnalysis.objects.aget(alarm_id="AI-1")
    assert (stored.status, stored.attempts, stored.requested_by) == (Status.DONE, 1, "auto")
    assert [seen.image for seen in model.seen] == ["inline"]


def test_a_worker_killed_mid_job_leaves_the_job_to_another_which_stores_one_result(
    model: FakeModel, tmp_path: Path, settings: Any
) -> None:
    settings.AI_MODEL_NAME, settings.AI_MODEL_URL = "qwen-vl-max", model.url  # for the request made here
    alarm = make_alarm(snapshot_url=model.url.removesuffix("/v1") + "/snapshot.jpg")
    model.then("hang")  # the first worker's call never comes back
    env = analysis_env(model, AI_MODEL_TIMEOUT="30")
    with job_processes(tmp_path, "worker", extra_env=env) as (first,):
        analysis = services.request(alarm, requested_by="boss")  # committed at once: its job is sent
        assert services.enqueue(analysis.pk)  # and sent twice, as a dispatch might: the copy finds it claimed
        assert model.received.wait(30), "no worker asked the model"
        assert wait_for(lambda: AlarmLlmAnalysis.objects.get(pk=analysis.pk).status == Status.RUNNING, 10)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    assert AlarmLlmAnalysis.objects.get(pk=analysis.pk).status == Status.RUNNING  # nobody finished it

    # The dead run's lease runs out (AI_MODEL_TIMEOUT + 30 s), and its message is as old as the grace
    # before a message is sent again: here moved back instead of waited for.
    long_ago = timezone.now() - timedelta(seconds=settings.AI_SWEEP_GRACE + 1)
    AlarmLlmAnalysis.objects.filter(pk=analysis.pk).update(lease_until=long_ago, sent_at=long_ago)
    with job_processes(tmp_path, "worker", "scheduler", extra_env=env):
        # The scheduler's dispatch sends it again, and the new worker runs it.
        finished = wait_for(lambda: AlarmLlmAnalysis.objects.get(pk=analysis.pk).status == Status.DONE, 60)
    assert finished, "the job was not run again"
    stored = AlarmLlmAnalysis.objects.get(pk=analysis.pk)
    assert (stored.attempts, stored.verdict) == (2, "FALSE_ALARM")
    assert AlarmLlmAnalysis.objects.filter(alarm=alarm).count() == 1
    assert len(model.seen) == 2
    analyzed = DashboardEvent.objects.filter(type="alarm.analyzed")
    assert [json.loads(event.data)["analysis"]["id"] for event in analyzed] == [analysis.pk]
