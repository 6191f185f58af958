#!/usr/bin/env python
"""Mixed read/write load on a shared server: does the database hold a team's load without errors?

    python scripts/bench_load.py                          # SQLite and PostgreSQL, 16 and 32 clients, 60 s each
    python scripts/bench_load.py --seconds 15 --backends sqlite --clients 16

For each backend it builds a fresh database with the sample model (annotate.sample) and one annotator account
per client, starts `uvicorn circuitscope.api.app:create_app` on a free 127.0.0.1 port (multi-user mode, one
process, as `circuitscope serve`), and runs N clients (threads, keep-alive) for the given time. Each request is a
write with probability --writes (default 0.3): save your label on a unit (with the version you last saw), add or
remove a unit in your family, or add a unit to the team's shared family (version checked: a 409 there is the
expected answer to a race, not an error). The rest are reads: a unit's labels, the layer's unit page, search,
families, circuits. Errors are 5xx answers and failed connections; the table shows them with p50/p95 latency.
PostgreSQL is started from the Debian binaries (as tests/support/postgres_server.py does) and skipped if absent.
Only loopback addresses are used.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT / "tests"))

UNITS = [("conv1", 6), ("conv2", 6), ("block3.conv", 4)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str, data_dir: Path, clients: int) -> list[str]:
    """Schema, sample model, one annotator per client (returns their API tokens), one shared family."""
    from circuitscope.annotate import users as users_svc
    from circuitscope.annotate.sample import build_sample
    from circuitscope.store import BlobStore, Database

    db = Database(url)
    tokens = []
    with db.session() as s:
        build_sample(s, BlobStore(data_dir / "blobs"))
        for i in range(clients):
            user = users_svc.create_user(s, f"member{i}", "annotator")
            tokens.append(users_svc.create_token(s, user, "load")[1])
    db.dispose()
    return tokens


def start_server(url: str, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "CIRCUITSCOPE_DATABASE_URL": url, "CIRCUITSCOPE_DATA_DIR": str(data_dir),
           "CIRCUITSCOPE_LOCAL_USER": "", "CIRCUITSCOPE_ALLOWED_HOSTS": "127.0.0.1",
           "PYTHONPATH": str(ROOT / "backend")}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "circuitscope.api.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/models", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not start")


class Client(threading.Thread):
    def __init__(self, base: str, token: str, n: int, seconds: float, writes: float, seed: int):
        super().__init__(daemon=True)
        self.base, self.n, self.seconds, self.writes = base, n, seconds, writes
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        self.rng = random.Random(seed)
        self.read_ms: list[float] = []
        self.write_ms: list[float] = []
        self.status: Counter = Counter()
        self.errors: list[str] = []
        self.versions: dict[str, int | None] = {}
        self.family: tuple[int, int] | None = None  # id, version

    def unit(self) -> tuple[str, int]:
        layer, n = self.rng.choice(UNITS)
        return layer, self.rng.randrange(n)

    def call(self, method: str, path: str, bucket: list[float], **kw) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as err:
            self.errors.append(f"{method} {path}: {type(err).__name__}: {err}")
            self.status["failed connection"] += 1
            return None
        bucket.append((time.perf_counter() - t0) * 1000)
        self.status[r.status_code] += 1
        if r.status_code >= 500:
            self.errors.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
        return r

    def write(self) -> None:
        kind = self.rng.random()
        if kind < 0.6:  # your label on a unit
            layer, index = self.unit()
            path = f"/api/labels/toy/{layer}/{index}"
            r = self.call("PUT", path, self.write_ms, json={"label": f"m{self.n} {self.rng.random():.4f}",
                                                            "version": self.versions.get(path)})
            if r is not None and r.status_code == 200:
                self.versions[path] = r.json()["mine"]["version"]
            elif r is not None and r.status_code == 409:
                self.versions[path] = (r.json().get("current") or {}).get("version")
        elif kind < 0.85:  # your family: create once, then add/remove members
            if self.family is None:
                r = self.call("POST", "/api/families", self.write_ms, json={"model": "toy", "name": f"fam {self.n}"})
                if r is not None and r.status_code in (200, 201):
                    self.family = (r.json()["id"], r.json()["version"])
                return
            layer, index = self.unit()
            change = {"add" if self.rng.random() < 0.5 else "remove": [{"layer": layer, "index": index}]}
            r = self.call("POST", f"/api/families/{self.family[0]}/members", self.write_ms,
                          json={"version": self.family[1], **change})
            if r is not None and r.status_code == 200:
                self.family = (self.family[0], r.json()["version"])
        else:  # the team's shared family: racing others, 409 is expected
            r = self.call("GET", "/api/families?model=toy", self.read_ms)
            shared = next((f for f in (r.json() if r is not None and r.status_code == 200 else [])
                           if f["name"] == "shared"), None)
            if shared is None:
                self.call("POST", "/api/families", self.write_ms, json={"model": "toy", "name": "shared"})
                return
            layer, index = self.unit()
            self.call("POST", f"/api/families/{shared['id']}/members", self.write_ms,
                      json={"version": shared["version"], "add": [{"layer": layer, "index": index}]})

    def read(self) -> None:
        layer, index = self.unit()
        path = self.rng.choice([f"/api/labels/toy/{layer}/{index}", f"/api/models/toy/layers/{layer}/units",
                                "/api/search?q=m", "/api/families?model=toy", "/api/circuits?model=toy",
                                f"/api/models/toy/layers/{layer}/units/{index}"])
        self.call("GET", path, self.read_ms)

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            self.write() if self.rng.random() < self.writes else self.read()
        self.http.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_case(backend: str, clients: int, seconds: float, writes: float, pg) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"cs-load-{backend}-"))
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'load.db'}"
    else:
        url = pg.create_database(f"load_{clients}_{int(time.time())}")
    tokens = prepare(url, tmp / "data", clients)
    proc, base = start_server(url, tmp / "data")
    try:
        threads = [Client(base, tokens[i], i, seconds, writes, seed=i) for i in range(clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    reads = [x for t in threads for x in t.read_ms]
    writes_ms = [x for t in threads for x in t.write_ms]
    status = sum((t.status for t in threads), Counter())
    errors = [e for t in threads for e in t.errors]
    total = sum(status.values())
    return {"backend": backend, "clients": clients, "seconds": round(wall, 1), "requests": total,
            "rps": round(total / wall, 1), "errors": len(errors), "conflicts_409": status.get(409, 0),
            "read_p50": pct(reads, 0.5), "read_p95": pct(reads, 0.95), "write_p50": pct(writes_ms, 0.5),
            "write_p95": pct(writes_ms, 0.95), "write_share": round(len(writes_ms) / max(1, total), 3),
            "first_errors": errors[:5], "statuses": dict(status)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    ap.add_argument("--writes", type=float, default=0.3, help="share of requests that write (default 0.3)")
    args = ap.parse_args()
    pg = None
    if "postgres" in args.backends:
        from support.postgres_server import PostgresServer

        pg = PostgresServer()
        if pg.start() is None:
            print("PostgreSQL binaries not found: skipping postgres (apt-get install postgresql)")
            args.backends = [b for b in args.backends if b != "postgres"]
            pg = None
    rows = []
    try:
        for backend in args.backends:
            for n in args.clients:
                row = run_case(backend, n, args.seconds, args.writes, pg)
                rows.append(row)
                print(f"{backend:8s} {n:3d} clients {row['seconds']:5.1f} s: {row['requests']} requests "
                      f"({row['rps']}/s, {row['write_share']:.0%} writes), errors {row['errors']}, "
                      f"409 {row['conflicts_409']}, read p50/p95 {row['read_p50']:.0f}/{row['read_p95']:.0f} ms, "
                      f"write p50/p95 {row['write_p50']:.0f}/{row['write_p95']:.0f} ms", flush=True)
                for e in row["first_errors"]:
                    print("   ", e)
    finally:
        if pg is not None:
            pg.stop()
    print("\n| backend | clients | requests | req/s | writes | errors | 409 | read p50 / p95 ms | write p50 / p95 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['backend']} | {r['clients']} | {r['requests']} | {r['rps']} | {r['write_share']:.0%} | "
              f"{r['errors']} | {r['conflicts_409']} | {r['read_p50']:.0f} / {r['read_p95']:.0f} | "
              f"{r['write_p50']:.0f} / {r['write_p95']:.0f} |")
    if any(r["errors"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
