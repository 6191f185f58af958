"""Real servers for the tests that need a socket (browser tests, signals): a free loopback port, uvicorn
started on the app factory, polled until it answers, stopped at the end."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_until_up(proc: subprocess.Popen, url: str, log: Path, timeout: float, what: str = "the server",
                  interval: float = 0.25) -> None:
    """Poll GET url until it answers 200; fail the test with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer within {timeout:.0f} s:\n{log.read_text()[-4000:]}")
        time.sleep(interval)


@dataclass
class LiveServer:
    base: str  # http://127.0.0.1:PORT
    proc: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 10) -> None:
        stop_process(self.proc, timeout)


def start_server(env: dict[str, str], cwd: Path, log: Path, *, ready: str = "/api/models", timeout: float = 60,
                 what: str = "the server", log_level: str | None = "warning") -> LiveServer:
    """`uvicorn circuitscope.api.app:create_app --factory` on a free loopback port, configured by `env`
    (CIRCUITSCOPE_DATA_DIR, …), output appended to `log`; returns once GET `ready` answers 200."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "circuitscope.api.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port)]
    if log_level:
        cmd += ["--log-level", log_level]
    out: IO[str]
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    server = LiveServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        wait_until_up(proc, server.base + ready, log, timeout, what)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def live_server(env: dict[str, str], cwd: Path, log: Path, **kwargs) -> Iterator[LiveServer]:
    server = start_server(env, cwd, log, **kwargs)
    try:
        yield server
    finally:
        server.stop()
