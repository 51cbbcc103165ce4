"""Fan-out in a socket-serving process: one subscription, each event decoded once, bounded queues per socket.

A ``Hub`` per event loop subscribes once to the dashboard group's Redis channel
(or, without Redis, receives from this process's publisher), decodes each
message once, and offers it to every local ``Outbox``. An outbox holds the
frames of one socket that are waiting to be written, at most
WEBSOCKET_SEND_QUEUE of them: a socket that falls that far behind is closed
with ``LAGGING`` (the client reconnects and catches up by ``seq``), so a slow
or stuck client costs memory for its own queue only and never delays the
others. Imports no app.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from vsp.publish import Message, decode, group_channel, publisher

logger = logging.getLogger(__name__)

# "Try Again Later" (RFC 6455 registry): this socket fell behind; reconnect and catch up by seq.
LAGGING = 1013
INTERNAL_ERROR = 1011

Send = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class Outbox:
    """The frames of one socket, written in order; closes the socket if it falls behind.

    A frame is written as it is offered when nothing is waiting before it: the server's send finishes
    without suspending while the socket's buffer has room, so a busy process spends no task switch per
    frame and socket (profiled: the switch cost about as much as the write). A send that does suspend
    (the client's receive window is full) is finished by a task, and the frames offered meanwhile wait
    in the queue behind it, at most ``limit`` of them.
    """

    def __init__(self, send: Send, *, accepts: Callable[[Message], str | None], limit: int) -> None:
        self._send = send
        # Returns the frame this socket should get for a message, or None when its filter says no.
        self._accepts = accepts
        self._limit = limit
        self._frames: collections.deque[str] = collections.deque()
        self._started = False
        # The task finishing a suspended send and then the queue behind it; None while writes go straight out.
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self.closed = False

    def offer(self, message: Message) -> None:
        frame = self._accepts(message)
        if frame is not None:
            self.put(frame)

    def put(self, frame: str, *, first: bool = False) -> None:
        if self.closed:
            return
        if self._started and self._writer is None:
            self._write_now(frame)
            return
        if len(self._frames) >= self._limit:
            self._fall_behind()
            return
        if first:
            self._frames.appendleft(frame)
        else:
            self._frames.append(frame)

    def start(self) -> None:
        """Begin writing (after the handshake, and after anything that must go first was put)."""
        if self._started or self.closed:
            return
        self._started = True
        if self._frames:
            self._writer = asyncio.ensure_future(self._write_queue(None))

    async def stop(self) -> None:
        self.closed = True
        self._frames.clear()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # the socket is going away either way
                await self._writer

    def _write_now(self, frame: str) -> None:
        """Run the send by hand; if it has to wait, hand it to a task with what it waits for."""
        sending = self._send({"type": "websocket.send", "text": frame})
        try:
            waiting_for = sending.send(None)
        except StopIteration:
            return
        except Exception as exc:
            self._gone(exc)
            return
        self._writer = asyncio.ensure_future(self._write_queue(_Resumed(sending, waiting_for)))

    async def _write_queue(self, suspended: _Resumed | None) -> None:
        frames = self._frames
        try:
            if suspended is not None:
                await suspended
            while frames and not self.closed:
                await self._send({"type": "websocket.send", "text": frames.popleft()})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._gone(exc)
        finally:
            self._writer = None

    def _gone(self, exc: Exception) -> None:
        """Writing failed: the client went away (its disconnect ends the consumer), or something broke."""
        self.closed = True
        self._frames.clear()
        if isinstance(exc, OSError):  # uvicorn's ClientDisconnected, a reset
            logger.debug("a dashboard socket went away while written to: %s: %s", type(exc).__name__, exc)
            return
        logger.error("writing to a dashboard socket failed; closing it", exc_info=exc)
        self._closing = asyncio.ensure_future(self._close(INTERNAL_ERROR, "server error: reconnect and catch up"))

    def _fall_behind(self) -> None:
        logger.warning("closing a dashboard socket %d frames behind", len(self._frames))
        self.closed = True
        self._frames.clear()
        if self._writer is not None:
            self._writer.cancel()
        self._closing = asyncio.ensure_future(self._close(LAGGING, "lagging: reconnect and catch up"))

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception as exc:  # the client may be gone already
            logger.debug("closing a lagging socket failed: %s", exc)


class _Resumed:
    """Awaiting this finishes a coroutine that was started by hand and suspended on ``waiting_for``.

    It does for the coroutine what a task does: passes each awaitable the coroutine yields on to the
    task awaiting this, resumes the coroutine when that is done, and throws into it what is thrown in
    (a cancellation).
    """

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting_for: Any) -> None:
        self._coroutine = coroutine
        self._waiting_for = waiting_for

    def __await__(self) -> Generator[Any, None, None]:
        coroutine, waiting_for = self._coroutine, self._waiting_for
        while True:
            try:
                yield waiting_for
            except BaseException as exc:
                try:
                    waiting_for = coroutine.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                waiting_for = coroutine.send(None)
            except StopIteration:
                return


class Hub:
    """Every outbox of one event loop, fed by one subscription while at least one socket is open."""

    def __init__(self) -> None:
        self.outboxes: set[Outbox] = set()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def join(self, outbox: Outbox) -> None:
        """Start receiving for ``outbox``; returns once this process is subscribed, so nothing falls between."""
        self.outboxes.add(outbox)
        if self._reader is None:
            self._ready.clear()
            self._reader = asyncio.ensure_future(self._read())
        await asyncio.wait_for(self._ready.wait(), timeout=settings.WEBSOCKET_SUBSCRIBE_TIMEOUT)

    def leave(self, outbox: Outbox) -> None:
        self.outboxes.discard(outbox)
        if not self.outboxes and self._reader is not None:
            self._reader.cancel()
            self._reader = None

    def dispatch(self, message: Message) -> None:
        for outbox in list(self.outboxes):
            outbox.offer(message)

    async def _read(self) -> None:
        if not settings.REDIS_URL:
            await self._receive_locally()
            return
        delay = 0.5
        while True:
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5, health_check_interval=30)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(group_channel())
                self._ready.set()
                delay = 0.5
                async for item in pubsub.listen():
                    if item["type"] == "message":
                        self._dispatch_payload(item["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Events published until we are back are missed here; their seq lets dashboards catch up.
                self._ready.clear()
                logger.warning(
                    "dashboard subscription lost (%s: %s); resubscribing in %.1f s", type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                await pubsub.aclose()
                await client.aclose()

    def _dispatch_payload(self, payload: bytes) -> None:
        try:
            message = decode(payload)
        except Exception as exc:  # a message that is not ours must not stop the stream
            logger.warning("ignoring an undecodable message on the dashboard channel: %s", exc)
            return
        self.dispatch(message)

    async def _receive_locally(self) -> None:
        loop = asyncio.get_running_loop()

        def receive(message: Message) -> None:  # called from the thread that committed the change
            loop.call_soon_threadsafe(self.dispatch, message)

        publisher.local_receivers.add(receive)
        self._ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            publisher.local_receivers.discard(receive)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """This event loop's hub (a server has one loop; tests start a loop per test)."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _hubs if other.is_closed()]:
        del _hubs[other]
    if loop not in _hubs:
        _hubs[loop] = Hub()
    return _hubs[loop]
