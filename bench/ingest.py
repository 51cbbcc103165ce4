"""Load test for the edge ingest endpoint of a running server.

Fires ``--requests`` alarm reports at ``POST {url}/api/ai/alert/edge/report``
with ``--concurrency`` requests in flight and prints reports/s, latency
percentiles, the count of each HTTP status, created/duplicate answers and
errors. Exits 1 if any request (warm-up included) failed, 2 on bad arguments
or a refused target.

Every report is a real alarm written to the target's database (and its
``bench-cam-<k>`` devices get registered), so point it at a throwaway database.
The target must be a loopback address unless ``--allow-remote`` is given.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from common import (
    ALARM_TYPES,
    HEADERS,
    REPORT_PATH,
    Failures,
    TargetRefused,
    bounded_float,
    bounded_int,
    check_base_url,
    format_ms,
    new_run_id,
    report_client,
    round_ms,
    spread,
)

MAX_REQUESTS = 1_000_000
MAX_CONCURRENCY = 1024


# ---------------------------------------------------------------------------
# Arguments and the loopback guard
# ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=f"Benchmark POST {REPORT_PATH} on a running server (loopback only by default).",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (default: %(default)s)")
    parser.add_argument(
        "-n",
        "--requests",
        type=bounded_int(1, MAX_REQUESTS),
        default=5000,
        help="measured reports to send (default: %(default)s)",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=bounded_int(1, MAX_CONCURRENCY),
        default=32,
        help="requests in flight, and connections (default: %(default)s)",
    )
    parser.add_argument(
        "--devices",
        type=bounded_int(1, 1_000_000),
        default=50,
        help="distinct device ids the reports are spread over (default: %(default)s)",
    )
    parser.add_argument(
        "--duplicates",
        type=bounded_float(0.0, 1.0),
        default=0.0,
        help="fraction of measured requests that repeat an already acknowledged alarm_id (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=bounded_int(0, MAX_REQUESTS),
        default=200,
        help="fresh reports sent before measuring (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=bounded_float(0.0, 600.0, low_inclusive=False),
        default=10.0,
        help="seconds allowed for one request, start to end (default: %(default)s)",
    )
    parser.add_argument(
        "--max-seconds",
        type=bounded_float(0.0, 86_400.0, low_inclusive=False),
        default=300.0,
        help="stop sending after this many seconds, warm-up included (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="also print the result as one JSON object on stdout")
    parser.add_argument("--allow-remote", action="store_true", help="allow a target that is not a loopback address")
    return parser.parse_args(argv)


def endpoint_url(base_url: str, *, allow_remote: bool) -> str:
    """The report URL under ``base_url``; refuses anything but loopback unless allowed."""
    check_base_url(base_url, allow_remote=allow_remote)
    return base_url.rstrip("/") + REPORT_PATH


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def make_report(run_id: str, index: int, devices: int, base_ms: int) -> dict[str, Any]:
    """Report number ``index`` of this run; the same index always gives the same body (a true retry)."""
    rng = random.Random(f"{run_id}:{index}")
    alarm_id = f"bench-{run_id}-{index}"
    k = rng.randrange(devices) + 1
    return {
        "alarm_id": alarm_id,
        "alarm_type": rng.choice(ALARM_TYPES),
        "device_id": f"bench-cam-{k}",
        "scene_id": f"scene-{k}",
        "event_time": base_ms + index,
        "alarm_level": rng.randint(1, 4),
        "snapshot_url": f"https://img.example.com/{alarm_id}.jpg",
        "confidence_score": round(rng.uniform(0.5, 0.99), 3),
        "ext_data": {
            "bbox": [rng.randrange(1920), rng.randrange(1080), rng.randrange(16, 400), rng.randrange(16, 400)],
            "bind_id": f"bench-bind-{k}-{rng.randrange(8)}",
        },
    }


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


@dataclass
class PhaseStats:
    requested: int
    sent: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    created: int = 0
    not_created: int = 0
    duplicates_sent: int = 0
    failures: Failures = field(default_factory=Failures)

    @property
    def failed(self) -> int:
        return self.failures.total

    @property
    def ok(self) -> int:
        return self.created + self.not_created

    def fail(self, kind: str, detail: str) -> None:
        self.failures.add(kind, detail)


class Bench:
    def __init__(self, client: httpx.AsyncClient, url: str, args: argparse.Namespace) -> None:
        self.client = client
        self.url = url
        self.args = args
        self.run_id = new_run_id()
        self.base_ms = int(time.time() * 1000)
        self.rng = random.Random(self.run_id)
        self.next_fresh = 0
        # Indexes whose report the server has acknowledged: the pool duplicates are drawn from.
        self.acknowledged: list[int] = []
        self.deadline = time.monotonic() + args.max_seconds

    async def run_phase(self, count: int, duplicate_fraction: float) -> PhaseStats:
        stats = PhaseStats(requested=count)
        duplicate_slots = set(self.rng.sample(range(count), round(count * duplicate_fraction))) if count else set()
        position = 0

        async def worker() -> None:
            nonlocal position
            while position < count and time.monotonic() < self.deadline:
                slot = position
                position += 1
                if slot in duplicate_slots and self.acknowledged:
                    await self.send(self.rng.choice(self.acknowledged), duplicate=True, stats=stats)
                else:
                    index = self.next_fresh
                    self.next_fresh += 1
                    await self.send(index, duplicate=False, stats=stats)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(self.args.concurrency, count))))
        stats.elapsed_s = time.perf_counter() - started
        return stats

    async def send(self, index: int, *, duplicate: bool, stats: PhaseStats) -> None:
        report = make_report(self.run_id, index, self.args.devices, self.base_ms)
        body = json.dumps(report, separators=(",", ":")).encode()
        stats.sent += 1
        stats.duplicates_sent += int(duplicate)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.args.timeout):
                response = await self.client.post(self.url, content=body, headers=HEADERS)
        except TimeoutError:
            stats.fail("timeout", f"no complete answer within {self.args.timeout} s")
            return
        except httpx.HTTPError as exc:
            stats.fail(f"transport {type(exc).__name__}", str(exc) or type(exc).__name__)
            return
        stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        stats.statuses[response.status_code] += 1
        self.check(response, report["alarm_id"], index, duplicate, stats)

    def check(self, response: httpx.Response, alarm_id: str, index: int, duplicate: bool, stats: PhaseStats) -> None:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200:
            message = payload.get("msg") if isinstance(payload, dict) else response.text
            stats.fail(f"http {response.status_code}", f"{alarm_id}: {message}")
            return
        if not isinstance(payload, dict):
            stats.fail("bad body", f"{alarm_id}: not a JSON object: {response.text[:120]!r}")
            return
        code = payload.get("code")
        if type(code) is not int or code != 0:  # not False or 0.0 either
            stats.fail(f"code {code!r}", f"{alarm_id}: {payload.get('msg')}")
            return
        data = payload.get("data")
        created = data.get("created") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("alarm_id") != alarm_id or not isinstance(created, bool):
            stats.fail("bad body", f"{alarm_id}: unexpected data {data!r}")
            return
        if created:
            stats.created += 1
        else:
            stats.not_created += 1
        # The id was acknowledged before, so a repeat must not create; a fresh id must.
        if duplicate and created:
            stats.fail("idempotency", f"{alarm_id}: repeated report answered created=true")
        elif not duplicate and not created:
            stats.fail("idempotency", f"{alarm_id}: first report answered created=false")
        if not duplicate:
            self.acknowledged.append(index)


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def result_dict(bench: Bench, warmup: PhaseStats, measured: PhaseStats) -> dict[str, Any]:
    ordered = sorted(measured.latencies_ms)
    elapsed = measured.elapsed_s or math.nan
    return {
        "url": bench.url,
        "run_id": bench.run_id,
        "alarm_id_prefix": f"bench-{bench.run_id}-",
        "requests": measured.requested,
        "sent": measured.sent,
        "concurrency": bench.args.concurrency,
        "devices": bench.args.devices,
        "duplicates_fraction": bench.args.duplicates,
        "elapsed_s": round(measured.elapsed_s, 3),
        "reports_per_s": round(measured.sent / elapsed, 1) if measured.sent else 0.0,
        "ok_per_s": round(measured.ok / elapsed, 1) if measured.ok else 0.0,
        "latency_ms": {**spread(ordered), "mean": round_ms(sum(ordered) / len(ordered)) if ordered else None},
        "status_counts": {str(status): count for status, count in sorted(measured.statuses.items())},
        "created": measured.created,
        "not_created": measured.not_created,
        "duplicates_sent": measured.duplicates_sent,
        "failed": measured.failed,
        "errors": dict(measured.failures.counts.most_common()),
        "error_samples": measured.failures.samples,
        "stopped_early": measured.sent < measured.requested,
        "warmup": {
            "requested": warmup.requested,
            "sent": warmup.sent,
            "failed": warmup.failed,
            "errors": dict(warmup.failures.counts.most_common()),
            "error_samples": warmup.failures.samples,
        },
    }


def summary_line(result: dict[str, Any]) -> str:
    rate = f"{result['sent']} reports in {result['elapsed_s']:.2f} s: {result['reports_per_s']:.0f} reports/s"
    if result["failed"]:
        rate += f" ({result['ok_per_s']:.0f} ok/s)"
    latency = result["latency_ms"]
    latencies = " ".join(f"{name} {format_ms(latency[name])}" for name in ("p50", "p90", "p99", "max"))
    statuses = " ".join(f"{status}x{count}" for status, count in result["status_counts"].items()) or "no answers"
    answers = f"created {result['created']}, duplicates {result['not_created']}"
    if result["duplicates_sent"] != result["not_created"]:
        answers += f" (repeats sent {result['duplicates_sent']})"
    errors = f"errors {result['failed']}"
    if result["errors"]:
        errors += " (" + ", ".join(f"{kind} x{count}" for kind, count in result["errors"].items()) + ")"
    return "; ".join([rate, f"latency ms {latencies}", statuses, answers, errors])


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    async with report_client(args.concurrency, args.timeout) as client:
        bench = Bench(client, url, args)
        print(
            f"target {url}; run id {bench.run_id}; n {args.requests}, c {args.concurrency}, "
            f"devices {args.devices}, duplicates {args.duplicates:g}, warm-up {args.warmup}",
            file=sys.stderr,
        )
        warmup = await bench.run_phase(args.warmup, 0.0)
        measured = await bench.run_phase(args.requests, args.duplicates)
    return result_dict(bench, warmup, measured)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        url = endpoint_url(args.url, allow_remote=args.allow_remote)
    except TargetRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(run(args, url))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    # With --json the summary goes to stderr so stdout is exactly one JSON object.
    summary_stream = sys.stderr if args.json else sys.stdout
    warmup = result["warmup"]
    if warmup["failed"]:
        kinds = ", ".join(f"{kind} x{count}" for kind, count in warmup["errors"].items())
        print(f"warm-up: {warmup['failed']} of {warmup['sent']} failed ({kinds})", file=summary_stream)
    if result["stopped_early"] or warmup["sent"] < warmup["requested"]:
        print(
            f"stopped after --max-seconds {args.max_seconds:g}: sent {result['sent']} of {result['requests']}",
            file=summary_stream,
        )
    print(summary_line(result), file=summary_stream)
    for sample in result["error_samples"] or warmup["error_samples"]:
        print(f"  e.g. {sample}", file=summary_stream)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    return 1 if result["failed"] or warmup["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
