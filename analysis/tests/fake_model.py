"""A local server speaking OpenAI's chat-completions protocol, playing the model in the tests.

It refuses (HTTP 400) a request without the snapshot or without the prompt's version, so a test that
gets an answer knows both went out. What it answers is scripted: ``model.then("429", "json")`` answers
the next request with a 429 and the one after with JSON; when the script is used up, ``model.default``.

Answers: ``json``, ``fenced`` (in a code fence), ``prose`` (JSON inside sentences), ``garbage``
(no JSON), ``429`` (with ``Retry-After: 1``), ``500``, ``hang`` (no answer until the test releases it
or the client gives up), ``slow:S`` (JSON after S seconds). It also serves ``GET /snapshot.jpg``, an
edge box's snapshot link.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


def jpeg(colour: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


SNAPSHOT = jpeg()


@dataclass
class Seen:
    """One request the model received, with what the checks found in it."""

    body: dict[str, Any]
    headers: dict[str, str]
    prompt_version: str
    image: str  # "inline" or the link


@dataclass
class FakeModel:
    url: str = ""
    default: str = "json"
    opinion: dict[str, Any] = field(
        default_factory=lambda: {
            "verdict": "FALSE_ALARM",
            "confidence": 0.95,
            "description": "画面中是晃动的树影，没有人员。",
            "risk_level": 4,
            "objects": [{"label": "tree shadow", "box": [10, 12, 40, 44], "confidence": 0.8}],
        }
    )
    script: deque[str] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    received: threading.Event = field(default_factory=threading.Event)

    def then(self, *modes: str) -> FakeModel:
        self.script.extend(modes)
        return self

    def next_mode(self) -> str:
        try:
            return self.script.popleft()
        except IndexError:
            return self.default

    def content(self, mode: str) -> str:
        text = json.dumps(self.opinion, ensure_ascii=False)
        if mode == "fenced":
            return f"```json\n{text}\n```"
        if mode == "prose":
            return f"Here is my review of the snapshot.\n{text}\nLet me know if you need more."
        if mode == "garbage":
            return "I am sorry, I cannot see anything unusual {maybe} here."
        return text


def _check(body: dict[str, Any], headers: dict[str, str]) -> tuple[str, str] | str:
    """(prompt version, image) of a well-formed request, or what is wrong with it."""
    messages = body.get("messages") or []
    if not body.get("model") or not messages:
        return "model and messages are required"
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    version = re.match(r"\[prompt ([^\]]+)\]", system if isinstance(system, str) else "")
    if version is None or headers.get("x-prompt-version") != version.group(1):
        return "no prompt version in the system prompt and the X-Prompt-Version header"
    parts = [part for m in messages if isinstance(m.get("content"), list) for part in m["content"]]
    images = [part["image_url"]["url"] for part in parts if part.get("type") == "image_url"]
    if len(images) != 1:
        return "one image_url part is required"
    image = images[0]
    if image.startswith("data:image/"):
        header, _, data = image.partition(",")
        if not header.endswith(";base64") or not base64.b64decode(data, validate=True).startswith(b"\xff\xd8"):
            return "the inline image is not a base64 JPEG"
        return version.group(1), "inline"
    if not image.startswith(("http://", "https://")):
        return "the image is neither a data URL nor a link"
    return version.group(1), image


def _handler(model: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != "/snapshot.jpg":
                self.reply(404, {"error": "not found"})
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(SNAPSHOT)))
            self.end_headers()
            self.wfile.write(SNAPSHOT)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path != "/v1/chat/completions":
                self.reply(404, {"error": {"message": f"no such path {self.path}"}})
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            checked = _check(body, headers)
            if isinstance(checked, str):
                model.refused.append(checked)
                self.reply(400, {"error": {"message": checked, "type": "invalid_request_error"}})
                return
            model.seen.append(Seen(body, headers, *checked))
            model.received.set()
            mode = model.next_mode()
            if mode == "429":
                self.reply(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": "1"})
                return
            if mode == "500":
                self.reply(500, {"error": {"message": "the model crashed", "type": "server_error"}})
                return
            if mode == "hang":
                model.release.wait(60)
                self.close_connection = True
                return
            if mode.startswith("slow:"):
                time.sleep(float(mode.split(":", 1)[1]))
            self.reply(
                200,
                {
                    "id": f"chatcmpl-{len(model.seen)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": model.content(mode)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280},
                },
            )

    return Handler


@contextlib.contextmanager
def fake_model(port: int = 0) -> Iterator[FakeModel]:
    model = FakeModel()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(model))
    server.daemon_threads = True
    model.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield model
    finally:
        model.release.set()
        server.shutdown()
        server.server_close()
