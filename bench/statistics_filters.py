"""How long the statistics take from the counts for every combination of dimension filters.

Runs ``alarm_statistics`` in this process on the alarms of DATABASE_URL (seeded by
``queries_at_scale.sh`` or ``manage.py seed_alarms``), for no filter, each dimension, each pair,
triple and all four, over all time and over the 7 days before --end, and prints the median and
the slowest of --runs calls. It only reads.

    DATABASE_URL=mysql://root@127.0.0.1:3306/vsp_bench_scale DEBUG=false SECRET_KEY=x \\
        .venv/bin/python bench/statistics_filters.py
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsp.settings")

# A value of each dimension that the seeder writes often.
VALUES: dict[str, Any] = {
    "alarm_type": "intrusion",
    "alarm_level": 2,
    "alarm_status": "NEW",
    "handle_status": "UNHANDLED",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--end", default="2026-12-01", help="the end of the 7-day range (a local date)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.utils import timezone

    from alarms import counts
    from alarms.models import AlarmEvent
    from alarms.statistics import alarm_statistics

    end = timezone.make_aware(datetime.fromisoformat(args.end))
    ranges = {"all time": (None, None), "7 days": (end - timedelta(days=7), end)}
    for size in range(len(VALUES) + 1):
        for names in itertools.combinations(VALUES, size):
            scope = counts.Scope(**{name: VALUES[name] for name in names})
            for label, (start, stop) in ranges.items():
                took = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    alarm_statistics(AlarmEvent.objects.none(), scope=scope, start=start, end=stop)
                    took.append((time.perf_counter() - began) * 1000)
                shown = " + ".join(f"{name}={VALUES[name]}" for name in names) or "no filter"
                print(f"{shown:70} {label:8}: median {statistics.median(took):5.0f} ms, max {max(took):5.0f} ms")


if __name__ == "__main__":
    main()
