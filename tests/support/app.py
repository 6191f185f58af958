"""The one way a test builds the app: settings on a fresh folder, a database, optionally the sample model
(annotate.sample: model `toy`, layers conv1 and conv2) and users. `make_app` in tests/conftest.py wraps it for
one test; module- and session-scoped fixtures call `build_app` themselves."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from circuitscope.annotate import users as users_svc
from circuitscope.annotate.sample import build_sample
from circuitscope.api.app import create_app
from circuitscope.settings import Settings
from circuitscope.store import BlobStore, Database


@dataclass
class AppEnv:
    app: FastAPI
    db: Database
    settings: Settings
    root: Path  # an empty folder next to the data dir, for tests that allow it (allowed_roots=[root])

    def client(self, **kwargs: Any) -> TestClient:
        return TestClient(self.app, **kwargs)


def build_app(directory: Path, *, db_url: str | None = None, sample: bool = True, allow_root: bool = False,
              **settings_kw: Any) -> AppEnv:
    """Settings(data_dir=directory/"data", **settings_kw); the database at db_url, else the SQLite file a
    server on that data dir opens (never CIRCUITSCOPE_DATABASE_URL: a test may have set it); the sample model
    stored when `sample`. The folder directory/"root" exists; `allow_root` makes it the allowed folder
    (allowed_roots=[root]) unless allowed_roots is given."""
    root = directory / "root"
    root.mkdir(parents=True, exist_ok=True)
    if allow_root:
        settings_kw.setdefault("allowed_roots", [root])
    settings = Settings(data_dir=directory / "data", **settings_kw)
    db = Database(db_url or f"sqlite:///{(settings.data_dir / 'circuitscope.db').resolve()}")
    if sample:
        with db.session() as s:
            build_sample(s, BlobStore(settings.blob_dir))
    return AppEnv(create_app(settings, db=db), db, settings, root)


def add_user(db: Database, name: str, role: str, password: str | None = None) -> str:
    """Create a user; returns an API token for it."""
    with db.session() as s:
        return users_svc.create_token(s, users_svc.create_user(s, name, role, password), "test")[1]
