"""``manage.py seed_alarms --count N [--devices D] [--days K]``: synthetic alarms for measuring at scale."""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import secrets
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections
from django.utils import timezone
from tqdm import tqdm

from alarms import seeding

MAX_COUNT = 50_000_000


def _positive(limit: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"expected 1 to {limit}, got {value}")
        return value

    return parse


class Command(BaseCommand):
    help = (
        "Insert N synthetic alarms (ids seed-…) from D cameras over the last K days, with ext data, snapshot "
        "links and handling. Refuses a database holding real alarms unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=_positive(MAX_COUNT), required=True, help="Alarms to insert.")
        parser.add_argument("--devices", type=_positive(10_000), default=500, help="Cameras (default 500).")
        parser.add_argument("--days", type=_positive(3650), default=30, help="Days back from now (default 30).")
        parser.add_argument("--batch", type=_positive(100_000), default=5000, help="Rows per insert (default 5000).")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for the same data twice.")
        parser.add_argument("--force", action="store_true", help="Insert even where real alarms are stored.")
        parser.add_argument(
            "--jobs",
            type=_positive(64),
            default=min(4, os.cpu_count() or 1),
            help="Processes making and inserting batches (default: the cores, at most 4; 1 on SQLite).",
        )

    def handle(self, *args: Any, count: int, devices: int, days: int, batch: int, **options: Any) -> None:
        if seeding.real_alarms_exist() and not options["force"]:
            raise CommandError(
                "this database holds alarms that are not synthetic (ids not starting with "
                f"{seeding.SEED_PREFIX!r}); seeding it would mix fake alarms into real ones. Use --force to do so."
            )
        plan = seeding.Plan(
            count=count, devices=devices, days=days, end=timezone.now(), run=secrets.token_hex(3), seed=options["seed"]
        )
        new_devices = seeding.ensure_devices(plan)
        started = time.perf_counter()
        # SQLite takes one writer at a time; inside a transaction (a test's), other processes would not see it.
        jobs = 1 if connection.vendor == "sqlite" or connection.in_atomic_block else options["jobs"]
        firsts = range(0, count, batch)
        bar = functools.partial(tqdm, total=count, unit=" alarms", unit_scale=True, disable=options["verbosity"] < 1)
        if jobs == 1:
            with bar() as progress:
                for first in firsts:
                    progress.update(seeding.insert_batch(plan, first, batch))
        else:
            # Making rows is half the work and Python's: a process per core, each with its own connection,
            # forked before the progress bar starts its monitor thread.
            connections.close_all()
            with multiprocessing.get_context("fork").Pool(jobs) as pool, bar() as progress:
                for inserted in pool.imap_unordered(functools.partial(seeding.insert_batch, plan, size=batch), firsts):
                    progress.update(inserted)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{count} alarms ({seeding.SEED_PREFIX}{plan.run}-…) from {devices} cameras ({new_devices} new) over "
            f"{days} days in {elapsed:.1f} s: {count / elapsed:,.0f} alarms/s"
        )
