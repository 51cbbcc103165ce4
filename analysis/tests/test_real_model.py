"""Opt-in: one analysis against a real OpenAI-compatible endpoint (DashScope's Qwen-VL, OpenAI, Ollama…).

Runs only when AI_MODEL_NAME is set in the environment, with AI_MODEL_URL and AI_MODEL_KEY as the
endpoint needs them, e.g.

    AI_MODEL_NAME=qwen-vl-max AI_MODEL_KEY=sk-… make test
    AI_MODEL_NAME=llava AI_MODEL_URL=http://127.0.0.1:11434/v1 make test

It sends a generated snapshot of a yard with a figure in it, inline, through the same code a worker
runs, and checks that the model's answer was read and stored.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from alarms import snapshots
from alarms.tests.factories import make_alarm
from analysis import services
from analysis.models import AlarmLlmAnalysis

logger = logging.getLogger(__name__)

REAL = {name: os.environ.get(f"AI_MODEL_{name}", "") for name in ("NAME", "URL", "KEY")}

pytestmark = pytest.mark.skipif(not REAL["NAME"], reason="set AI_MODEL_NAME (and AI_MODEL_URL, AI_MODEL_KEY) to run")


def yard_with_a_figure() -> bytes:
    """A 640x360 JPEG: grey ground, a fence line, and a dark upright figure beyond it."""
    image = Image.new("RGB", (640, 360), (150, 150, 140))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 640, 120), fill=(170, 190, 210))  # sky
    draw.line((0, 200, 640, 200), fill=(60, 60, 60), width=4)  # the fence
    draw.ellipse((300, 120, 330, 150), fill=(40, 30, 30))  # head
    draw.rectangle((296, 150, 334, 250), fill=(40, 30, 30))  # body
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.mark.django_db
def test_a_real_model_answers_and_its_answer_is_stored(settings: Any, tmp_path: Path) -> None:
    settings.AI_MODEL_NAME = REAL["NAME"]
    if REAL["URL"]:
        settings.AI_MODEL_URL = REAL["URL"].rstrip("/")
    settings.AI_MODEL_KEY = REAL["KEY"]
    settings.AI_MODEL_IMAGE = "inline"
    settings.AI_MODEL_RATE = "1000/m"
    settings.AI_MAX_ATTEMPTS = 1
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    key = snapshots.snapshot_storage().save("snapshots/2026/12/01/cam-01/REAL-1.jpg", ContentFile(yard_with_a_figure()))
    alarm = make_alarm(alarm_id="REAL-1", alarm_type="intrusion", alarm_level=1, snapshot_url=key)

    outcome = services.run(services.request(alarm, requested_by="smoke test").pk)

    analysis = AlarmLlmAnalysis.objects.get(alarm=alarm)
    assert outcome.status == "done", analysis.error
    assert analysis.status == AlarmLlmAnalysis.Status.DONE
    assert analysis.verdict in {"REAL", "FALSE_ALARM", "UNCERTAIN"}
    assert analysis.model_name == REAL["NAME"]
    assert analysis.prompt_version == "intrusion-v1"
    assert analysis.latency_ms is not None
    assert analysis.latency_ms > 0
    assert analysis.raw_response is not None
    # What the model said, for whoever runs this by hand (pytest --log-cli-level=INFO shows it).
    logger.info(
        "%s %s risk %s: %s (parse error: %s; tokens %s+%s)", analysis.verdict, analysis.confidence,
        analysis.risk_level, analysis.description, analysis.parse_error, analysis.prompt_tokens,
        analysis.completion_tokens,
    )  # fmt: skip
