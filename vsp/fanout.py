"""Fan-out in a socket-serving process: one subscription, each event decoded once, bounded queues per socket.

A ``Hub`` per event loop subscribes once to the dashboard group's Redis channel
(or, without Redis, receives from this process's publisher), decodes each
message once, and offers it to every local ``Outbox``. An outbox holds the
frames of one socket that are waiting to be written, at most
WEBSOCKET_SEND_QUEUE of them: a socket that falls that far behind is closed
with ``LAGGING`` (the client reconnects and catches up by ``seq``), so a slow
or stuck client costs memory for its own queue only and never delays the
others. Under uvicorn's websockets-sansio protocol (the ws processes) an event's
frame is also framed once per process, and written to each socket's transport
as those bytes (``_Wire``). Imports no app.
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
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from vsp.publish import Message, decode, group_channel, publisher

logger = logging.getLogger(__name__)

# "Try Again Later" (RFC 6455 registry): this socket fell behind; reconnect and catch up by seq.
LAGGING = 1013
INTERNAL_ERROR = 1011
# At most this many messages that arrived together are dispatched as one.
_BATCH = 16

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
        # Text for the server's send, or (once the socket is known to be a _Wire) framed bytes.
        self._frames: collections.deque[str | bytes] = collections.deque()
        self._wire: _Wire | None = None
        self._started = False
        # The task finishing a suspended send and then the queue behind it; None while writes go straight out.
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self.closed = False

    def offer(self, message: Message) -> None:
        frame = self._accepts(message)
        if frame is not None:
            self._put(framed(frame) if self._wire is not None else frame, first=False)

    def offer_all(self, messages: list[Message]) -> None:
        """``offer`` each, in order; on a wire, the frames this socket takes go out in one write."""
        if self._wire is None:
            for message in messages:
                self.offer(message)
            return
        frames = [framed(frame) for message in messages if (frame := self._accepts(message)) is not None]
        if frames:
            self._put(frames[0] if len(frames) == 1 else b"".join(frames), first=False)

    def put(self, frame: str, *, first: bool = False) -> None:
        self._put(framed(frame, shared=False) if self._wire is not None else frame, first=first)

    def _put(self, frame: str | bytes, *, first: bool) -> None:
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
        self._wire = _Wire.of(self._send)
        if self._frames:
            self._writer = asyncio.ensure_future(self._write_queue(None))

    async def stop(self) -> None:
        self.closed = True
        self._frames.clear()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # the socket is going away either way
                await self._writer

    def _write_now(self, frame: str | bytes) -> None:
        """Write the bytes, or run the send by hand; if it has to wait, hand it to a task (with what it waits for)."""
        if isinstance(frame, bytes):
            wire = self._wire
            assert wire is not None
            if not wire.writable() and not wire.gone():  # its buffer is full: the queue takes this and what follows
                self._frames.append(frame)
                self._writer = asyncio.ensure_future(self._write_queue(None))
            elif not wire.write(frame):
                self._lost()
            return
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
                frame = frames.popleft()
                if isinstance(frame, str):
                    await self._send({"type": "websocket.send", "text": frame})
                    continue
                wire = self._wire
                assert wire is not None
                await wire.protocol.writable.wait()
                if not wire.write(frame):
                    self._lost()
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._gone(exc)
        finally:
            self._writer = None

    def _lost(self) -> None:
        """The client went away (its disconnect ends the consumer) or the socket is closing: write no more."""
        self.closed = True
        self._frames.clear()

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


class _Wire:
    """A socket of uvicorn's websockets-sansio protocol, whose transport an outbox writes framed bytes to.

    A server's frames are not masked, so an event's frame is the same bytes for every socket that
    takes it: framed once per process (``framed``), each socket costs one ``transport.write``, where
    the server's send framed the text again per socket and ran a coroutine for it (at 1,000 sockets
    the framing and the send's machinery were about as much again as the write). The protocol's own
    writes (pings, pongs, the close) are whole frames too, so frames never interleave. It is used only
    where no extension is in play (permessage-deflate compresses per socket; the ws processes offer
    none), and the protocol's flow control holds: while its transport's buffer is over the high-water
    mark, frames wait in the outbox's queue as they do for a send.
    """

    __slots__ = ("protocol", "transport")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport = protocol.transport

    @staticmethod
    def of(send: Send) -> _Wire | None:
        """The wire behind ``send`` if it is the protocol's own send of an open, plain socket; else None."""
        protocol = getattr(send, "__self__", None)
        conn = getattr(protocol, "conn", None)
        if not isinstance(conn, ServerProtocol) or conn.extensions or conn.state is not State.OPEN:
            return None
        if getattr(protocol, "send", None) != send or not isinstance(
            getattr(protocol, "writable", None), asyncio.Event
        ):
            return None
        if getattr(protocol, "transport", None) is None:
            return None
        return _Wire(protocol)

    def gone(self) -> bool:
        protocol = self.protocol
        return bool(
            protocol.disconnected
            or protocol.close_sent
            or protocol.conn.state is not State.OPEN
            or self.transport.is_closing()
        )

    def writable(self) -> bool:
        return bool(self.protocol.writable.is_set())

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` if the socket is still open; False if it is gone."""
        if self.gone():
            return False
        self.transport.write(frame)
        return True


# The last few event frames framed, by the text's identity: each is framed once for all the sockets
# taking it. An entry holds its text, so the text's id cannot be reused while it is here.
_framed: dict[int, tuple[str, bytes]] = {}
_FRAMED_KEPT = 4 * _BATCH  # both flavours of a whole batch, and room


def framed(frame: str, *, shared: bool = True) -> bytes:
    """A text frame as a server writes it (unmasked, no extension); ``shared``: one many sockets take."""
    if shared:
        cached = _framed.get(id(frame))
        if cached is not None and cached[0] is frame:
            return cached[1]
    data = Frame(Opcode.TEXT, frame.encode()).serialize(mask=False)
    if shared:
        if len(_framed) >= _FRAMED_KEPT:
            _framed.clear()
        _framed[id(frame)] = (frame, data)
    return data


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

    def dispatch_all(self, messages: list[Message]) -> None:
        """Several messages that arrived together: each socket gets the frames it takes in one write."""
        if len(messages) == 1:
            self.dispatch(messages[0])
            return
        for outbox in list(self.outboxes):
            outbox.offer_all(messages)

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
                while True:
                    # Wait for a message, then take the ones already here with it (a new box's alarm and its
                    # status, a storm's reports): their frames go out together, one write per socket.
                    payloads = _payloads(await pubsub.get_message(ignore_subscribe_messages=True, timeout=None))
                    while payloads and len(payloads) < _BATCH:
                        more = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
                        if more is None:
                            break
                        payloads += _payloads(more)
                    if payloads:
                        self._dispatch_payloads(payloads)
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

    def _dispatch_payloads(self, payloads: list[bytes]) -> None:
        messages = []
        for payload in payloads:
            try:
                messages.append(decode(payload))
            except Exception as exc:  # a message that is not ours must not stop the stream
                logger.warning("ignoring an undecodable message on the dashboard channel: %s", exc)
        if messages:
            self.dispatch_all(messages)

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


def _payloads(item: dict[str, Any] | None) -> list[bytes]:
    return [item["data"]] if item is not None and item["type"] == "message" else []


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """This event loop's hub (a server has one loop; tests start a loop per test)."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _hubs if other.is_closed()]:
        del _hubs[other]
    if loop not in _hubs:
        _hubs[loop] = Hub()
    return _hubs[loop]
