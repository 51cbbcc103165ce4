"""Resident memory of every process of a running `make serve`, measured from the server side.

Finds the honcho process serving --port, samples VmRSS of it and every process
below it (each in its own session) every --interval seconds for --seconds, and
prints the largest value seen per process with its command line. Run it beside
a load, e.g. bench/fanout.py with 1,000 sockets:

    .venv/bin/python bench/serve_rss.py --port 8911 --seconds 30

Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                found[int(entry.name)] = (parent, command)
    return found


def serving_tree(port: int) -> dict[int, str]:
    table = processes()
    roots = [pid for pid, (_, command) in table.items() if "honcho" in command and f"--port {port}" in command]
    if not roots:
        raise SystemExit(f"no `make serve` (honcho --port {port}) is running")
    tree, todo = {}, list(roots)
    while todo:
        pid = todo.pop()
        tree[pid] = table[pid][1]
        todo += [child for child, (parent, _) in table.items() if parent == pid]
    return tree


def rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True, help="the PORT make serve was started with")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    peak: dict[int, float] = {}
    commands: dict[int, str] = {}
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for pid, command in serving_tree(args.port).items():
            commands[pid] = command
            if (rss := rss_mb(pid)) is not None:
                peak[pid] = max(peak.get(pid, 0.0), rss)
        time.sleep(args.interval)
    for pid in sorted(peak, key=peak.__getitem__, reverse=True):
        if not commands[pid].startswith(("/bin/sh", "sh ", "make", "bash")):
            print(f"{peak[pid]:7.1f} MB  {pid:>7}  {commands[pid][:100]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
