"""Start a throwaway PostgreSQL server for the tests (Debian's postgresql package), or use
CIRCUITSCOPE_TEST_POSTGRES_URL if it is set. initdb refuses root, so as root we run it as `postgres`."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from support.live_server import free_port


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PostgresServer:
    def __init__(self) -> None:
        self.url = os.environ.get("CIRCUITSCOPE_TEST_POSTGRES_URL")
        self.datadir: Path | None = None
        self.port = 0
        self._as_user: list[str] = []

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as_user, *cmd], check=True, capture_output=True, text=True)

    def start(self) -> str | None:
        if self.url:
            return self.url
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            return None
        self.datadir = Path(tempfile.mkdtemp(prefix="circuitscope-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self._run(initdb, "-D", str(self.datadir), "-U", "circuitscope", "--auth=trust", "-E", "UTF8")
        sockdir = str(self.datadir)
        self._run(pg_ctl, "-D", str(self.datadir), "-w", "-l", str(self.datadir / "log"),
                  "-o", f"-p {self.port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.url = f"postgresql+psycopg://circuitscope@127.0.0.1:{self.port}/postgres"
        return self.url

    def create_database(self, name: str) -> str:
        import psycopg

        base = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        if self.datadir is not None:
            pg_ctl = _pg_bin("pg_ctl")
            subprocess.run([*self._as_user, pg_ctl, "-D", str(self.datadir), "-m", "immediate", "stop"],
                           capture_output=True)
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir = None
