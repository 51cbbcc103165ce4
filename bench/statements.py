"""What one edge report costs the database: every statement, and the round trips MariaDB counted.

Runs reports through the web process's own WSGI application, in this process,
with the web process's persistent connection (CONN_MAX_AGE), against the MySQL
database in DATABASE_URL, which it migrates first. It prints the statements of
one report by a device seen moments ago (the common case) and of one by a new
device, then the session counters MariaDB kept over --reports more reports:
statements (``Questions``), pings, and by kind. Every report is a real alarm:
point it at a throwaway database.

    DATABASE_URL=mysql://root@127.0.0.1:3306/vsp_statements .venv/bin/python bench/statements.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsp.settings")
os.environ.setdefault("CONN_MAX_AGE", "600")  # as the web process runs (scripts/serve/web)
os.environ.setdefault("EDGE_AUTH_REQUIRED", "false")

COUNTERS = ("Questions", "Com_admin_commands", "Com_insert", "Com_select", "Com_update", "Com_set_option", "Com_commit")


def environ(body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/ai/alert/edge/report", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=200, help="reports counted by MariaDB (default 200)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("mysql://"):
        print("set DATABASE_URL to a throwaway MySQL/MariaDB database", file=sys.stderr)
        return 2

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from vsp.wsgi import application

    run = uuid.uuid4().hex[:8]

    def report(number: int, device: str) -> str:
        body = json.dumps({
            "alarm_id": f"st-{run}-{number}", "alarm_type": "leave_post", "device_id": device, "scene_id": "gate-1",
            "event_time": "2026-11-27 10:15:30", "alarm_level": 2, "snapshot_url": "https://example.invalid/s.jpg",
            "confidence_score": 0.91, "ext_data": {"bbox": [10, 20, 110, 220], "bind_id": "b-1"},
        }).encode()  # fmt: skip
        status: list[str] = []
        response = application(environ(body), lambda line, headers, exc=None: status.append(line))
        b"".join(response)
        response.close()  # type: ignore[attr-defined]
        return status[0]

    def counters() -> dict[str, int]:
        with connection.cursor() as cursor:
            placeholders = ", ".join(["%s"] * len(COUNTERS))
            cursor.execute(f"SHOW SESSION STATUS WHERE Variable_name IN ({placeholders})", COUNTERS)
            return {name: int(value) for name, value in cursor.fetchall()}

    device = f"st-cam-{run}"
    report(0, device)  # the connection is open and the device known
    for label, number, reporter in (("a device seen moments ago", 1, device), ("a new device", 2, f"{device}-new")):
        with CaptureQueriesContext(connection) as captured:
            status = report(number, reporter)
        print(f"one report by {label} ({status}): {len(captured.captured_queries)} statements Django sent")
        for query in captured.captured_queries:
            print("   ", query["sql"][:110])
    before = counters()
    for number in range(args.reports):
        report(100 + number, f"{device}-{number % 10}")
    after = counters()
    # Each SHOW STATUS is a statement of its own; one is inside the window.
    per_report = {name: (after[name] - before[name] - (name == "Questions")) / args.reports for name in COUNTERS}
    print(f"over {args.reports} reports by 10 devices, per report, as MariaDB counted them:")
    print(f"    statements {per_report['Questions']:.2f}, pings {per_report['Com_admin_commands']:.2f}")
    print(
        "    "
        + ", ".join(
            f"{name[4:]} {per_report[name]:.2f}"
            for name in COUNTERS
            if name.startswith("Com_") and name != "Com_admin_commands"
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
