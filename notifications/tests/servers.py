"""Local servers speaking the notification protocols, for the tests: the robots, a webhook receiver, SMTP.

``Robots`` is one HTTP server on 127.0.0.1 answering as WeCom (``/cgi-bin/webhook/send``), DingTalk
(``/robot/send``) and a webhook receiver (``/hook``). It checks what each protocol requires (the key or
token in the query, DingTalk's and the webhook's signatures, the body's shape) and answers a request
that fails a check as the real service does (an errcode, or HTTP 401 for the webhook). What it answers
to good requests is scripted: ``robots.then("500", "45009")`` answers the next two so, then ``ok``.

``Mailbox`` is an aiosmtpd server that keeps what it receives, and can refuse with a scripted reply.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

from conftest import free_port

WECOM_KEY = "wecom-key-0123"
DINGTALK_TOKEN = "dingtalk-token-4567"
DINGTALK_SECRET = "SEC-dingtalk-secret"
WEBHOOK_SECRET = "webhook-secret-89"


@dataclass
class Seen:
    """One request that passed the protocol's checks."""

    protocol: str  # wecom, dingtalk, webhook
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Robots:
    url: str = ""
    script: deque[str] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def then(self, *modes: str) -> Robots:
        self.script.extend(modes)
        return self

    def next_mode(self) -> str:
        with self.lock:
            return self.script.popleft() if self.script else "ok"

    def texts(self, protocol: str) -> list[str]:
        """The markdown text of each accepted message of a protocol, in order."""
        found = []
        for seen in self.seen:
            if seen.protocol == protocol:
                markdown = seen.body.get("markdown", {})
                found.append(markdown.get("content") or markdown.get("text") or seen.body.get("text", ""))
        return found


def _check_wecom(query: dict[str, str], body: dict[str, Any]) -> tuple[int, str] | None:
    if query.get("key") != WECOM_KEY:
        return 93000, "invalid webhook url"
    if body.get("msgtype") != "markdown" or not isinstance(body.get("markdown", {}).get("content"), str):
        return 40008, "invalid message type"
    return None


def _check_dingtalk(query: dict[str, str], body: dict[str, Any]) -> tuple[int, str] | None:
    if query.get("access_token") != DINGTALK_TOKEN:
        return 300001, "token is not exist"
    timestamp = query.get("timestamp", "")
    if not timestamp.isdigit() or abs(int(timestamp) - time.time() * 1000) > 3600_000:
        return 310000, "timestamp missing or more than an hour off"
    digest = hmac.new(DINGTALK_SECRET.encode(), f"{timestamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256).digest()
    if query.get("sign") != base64.b64encode(digest).decode():
        return 310000, "sign not match"
    markdown = body.get("markdown", {})
    if body.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
        return 40035, "missing markdown title or text"
    return None


def _check_webhook(headers: dict[str, str], raw: bytes) -> str | None:
    timestamp = headers.get("x-vsp-timestamp", "")
    if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > 300:
        return "timestamp missing or stale"
    expected = (
        "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    )
    if not hmac.compare_digest(headers.get("x-vsp-signature", ""), expected):
        return "bad signature"
    return None


def _handler(robots: Robots) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            headers = {key.lower(): value for key, value in self.headers.items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body = json.loads(raw)
            except ValueError:
                robots.refused.append("not JSON")
                self.answer(400, {"errcode": 40000, "errmsg": "not json"})
                return
            protocol = {"/cgi-bin/webhook/send": "wecom", "/robot/send": "dingtalk", "/hook": "webhook"}.get(parts.path)
            if protocol == "webhook":
                problem = _check_webhook(headers, raw)
                if problem:
                    robots.refused.append(problem)
                    self.answer(401, {"error": problem})
                    return
            elif protocol in ("wecom", "dingtalk"):
                checked = (_check_wecom if protocol == "wecom" else _check_dingtalk)(query, body)
                if checked:
                    robots.refused.append(checked[1])
                    self.answer(200, {"errcode": checked[0], "errmsg": checked[1]})
                    return
            else:
                self.answer(404, {"error": "no such path"})
                return
            mode = robots.next_mode()
            if mode.isdigit() and len(mode) == 3:  # an HTTP status
                self.answer(int(mode), {"error": "scripted"})
                return
            if mode.isdigit():  # a robot's errcode
                self.answer(200, {"errcode": int(mode), "errmsg": "scripted"})
                return
            robots.seen.append(Seen(protocol, query, headers, body))
            self.answer(200, {"errcode": 0, "errmsg": "ok"})

    return Handler


@contextlib.contextmanager
def local_robots() -> Iterator[Robots]:
    robots = Robots()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(robots))
    robots.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield robots
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    port: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    script: deque[str] = field(default_factory=deque)

    def then(self, *replies: str) -> Mailbox:
        """SMTP replies for the next messages' DATA, e.g. ``"451 4.3.0 try later"``; then ``250``."""
        self.script.extend(replies)
        return self

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.script:
            return self.script.popleft()
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextlib.contextmanager
def local_mailbox() -> Iterator[Mailbox]:
    mailbox = Mailbox(port=free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
