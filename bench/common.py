"""Pieces shared by the benchmark scripts in bench/ (``ingest.py`` and ``fanout.py``).

Argument parsing helpers, the loopback guard on ``--url``, the HTTP client the
scripts report through, error counting with one sample per kind, and latency
percentiles. The scripts are run as ``python bench/<script>.py``, which puts
this folder on ``sys.path``, so they import it as ``common``.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import httpx

REPORT_PATH = "/api/ai/alert/edge/report"
ALARM_TYPES = ("intrusion", "leave_post", "no_helmet", "smoke")
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
# How many example error messages (one per kind) are kept for the report.
MAX_ERROR_SAMPLES = 5


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting an integer in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def bounded_float(low: float, high: float, *, low_inclusive: bool = True) -> Callable[[str], float]:
    """An argparse ``type`` accepting a finite number in ``[low, high]`` (``(low, high]`` if not ``low_inclusive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        above_low = value >= low if low_inclusive else value > low
        if not (math.isfinite(value) and above_low and value <= high):
            bracket = "[" if low_inclusive else "("
            raise argparse.ArgumentTypeError(f"must be in {bracket}{low}, {high}], got {text}")
        return value

    return parse


# ---------------------------------------------------------------------------
# The loopback guard
# ---------------------------------------------------------------------------


class TargetRefused(Exception):
    """``--url`` is malformed or (without ``--allow-remote``) not a loopback address."""


def check_base_url(base_url: str, *, allow_remote: bool, scheme_wording: str = "http(s)") -> SplitResult:
    """Split and check ``base_url``; refuses anything but a plain loopback http(s) URL unless ``allow_remote``.

    ``scheme_wording`` names the accepted schemes in the error for a bad scheme or a missing host.
    Raises ``TargetRefused``; returns the split URL, whose ``hostname`` is set.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise TargetRefused(f"--url must be an {scheme_wording} URL with a host, got {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise TargetRefused(f"--url must be a plain base URL (no credentials, query or fragment), got {base_url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"--url has a bad port: {exc}") from None
    if not allow_remote:
        addresses = resolve(parts.hostname, port)
        remote = sorted(str(address) for address in addresses if not address.is_loopback)
        if remote or not addresses:
            raise TargetRefused(
                f"{parts.hostname} is not a loopback address (resolves to {', '.join(remote) or 'nothing'}); "
                "load tests stay on loopback unless --allow-remote is passed"
            )
    return parts


def resolve(host: str, port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses ``host`` stands for: itself if it is an IP literal, else what the resolver answers."""
    try:
        return {ipaddress.ip_address(host)}
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"cannot resolve {host}: {exc}") from None
    return {ipaddress.ip_address(str(info[4][0])) for info in infos}


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def new_run_id() -> str:
    """A short id for this run (hex seconds plus randomness), used in every alarm_id it sends."""
    return f"{int(time.time()):x}{secrets.token_hex(3)}"


def report_client(max_connections: int, timeout: float) -> httpx.AsyncClient:
    """The HTTP client the reports are sent with: at most ``max_connections``, kept alive, no redirects."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    # trust_env=False: no proxy from the environment, so requests go only to --url.
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout), trust_env=False, follow_redirects=False)


@dataclass
class Failures:
    """Failures counted by kind, with the first message of each kind kept as a sample."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        # One example per kind.
        if self.counts[kind] == 1 and len(self.samples) < MAX_ERROR_SAMPLES:
            self.samples.append(f"{kind}: {' '.join(detail.split())[:200]}")


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def round_ms(value: float) -> float | None:
    """Milliseconds rounded for the report; ``None`` for NaN (no data)."""
    return None if math.isnan(value) else round(value, 2)


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max of ``values`` (in any order), rounded; ``None`` where there are no values."""
    ordered = sorted(values)
    return {
        "p50": round_ms(percentile(ordered, 50)),
        "p90": round_ms(percentile(ordered, 90)),
        "p99": round_ms(percentile(ordered, 99)),
        "max": round_ms(ordered[-1]) if ordered else None,
    }


def format_ms(value: float | None) -> str:
    """A reported value for a summary line: one decimal, ``-`` for ``None``."""
    return "-" if value is None else f"{value:.1f}"
