"""WebSocket fan-out benchmark: how fast, and how completely, alarms reach many dashboards.

Opens ``--sockets`` connections to ``ws://{host}/ws/alerts?token=…`` on a running
server, then sends ``--rate`` alarm reports per second for ``--duration`` seconds
to ``POST {url}/api/ai/alert/edge/report``. Each report's ``alarm_id`` is
``fan-<run id>-<n>-<sent ms>``, so a socket that receives the ``alarm.created``
frame knows when the report was sent from ``data.alarmId`` alone. After a drain
period it prints sockets connected and failed, reports sent and acknowledged,
deliveries expected (reports × sockets) and received, and delivery latency
percentiles. Exits 0 if every socket connected, every report was stored and
every delivery arrived; 1 otherwise; 2 on bad arguments or a refused target.

Every report is a real alarm written to the target's database (its
``fan-cam-<k>`` devices get registered), so point it at a throwaway database.
The target must be a loopback address unless ``--allow-remote`` is given.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import uvloop
from common import (
    ALARM_TYPES,
    HEADERS,
    MAX_ERROR_SAMPLES,
    REPORT_PATH,
    Failures,
    TargetRefused,
    bounded_float,
    bounded_int,
    check_base_url,
    format_ms,
    new_run_id,
    report_client,
    spread,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

SOCKET_PATH = "/ws/alerts"
ALARM_CREATED = "alarm.created"
DEVICES = 8
MAX_SOCKETS = 20_000
MAX_RATE = 1000.0
MAX_DURATION = 3600.0
# sockets × reports: each delivery keeps one latency (8 bytes) and one "seen" byte per socket.
MAX_DELIVERIES = 5_000_000
# Reports in flight at once (and HTTP connections); sending is open-loop up to this.
MAX_IN_FLIGHT = 64
OPEN_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
# Closing every socket at the end may take at most this long, on top of --max-seconds.
CLOSE_BUDGET_S = 10.0
# How often the drain checks whether everything has arrived.
DRAIN_POLL_S = 0.05
# The three fields a delivery is read by, found in the frame's text rather than by decoding all of it:
# at 20,000 frames/s the full decode was a tenth of the client's CPU, taken from the servers it shares
# the machine with. Either stack's JSON spacing is accepted.
FRAME_TYPE = re.compile(r'^\{\s*"type":\s*"([^"]*)"')
FRAME_ALARM_ID = re.compile(r'"alarmId":\s*"([^"\\]*)"')
FRAME_CREATE_TIME = re.compile(r'"createTime":\s*(\d+)[,}]')


# ---------------------------------------------------------------------------
# Arguments and the loopback guard
# ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=f"Benchmark alarm fan-out to {SOCKET_PATH} sockets on a running server (loopback only by default).",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (default: %(default)s)")
    parser.add_argument(
        "--token",
        default=os.environ.get("VSP_TOKEN") or None,
        help="access or refresh token for ?token= (default: $VSP_TOKEN)",
    )
    parser.add_argument(
        "-n",
        "--sockets",
        type=bounded_int(1, MAX_SOCKETS),
        default=200,
        help="WebSocket connections to open (default: %(default)s)",
    )
    parser.add_argument(
        "-r",
        "--rate",
        type=bounded_float(0.0, MAX_RATE, low_inclusive=False),
        default=10.0,
        help="reports sent per second (default: %(default)s)",
    )
    parser.add_argument(
        "-d",
        "--duration",
        type=bounded_float(0.0, MAX_DURATION, low_inclusive=False),
        default=10.0,
        help="seconds to send reports for (default: %(default)s)",
    )
    parser.add_argument(
        "--drain",
        type=bounded_float(0.0, 600.0),
        default=5.0,
        help="seconds to wait after the last report for deliveries still on their way (default: %(default)s)",
    )
    parser.add_argument(
        "--settle",
        type=bounded_float(0.0, 60.0),
        default=1.0,
        help="seconds between the last handshake and the first report (default: %(default)s)",
    )
    parser.add_argument(
        "--connect-concurrency",
        type=bounded_int(1, 1000),
        default=50,
        help="handshakes in progress at once (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=bounded_float(0.0, 600.0, low_inclusive=False),
        default=10.0,
        help="seconds allowed for one report request, start to end (default: %(default)s)",
    )
    parser.add_argument(
        "--max-seconds",
        type=bounded_float(0.0, 86_400.0, low_inclusive=False),
        default=300.0,
        help="hard cap on connecting, sending and draining together (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="also print the result as one JSON object on stdout")
    parser.add_argument("--allow-remote", action="store_true", help="allow a target that is not a loopback address")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a token is required: --token or the VSP_TOKEN environment variable")
    if args.sockets * report_count(args) > MAX_DELIVERIES:
        parser.error(f"sockets × reports must be at most {MAX_DELIVERIES:,}; lower -n, -r or -d")
    if args.duration + args.drain + args.settle > args.max_seconds:
        parser.error("--duration + --drain + --settle exceed --max-seconds; raise --max-seconds")
    return args


def report_count(args: argparse.Namespace) -> int:
    return max(1, round(args.rate * args.duration))


@dataclass(frozen=True)
class Target:
    report_url: str
    socket_url: str
    # The socket URL with the token hidden, for printing.
    socket_url_shown: str


def make_target(base_url: str, token: str, *, allow_remote: bool) -> Target:
    """The report and socket URLs under ``base_url``; refuses anything but loopback unless allowed."""
    parts = check_base_url(base_url, allow_remote=allow_remote, scheme_wording="http:// or https://")
    base = base_url.rstrip("/")
    ws_base = ("wss" if parts.scheme == "https" else "ws") + base[len(parts.scheme) :]
    return Target(
        report_url=base + REPORT_PATH,
        socket_url=f"{ws_base}{SOCKET_PATH}?{urlencode({'token': token})}",
        socket_url_shown=f"{ws_base}{SOCKET_PATH}?token=…",
    )


def raise_file_limit() -> tuple[int, str | None]:
    """Raise the soft RLIMIT_NOFILE to the hard limit: the soft limit, and a warning if it could not be raised."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        return soft, None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        return soft, f"could not raise the open-file limit from {soft} to {hard}: {exc}"
    return hard, None


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


@dataclass
class Deliveries:
    """What the sockets received; ``take`` runs once per frame, so it stays cheap."""

    prefix: str
    reports: int
    # Every frame of this run, and those of reports the server acknowledged as created (what the ratio counts).
    delivered: int = 0
    delivered_acked: int = 0
    duplicates: int = 0
    # Frames that are not this run's alarm.created (other runs, other event types, pongs).
    other_frames: int = 0
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    # From the server's createTime to the moment a socket read the frame.
    after_create_ms: array[float] = field(default_factory=lambda: array("d"))
    # Per report, how many sockets received it, and whether the server acknowledged it as created.
    per_report: array[int] = field(init=False)
    acked: bytearray = field(init=False)

    def __post_init__(self) -> None:
        self.per_report = array("l", [0]) * self.reports
        self.acked = bytearray(self.reports)

    def acknowledge(self, index: int) -> None:
        """Report ``index`` was created; frames for it that arrived before the answer count now."""
        self.acked[index] = 1
        self.delivered_acked += self.per_report[index]

    def take(self, seen: bytearray, message: str | bytes, received_ms: float) -> None:
        if isinstance(message, bytes) or self.prefix not in message:
            self.other_frames += 1
            return
        kind = FRAME_TYPE.match(message)
        found = FRAME_ALARM_ID.search(message) if kind is not None and kind[1] == ALARM_CREATED else None
        alarm_id = found[1] if found is not None else None
        if alarm_id is None or not alarm_id.startswith(self.prefix):
            self.other_frames += 1
            return
        index_text, _, sent_text = alarm_id[len(self.prefix) :].partition("-")
        try:
            index, sent_ms = int(index_text), int(sent_text)
        except ValueError:
            self.other_frames += 1
            return
        if not 0 <= index < self.reports:
            self.other_frames += 1
            return
        if seen[index]:
            self.duplicates += 1
            return
        seen[index] = 1
        self.delivered += 1
        self.delivered_acked += self.acked[index]
        self.per_report[index] += 1
        self.latencies_ms.append(received_ms - sent_ms)
        create_time = FRAME_CREATE_TIME.search(message)
        if create_time is not None:
            self.after_create_ms.append(received_ms - int(create_time[1]))


@dataclass
class SocketStats:
    connected: int = 0
    connect_s: float = 0.0
    handshake_ms: list[float] = field(default_factory=list)
    handshake_failures: Failures = field(default_factory=Failures)
    # Sockets the server (or the network) closed before the end of the run.
    dropped: Failures = field(default_factory=Failures)


@dataclass
class ReportStats:
    requested: int
    sent: int = 0
    created: int = 0
    send_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: Failures = field(default_factory=Failures)


class FanoutBench:
    def __init__(self, target: Target, args: argparse.Namespace) -> None:
        self.target = target
        self.args = args
        self.run_id = new_run_id()
        self.prefix = f"fan-{self.run_id}-"
        self.reports = report_count(args)
        self.deadline = time.monotonic() + args.max_seconds
        self.deliveries = Deliveries(self.prefix, self.reports)
        self.sockets = SocketStats()
        self.report_stats = ReportStats(requested=self.reports)
        self.connections: list[ClientConnection] = []
        self.listeners: list[asyncio.Task[None]] = []
        self.closing = False
        self.stopped_early = False
        self.drain_s = 0.0
        self.send_start = time.monotonic()

    # Sockets ---------------------------------------------------------------

    async def open_sockets(self) -> None:
        gate = asyncio.Semaphore(self.args.connect_concurrency)
        started = time.perf_counter()
        tasks = [asyncio.create_task(self.open_socket(gate)) for _ in range(self.args.sockets)]
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, self.deadline - time.monotonic()))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            self.stopped_early = True
            for _ in pending:
                self.sockets.handshake_failures.add("max-seconds", "handshake not finished before --max-seconds")
        self.sockets.connect_s = time.perf_counter() - started

    async def open_socket(self, gate: asyncio.Semaphore) -> None:
        async with gate:
            started = time.perf_counter()
            failures = self.sockets.handshake_failures
            try:
                connection = await connect(
                    self.target.socket_url,
                    proxy=None,  # only ever to --url, whatever the environment says
                    compression=None,
                    open_timeout=OPEN_TIMEOUT_S,
                    close_timeout=CLOSE_TIMEOUT_S,
                    # The server pings; the client answers without pinging back.
                    ping_interval=None,
                )
            except InvalidStatus as exc:
                failures.add(f"http {exc.response.status_code}", str(exc))
                return
            except TimeoutError:
                failures.add("timeout", f"no handshake within {OPEN_TIMEOUT_S:g} s")
                return
            except OSError as exc:
                failures.add(f"os {type(exc).__name__}", str(exc) or type(exc).__name__)
                return
            except WebSocketException as exc:
                failures.add(type(exc).__name__, str(exc) or type(exc).__name__)
                return
            self.sockets.handshake_ms.append((time.perf_counter() - started) * 1000)
            self.sockets.connected += 1
            self.connections.append(connection)
            self.listeners.append(asyncio.create_task(self.listen(connection)))

    async def listen(self, connection: ClientConnection) -> None:
        seen = bytearray(self.reports)
        take = self.deliveries.take
        try:
            async for message in connection:
                take(seen, message, time.time() * 1000)
        except ConnectionClosed:
            pass
        if not self.closing:
            code = connection.close_code
            self.sockets.dropped.add(f"closed {code}", f"code {code} {connection.close_reason!r}")

    async def close_sockets(self) -> None:
        self.closing = True
        try:
            async with asyncio.timeout(CLOSE_BUDGET_S):
                await asyncio.gather(*(connection.close() for connection in self.connections), return_exceptions=True)
        except TimeoutError:
            pass
        for listener in self.listeners:
            listener.cancel()
        await asyncio.gather(*self.listeners, return_exceptions=True)

    # Reports ---------------------------------------------------------------

    async def send_reports(self, client: httpx.AsyncClient) -> None:
        """Open loop: report n is due at start + n / rate, whether or not earlier ones were answered."""
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        interval = 1.0 / self.args.rate
        tasks: list[asyncio.Task[None]] = []
        start = self.send_start = time.monotonic()
        for index in range(self.reports):
            due = start + index * interval
            if due >= self.deadline:
                self.stopped_early = True
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.send_report(client, gate, index)))
        if tasks:
            await asyncio.wait(tasks)

    async def send_report(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, index: int) -> None:
        stats = self.report_stats
        async with gate:
            # The send time is taken once a connection is free, so it never includes waiting in this process.
            sent_ms = int(time.time() * 1000)
            # The sending window runs to the end of the last report's slot, so sending on time gives --rate.
            stats.send_s = time.monotonic() - self.send_start + 1.0 / self.args.rate
            alarm_id = f"{self.prefix}{index}-{sent_ms}"
            report = {
                "alarm_id": alarm_id,
                "alarm_type": ALARM_TYPES[index % len(ALARM_TYPES)],
                "device_id": f"fan-cam-{index % DEVICES + 1}",
                "event_time": sent_ms,
                "alarm_level": index % 4 + 1,
            }
            body = json.dumps(report, separators=(",", ":")).encode()
            stats.sent += 1
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.args.timeout):
                    response = await client.post(self.target.report_url, content=body, headers=HEADERS)
            except TimeoutError:
                stats.failures.add("timeout", f"{alarm_id}: no complete answer within {self.args.timeout:g} s")
                return
            except httpx.HTTPError as exc:
                stats.failures.add(f"transport {type(exc).__name__}", str(exc) or type(exc).__name__)
                return
        stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        data = payload.get("data") if isinstance(payload, dict) else None
        if response.status_code != 200:
            message = payload.get("msg") if isinstance(payload, dict) else response.text
            stats.failures.add(f"http {response.status_code}", f"{alarm_id}: {message}")
        elif not isinstance(payload, dict) or type(payload.get("code")) is not int or payload["code"] != 0:
            stats.failures.add("bad body", f"{alarm_id}: {response.text[:200]}")
        elif not isinstance(data, dict) or data.get("alarm_id") != alarm_id or data.get("created") is not True:
            # A fresh id must be created, or no alarm.created event goes out.
            stats.failures.add("not created", f"{alarm_id}: unexpected data {data!r}")
        else:
            stats.created += 1
            self.deliveries.acknowledge(index)

    # Draining --------------------------------------------------------------

    def expected(self) -> int:
        return self.report_stats.created * self.sockets.connected

    async def drain(self) -> None:
        started = time.monotonic()
        end = min(started + self.args.drain, self.deadline)
        while self.deliveries.delivered_acked < self.expected() and time.monotonic() < end:
            await asyncio.sleep(DRAIN_POLL_S)
        if self.deliveries.delivered_acked < self.expected() and end < started + self.args.drain:
            self.stopped_early = True
        self.drain_s = time.monotonic() - started


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def result_dict(bench: FanoutBench, file_limit: int) -> dict[str, Any]:
    args = bench.args
    sockets, reports, deliveries = bench.sockets, bench.report_stats, bench.deliveries
    expected = bench.expected()
    connected = sockets.connected
    usage = resource.getrusage(resource.RUSAGE_SELF)
    acked = [count for count, ok in zip(deliveries.per_report, deliveries.acked, strict=True) if ok]
    return {
        "url": args.url,
        "run_id": bench.run_id,
        "alarm_id_prefix": bench.prefix,
        "sockets": {
            "requested": args.sockets,
            "connected": connected,
            "failed": sockets.handshake_failures.total,
            "connect_s": round(sockets.connect_s, 3),
            "handshake_ms": spread(sockets.handshake_ms),
            "handshake_failures": dict(sockets.handshake_failures.counts.most_common()),
            "dropped": sockets.dropped.total,
            "drops": dict(sockets.dropped.counts.most_common()),
        },
        "reports": {
            "rate": args.rate,
            "duration_s": args.duration,
            "requested": reports.requested,
            "sent": reports.sent,
            "ok": reports.created,
            "failed": reports.failures.total,
            "errors": dict(reports.failures.counts.most_common()),
            "send_s": round(reports.send_s, 3),
            "sent_per_s": round(reports.sent / reports.send_s, 1) if reports.send_s else 0.0,
            "latency_ms": spread(reports.latencies_ms),
        },
        "deliveries": {
            "expected": expected,
            "delivered": deliveries.delivered_acked,
            "ratio": round(deliveries.delivered_acked / expected, 4) if expected else None,
            "reports_reaching_every_socket": sum(1 for count in acked if connected and count >= connected),
            "reports_reaching_no_socket": sum(1 for count in acked if count == 0),
            # Frames for reports whose answer failed (a timed-out report may still have been stored).
            "unacknowledged_delivered": deliveries.delivered - deliveries.delivered_acked,
            "duplicates": deliveries.duplicates,
            "other_frames": deliveries.other_frames,
            "drain_s": round(bench.drain_s, 3),
            "latency_ms": spread(deliveries.latencies_ms),
            "after_create_ms": spread(deliveries.after_create_ms),
        },
        "error_samples": (sockets.handshake_failures.samples + reports.failures.samples + sockets.dropped.samples)[
            :MAX_ERROR_SAMPLES
        ],
        "file_limit": file_limit,
        "client_max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        # CPU seconds this process took: on a shared machine, what the servers could not have.
        "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "stopped_early": bench.stopped_early,
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    def percentiles(values: dict[str, float | None]) -> str:
        return " ".join(f"{name} {format_ms(value)}" for name, value in values.items())

    def kinds(counts: dict[str, int]) -> str:
        return ", ".join(f"{kind} x{count}" for kind, count in counts.items()) or "none"

    sockets, reports, deliveries = result["sockets"], result["reports"], result["deliveries"]
    ratio = "-" if deliveries["ratio"] is None else f"{deliveries['ratio']:.4f}"
    lines = [
        f"sockets: {sockets['connected']} connected, {sockets['failed']} failed in {sockets['connect_s']:.2f} s "
        f"(handshake ms {percentiles(sockets['handshake_ms'])}); dropped during the run {sockets['dropped']}",
        f"reports: {reports['sent']} sent in {reports['send_s']:.2f} s ({reports['sent_per_s']:.1f}/s), "
        f"{reports['ok']} ok, {reports['failed']} failed; answer ms {percentiles(reports['latency_ms'])}",
        f"deliveries: {deliveries['delivered']} of {deliveries['expected']} expected (ratio {ratio}); "
        f"of {reports['ok']} ok reports {deliveries['reports_reaching_every_socket']} reached every socket, "
        f"{deliveries['reports_reaching_no_socket']} none; duplicates {deliveries['duplicates']}; "
        f"drained {deliveries['drain_s']:.2f} s",
        f"delivery latency ms (send → receive): {percentiles(deliveries['latency_ms'])}",
        f"after createTime ms (stored → receive): {percentiles(deliveries['after_create_ms'])}",
        f"handshake failures: {kinds(sockets['handshake_failures'])}",
        f"client: {result['client_cpu_s']:.1f} s CPU, {result['client_max_rss_mb']:.0f} MB max RSS",
    ]
    if reports["errors"]:
        lines.append(f"report errors: {kinds(reports['errors'])}")
    if deliveries["unacknowledged_delivered"]:
        lines.append(f"frames for reports whose answer failed: {deliveries['unacknowledged_delivered']} (not counted)")
    if sockets["drops"]:
        lines.append(f"sockets dropped: {kinds(sockets['drops'])}")
    if result["stopped_early"]:
        lines.append("stopped early: --max-seconds reached")
    lines.extend(f"  e.g. {sample}" for sample in result["error_samples"])
    return lines


async def run(args: argparse.Namespace, target: Target, file_limit: int) -> dict[str, Any]:
    bench = FanoutBench(target, args)
    print(
        f"target {target.report_url} and {target.socket_url_shown}; run id {bench.run_id}; "
        f"sockets {args.sockets} (connect concurrency {args.connect_concurrency}), "
        f"{args.rate:g} reports/s for {args.duration:g} s ({bench.reports} reports), drain {args.drain:g} s",
        file=sys.stderr,
    )
    try:
        await bench.open_sockets()
        if bench.sockets.connected:
            settle_end = min(time.monotonic() + args.settle, bench.deadline)
            await asyncio.sleep(max(0.0, settle_end - time.monotonic()))
            async with report_client(MAX_IN_FLIGHT, args.timeout) as client:
                await bench.send_reports(client)
            await bench.drain()
    finally:
        await bench.close_sockets()
    return result_dict(bench, file_limit)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        url = make_target(args.url, args.token, allow_remote=args.allow_remote)
    except TargetRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    file_limit, warning = raise_file_limit()
    if warning:
        print(warning, file=sys.stderr)
    if args.sockets + MAX_IN_FLIGHT + 32 > file_limit:
        print(
            f"open-file limit {file_limit} is low for {args.sockets} sockets; expect failed handshakes", file=sys.stderr
        )
    try:
        # The client reads every frame of every socket: on uvloop that costs the shared machine less.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(run(args, url, file_limit))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    # With --json the summary goes to stderr so stdout is exactly one JSON object.
    summary_stream = sys.stderr if args.json else sys.stdout
    for line in summary_lines(result):
        print(line, file=summary_stream)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    sockets, reports, deliveries = result["sockets"], result["reports"], result["deliveries"]
    complete = (
        sockets["connected"] == sockets["requested"]
        and reports["ok"] == reports["requested"]
        and deliveries["delivered"] == deliveries["expected"]
        and not sockets["dropped"]
    )
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
