"""A bounded load with the LLM second opinion on: edge ingest latency with and without it, and the jobs' end.

Starts, on this machine, the production web process (scripts/serve/web, granian) and, with analysis
on, a job worker and the scheduler (scripts/serve/worker, scheduler), against a fresh MariaDB
database ``vsp_bench_analysis`` and Redis database 11, with a local model speaking the
chat-completions protocol that answers after ``--model-delay`` seconds (analysis/tests/fake_model.py).
Each round sends ``--count`` new reports, ``--concurrency`` at a time, with a snapshot link. Rounds
run in turn: analysis off; on, with the worker started once the reports are in (the request path
alone); on, with the worker beside the web process on the same cores. It prints the reports' latency
per round, and for rounds with analysis on how long until every analysis had ended, and how.

    python bench/analysis_load.py [--count 200] [--rounds 2] [--model-delay 2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from common import bounded_float, bounded_int, new_run_id, spread

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE = "vsp_bench_analysis"


def environment(*, analysis: bool, model_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"mysql://root@127.0.0.1:3306/{DATABASE}",
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "DEBUG": "false",
        "SECRET_KEY": "analysis-bench-key-not-a-default-0123456789abcdefghijkl",
        "ALLOWED_HOSTS": "127.0.0.1",
        "EDGE_AUTH_REQUIRED": "false",
        "EDGE_RATE_PER_IP": "100000/m",
        "EDGE_RATE_PER_DEVICE": "100000/m",
        "LOG_LEVEL": "warning",
        "WEB_BIND": f"127.0.0.1:{port}",
        "RUN_DIR": f"/tmp/vsp-analysis-bench-{port}",
        "AI_MODEL_NAME": "qwen-vl-max" if analysis else "",
        "AI_MODEL_URL": model_url,
        "AI_MODEL_RATE": "100000/m",
        "AI_MODEL_TIMEOUT": "30",
        "JOB_CONCURRENCY": "16",
        "AI_DISPATCH_INTERVAL": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }


def start(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([ROOT / "scripts/serve" / name], cwd=ROOT, env=env, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def send(url: str, count: int, concurrency: int, snapshot: str, run: str) -> list[float]:
    latencies: list[float] = []
    numbers = iter(range(count))
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def sender() -> None:
            for number in numbers:
                body = {
                    "alarm_id": f"an-{run}-{number}",
                    "alarm_type": "smoke",
                    "device_id": f"cam-{number % 20}",
                    "event_time": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "alarm_level": 2,
                    "snapshot_url": snapshot,
                }
                started = time.perf_counter()
                response = await client.post("/api/ai/alert/edge/report", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"report refused: {response.status_code} {response.text[:200]}")

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return sorted(latencies)


def analyses_of(run: str) -> dict[str, int]:
    import MySQLdb  # type: ignore[import-untyped]

    connection = MySQLdb.connect(host="127.0.0.1", user="root", database=DATABASE)
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT status, COUNT(*) FROM analysis_alarmllmanalysis WHERE alarm_id LIKE %s GROUP BY status",
            (f"an-{run}-%",),
        )
        return {status: count for status, count in cursor.fetchall()}
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=bounded_int(1, 10_000), default=200)
    parser.add_argument("--rounds", type=bounded_int(1, 10), default=2, help="times the three modes run, in turn")
    parser.add_argument("--model-delay", type=bounded_float(0, 30), default=2.0)
    parser.add_argument("--concurrency", type=bounded_int(1, 64), default=8)
    parser.add_argument("--port", type=bounded_int(1024, 65535), default=8931)
    args = parser.parse_args()

    from analysis.tests.fake_model import fake_model

    subprocess.run(["mariadb", "-uroot", "-h127.0.0.1", "-e",
                    f"DROP DATABASE IF EXISTS {DATABASE}; CREATE DATABASE {DATABASE}"], check=True)  # fmt: skip
    url = f"http://127.0.0.1:{args.port}"
    with fake_model() as model:
        model.default = f"slow:{args.model_delay}"
        snapshot = model.url.removesuffix("/v1") + "/snapshot.jpg"
        env = environment(analysis=False, model_url=model.url, port=args.port)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run(["redis-cli", "-n", "11", "flushdb"], check=True, capture_output=True)
        # off; on, the worker started once the reports are in (the request path alone); on, the worker
        # running beside the web process on the same cores.
        for round_number in range(args.rounds * 3):
            mode = ("off", "on, worker after", "on, worker beside")[round_number % 3]
            analysis = mode != "off"
            env = environment(analysis=analysis, model_url=model.url, port=args.port)
            jobs = ["worker", "scheduler"]  # the scheduler's dispatch sends the requests the reports wrote
            processes = [start("web", env)] + (
                [start(name, env) for name in jobs] if mode == "on, worker beside" else []
            )
            try:
                wait_up(url)
                run = new_run_id()
                asyncio.run(send(url, 10, 2, snapshot, f"warm{run}"))  # connections and imports
                began = time.monotonic()
                latencies = asyncio.run(send(url, args.count, args.concurrency, snapshot, run))
                sent_in = time.monotonic() - began
                figures = spread(latencies)
                line = (f"analysis {mode}: {args.count} reports in {sent_in:.1f} s, "
                        f"latency p50 {figures['p50']} ms, p90 {figures['p90']} ms, p99 {figures['p99']} ms, "
                        f"max {figures['max']} ms")  # fmt: skip
                if mode == "on, worker after":
                    processes += [start(name, env) for name in jobs]
                if analysis:
                    deadline = time.monotonic() + 600
                    while time.monotonic() < deadline:
                        ended = analyses_of(run)
                        if ended.get("DONE", 0) + ended.get("FAILED", 0) >= args.count:
                            break
                        time.sleep(0.5)
                    line += f"; every analysis ended {time.monotonic() - began:.1f} s after the first report: {ended}"
                print(line, flush=True)
            finally:
                for process in processes:
                    stop(process)


if __name__ == "__main__":
    main()
