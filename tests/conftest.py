"""Shared fixtures: a settings object in a temp data dir, databases on SQLite and PostgreSQL, and the app factory
(`make_app`; helpers live in tests/support/, model files in tests/model_sources/)."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from support.postgres_server import PostgresServer

os.environ.setdefault("CIRCUITSCOPE_DATA_DIR", "/tmp/circuitscope-test-unused")  # never the user's data/
# Starlette's TestClient sends `Host: testserver`; the host check (api.security) must let it through.
os.environ.setdefault("CIRCUITSCOPE_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1,::1")
_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    url = server.start()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs Debian's postgresql package")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"cs_test_{os.getpid()}_{next(_counter)}")


@pytest.fixture
def settings(tmp_path: Path):
    from circuitscope.settings import Settings

    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def make_app(tmp_path: Path):
    """make_app(name="app", db_url=None, sample=True, **settings) -> support.app.AppEnv on tmp_path/name
    (build_app's arguments); every database it made is disposed after the test."""
    from support.app import AppEnv, build_app  # imported here: circuitscope loads after the environment above is set

    made: list[AppEnv] = []

    def make(name: str = "app", **kwargs) -> AppEnv:
        env = build_app(tmp_path / name, **kwargs)
        made.append(env)
        return env

    yield make
    for env in made:
        env.db.dispose()


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch):
    """No test may download: torch.hub's cache is a fresh, empty folder (never the user's) and any download
    fails at once. Modules that load models use it for every test (pytestmark usefixtures)."""
    import urllib.error

    import torch

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def no_download(url, dst, *a, **k):
        raise urllib.error.URLError("network is unreachable (test)")
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors on a shared machine: one thread is much faster than contended ones."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
