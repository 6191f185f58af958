#!/usr/bin/env python
"""API latency benchmark: p50/p95 of the unit and layer-page endpoints under concurrent clients on loopback.

    python scripts/gen_bench_db.py --data-dir /tmp/cs-bench          # 100k units, 2M example rows (once)
    python scripts/bench_api.py --data-dir /tmp/cs-bench              # 16 clients, bounded request count

Starts `uvicorn circuitscope.api.app:create_app` on a free loopback port with CIRCUITSCOPE_DATA_DIR set,
runs each endpoint in turn with N concurrent httpx clients (keep-alive) on random units, prints a table
and stops the server. The goal: unit JSON p95 under 50 ms with 16 clients on SQLite.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, workers: int) -> subprocess.Popen:
    env = dict(os.environ, CIRCUITSCOPE_DATA_DIR=str(data_dir))
    cmd = [sys.executable, "-m", "uvicorn", "circuitscope.api.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-access-log"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return subprocess.Popen(cmd, env=env)


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/api/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not come up")


def _proc_cpu(pid: int) -> float:
    """utime + stime of one process in seconds (Linux /proc); 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def server_cpu(pid: int | None) -> float:
    """CPU seconds used so far by the server and its worker processes."""
    if pid is None:
        return 0.0
    total = _proc_cpu(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                total += _proc_cpu(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return total


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


async def run_phase(base: str, urls: list[str], clients: int) -> tuple[list[float], float, int]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for u in urls:
        queue.put_nowait(u)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    url = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                r = await client.get(url)
                await r.aread()
                latencies.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    return latencies, wall, errors


def db_counts(data_dir: Path) -> dict[str, int]:
    path = data_dir / "circuitscope.db"
    if not path.exists():
        return {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("units", "dataset_examples", "feature_vis", "connections", "layers")}
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True, help="a data dir filled by scripts/gen_bench_db.py")
    ap.add_argument("--base-url", default=None, help="benchmark an already running server instead of starting one")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=2000, help="requests per endpoint")
    ap.add_argument("--warmup", type=int, default=200, help="requests before measuring (not counted)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    counts = db_counts(args.data_dir)
    proc = None
    base = args.base_url
    if base is None:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(args.data_dir, port, args.workers)
    try:
        wait_ready(base, proc) if proc else None
        models = httpx.get(base + "/api/models", timeout=60).json()
        layers = [(m["slug"], lyr["name"], lyr["channels"]) for m in models for lyr in m["layers"]
                  if lyr["status"] != "not_computed"]
        if not layers:
            raise SystemExit("no computed layers in this database: run scripts/gen_bench_db.py first")
        rng = random.Random(args.seed)

        def unit_url() -> str:
            slug, name, ch = rng.choice(layers)
            return f"/api/models/{slug}/layers/{name}/units/{rng.randrange(ch)}"

        def page_url() -> str:
            slug, name, ch = rng.choice(layers)
            offset = rng.randrange(0, max(1, ch), 500) if ch > 500 else 0
            return f"/api/models/{slug}/layers/{name}/units?offset={offset}&limit=500"

        def layer_url() -> str:
            slug, name, _ = rng.choice(layers)
            return f"/api/models/{slug}/layers/{name}"

        detail = httpx.get(base + unit_url(), timeout=30).json()
        image = detail["feature_vis"][0]["image"] if detail.get("feature_vis") else None
        phases = [
            ("unit detail  GET /api/models/{m}/layers/{l}/units/{i}", unit_url),
            ("layer page   GET /api/models/{m}/layers/{l}/units?limit=500", page_url),
            ("layer        GET /api/models/{m}/layers/{l}", layer_url),
        ]
        if image:
            phases.append(("image        GET /api/images/{hash}", lambda: image))

        print(f"database: {', '.join(f'{k} {v:,}' for k, v in counts.items())}")
        print(f"server: {base}  workers={args.workers}  clients={args.clients}  requests/endpoint={args.requests}")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} before the run")
        print(f"{'endpoint':60s} {'n':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'req/s':>8s} "
              f"{'srv CPU ms/req':>14s} {'errors':>6s}")
        results = {}
        for name, make in phases:
            asyncio.run(run_phase(base, [make() for _ in range(args.warmup)], args.clients))
            cpu0 = server_cpu(proc.pid if proc else None)
            lat, wall, errors = asyncio.run(run_phase(base, [make() for _ in range(args.requests)], args.clients))
            cpu = (server_cpu(proc.pid if proc else None) - cpu0) / len(lat) * 1000
            results[name] = (pct(lat, 50), pct(lat, 95))
            print(f"{name:60s} {len(lat):6d} {pct(lat, 50):8.1f} {pct(lat, 95):8.1f} {pct(lat, 99):8.1f} "
                  f"{len(lat) / wall:8.0f} {cpu:14.2f} {errors:6d}", flush=True)
        unit_p95 = results[phases[0][0]][1]
        verdict = "meets" if unit_p95 < 50 else "MISSES"
        print(f"unit JSON p95 = {unit_p95:.1f} ms with {args.clients} clients: {verdict} the 50 ms goal")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
