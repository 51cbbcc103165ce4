"""The four protocols a notification is sent by: a signed webhook, the WeCom and DingTalk group robots,
and email. Each sends one message and says how it went: ``Sent`` or ``SendError`` (retryable or not).

- Webhook: ``POST url`` with the message as JSON, ``X-VSP-Timestamp`` (Unix seconds) and
  ``X-VSP-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``; any 2xx is success.
- WeCom: ``POST {NOTIFY_WECOM_BASE_URL}/cgi-bin/webhook/send?key=KEY`` with a markdown message; the
  answer's ``errcode`` 0 is success, 45009 its rate limit.
- DingTalk: ``POST {NOTIFY_DINGTALK_BASE_URL}/robot/send?access_token=TOKEN``, signed when the robot
  has a secret (``timestamp`` in ms and ``sign`` = base64 HMAC-SHA256(secret, f"{timestamp}\\n{secret}"));
  ``errcode`` 0 is success, 130101 its rate limit.
- Email: Django's mail API with the EMAIL_* settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from notifications.models import Channel

# Robot error codes worth trying again: "system busy" and the rate limits (WeCom 45009: 20 a minute
# per robot; DingTalk 130101: the same). Any other code (a wrong key, a bad body) will not change.
_WECOM_RETRYABLE = {-1, 45009}
_DINGTALK_RETRYABLE = {-1, 130101}
_ERROR_BODY = 300


@dataclass(frozen=True)
class Message:
    """What is said: a title, a markdown text, and the same as data for a webhook's JSON."""

    title: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    code: int | None  # the HTTP status, or the SMTP server's
    detail: str = ""


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


def send(channel: Channel, message: Message) -> Sent:
    senders = {
        Channel.Kind.WEBHOOK: _webhook,
        Channel.Kind.WECOM: _wecom,
        Channel.Kind.DINGTALK: _dingtalk,
        Channel.Kind.EMAIL: _email,
    }
    return senders[Channel.Kind(channel.kind)](channel, message)


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """The ``sign`` parameter, before URL encoding (httpx encodes the query)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _post(url: str, body: bytes, *, params: dict[str, str] | None = None, headers: dict[str, str]) -> Any:
    import httpx  # here, in the worker: web processes never send

    try:
        response = httpx.post(
            url,
            content=body,
            params=params,
            headers={"Content-Type": "application/json; charset=utf-8", **headers},
            timeout=float(settings.NOTIFY_TIMEOUT),
        )
    except httpx.HTTPError as exc:
        raise SendError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
    if response.status_code >= 400:
        retryable = response.status_code >= 500 or response.status_code in (408, 429)
        raise SendError(
            f"HTTP {response.status_code}: {response.text[:_ERROR_BODY]}",
            retryable=retryable,
            code=response.status_code,
        )
    return response


def _json_body(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _webhook(channel: Channel, message: Message) -> Sent:
    body = _json_body({"title": message.title, "text": message.text, **message.data})
    timestamp = str(int(time.time()))
    headers = {"X-VSP-Timestamp": timestamp, "X-VSP-Signature": webhook_signature(channel.secret, timestamp, body)}
    response = _post(channel.url, body, headers=headers)
    return Sent(response.status_code)


def _robot_answer(response: Any, retryable_codes: set[int]) -> Sent:
    """A robot answers HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``, or a non-zero errcode."""
    try:
        answer = response.json()
        errcode = int(answer.get("errcode", -1))
    except (ValueError, TypeError, AttributeError):
        raise SendError(
            f"not a robot's answer: {response.text[:_ERROR_BODY]}", retryable=True, code=response.status_code
        ) from None
    if errcode != 0:
        raise SendError(
            f"errcode {errcode}: {answer.get('errmsg', '')}"[:_ERROR_BODY],
            retryable=errcode in retryable_codes,
            code=response.status_code,
        )
    return Sent(response.status_code, "errcode 0")


def _wecom(channel: Channel, message: Message) -> Sent:
    body = _json_body({"msgtype": "markdown", "markdown": {"content": message.text}})
    url = f"{settings.NOTIFY_WECOM_BASE_URL}/cgi-bin/webhook/send"
    return _robot_answer(_post(url, body, params={"key": channel.key}, headers={}), _WECOM_RETRYABLE)


def _dingtalk(channel: Channel, message: Message) -> Sent:
    body = _json_body({"msgtype": "markdown", "markdown": {"title": message.title, "text": message.text}})
    params = {"access_token": channel.key}
    if channel.secret:
        timestamp = str(int(time.time() * 1000))
        params |= {"timestamp": timestamp, "sign": dingtalk_sign(channel.secret, timestamp)}
    url = f"{settings.NOTIFY_DINGTALK_BASE_URL}/robot/send"
    return _robot_answer(_post(url, body, params=params, headers={}), _DINGTALK_RETRYABLE)


def _email(channel: Channel, message: Message) -> Sent:
    email = EmailMultiAlternatives(
        subject=message.title, body=message.text, from_email=settings.DEFAULT_FROM_EMAIL, to=channel.recipient_list()
    )
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        raise SendError(
            f"recipients refused: {exc.recipients}", retryable=False, code=codes[0] if codes else None
        ) from exc
    except smtplib.SMTPResponseException as exc:
        # 4xx is the server's "try again later"; 5xx will not change.
        raise SendError(
            f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500, code=exc.smtp_code
        ) from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
    return Sent(250)
