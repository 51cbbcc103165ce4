"""The model's client: OpenAI-compatible chat completions with an image, through the official SDK.

The SDK's own retries are off: a failed call is retried by the job engine, with the backoff and
attempt count the analysis stores (analysis.services). Errors come out as ``ModelError``, which says
whether trying again may help and how long the provider asked to wait.
"""

from __future__ import annotations

import email.utils
import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    import openai

# ``openai`` is imported by the first call, in the worker: importing it took 1.1 s and 40 MB, which every
# web and ws process would otherwise pay at start-up for a client they never use.


class ModelError(Exception):
    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    text: str
    raw: dict[str, Any]
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int


@functools.lru_cache(maxsize=4)
def _client(base_url: str, key: str, timeout: float) -> openai.OpenAI:
    import openai

    # One per configuration, so its connections are kept between jobs.
    return openai.OpenAI(base_url=base_url, api_key=key or "not-needed", timeout=timeout, max_retries=0)


def client() -> openai.OpenAI:
    return _client(settings.AI_MODEL_URL, settings.AI_MODEL_KEY, float(settings.AI_MODEL_TIMEOUT))


def complete(request: dict[str, Any], *, prompt_version: str) -> Answer:
    """Send one chat-completions request; raises ``ModelError``.

    The prompt's version goes in a header too, for the provider's logs (and the tests' model).
    """
    import openai

    started = time.monotonic()
    try:
        completion = client().chat.completions.create(**request, extra_headers={"X-Prompt-Version": prompt_version})
    except openai.RateLimitError as exc:
        raise ModelError(_said(exc), retryable=True, retry_after=_retry_after(exc.response.headers)) from exc
    except openai.APIStatusError as exc:
        retryable = exc.status_code >= 500 or exc.status_code in (408, 409)
        raise ModelError(_said(exc), retryable=retryable, retry_after=_retry_after(exc.response.headers)) from exc
    except openai.APITimeoutError as exc:
        raise ModelError(f"no answer within {settings.AI_MODEL_TIMEOUT} s", retryable=True) from exc
    except openai.APIConnectionError as exc:
        raise ModelError(f"cannot reach the model at {settings.AI_MODEL_URL}: {exc}", retryable=True) from exc
    except openai.APIResponseValidationError as exc:
        raise ModelError(f"the model's answer is not a chat completion: {exc}", retryable=True) from exc
    latency_ms = round((time.monotonic() - started) * 1000)
    raw = completion.model_dump(mode="json", exclude_unset=True)
    if not completion.choices:
        raise ModelError("the model's answer has no choices", retryable=True)
    usage = completion.usage
    return Answer(
        text=completion.choices[0].message.content or "",
        raw=raw,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        latency_ms=latency_ms,
    )


def _said(exc: openai.APIStatusError) -> str:
    body = exc.response.text[:500] if exc.response is not None else ""
    return f"the model answered HTTP {exc.status_code}: {body}".strip()


def _retry_after(headers: Any) -> float | None:
    """``Retry-After`` in seconds, given as a number or an HTTP date."""
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
