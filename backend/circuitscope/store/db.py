"""Engine, sessions and schema migrations (Alembic), for SQLite and PostgreSQL alike."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseVersionError(RuntimeError):
    """The database was migrated by a newer circuitscope than this one."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Pool: more connections than the web server has worker threads (anyio's 40), so a request never waits
        # for a connection while another holds one waiting for the write lock. SQLite connections are cheap.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
                               pool_size=48, max_overflow=32, pool_timeout=60)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _):  # WAL: readers never block the writer (API during a run)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=24, max_overflow=24, pool_timeout=60)


SQLITE_BUSY_SECONDS = 60.0


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to this code's head; refuse a database from a newer version."""
    url = engine.url.render_as_string(hide_password=False)
    cfg = alembic_config(url)
    script = ScriptDirectory.from_config(cfg)
    rev = current_revision(engine)
    known = {s.revision for s in script.walk_revisions()}
    if rev is not None and rev not in known:
        raise DatabaseVersionError(
            f"The database at {engine.url.render_as_string(hide_password=True)} is at schema revision "
            f"'{rev}', which this circuitscope does not know (its newest is '{script.get_current_head()}'). "
            "It was written by a newer circuitscope: upgrade circuitscope (pip install -U circuitscope / git pull), "
            "or point CIRCUITSCOPE_DATABASE_URL at another database."
        )
    if rev != script.get_current_head():
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


class Database:
    """One engine + session factory; `migrate()` is called once at start-up."""

    def __init__(self, url: str, run_migrations: bool = True):
        self.url = url
        self.engine = make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error (so nothing is half-written).

        `write=True` for transactions that change things (every POST/PUT/PATCH/DELETE request): on SQLite they
        take the write lock up front (BEGIN IMMEDIATE), waiting on busy_timeout for other writers, instead of
        reading first and then failing with "database is locked" when another transaction wrote meanwhile.
        (The web server also admits one write request at a time: api.write_gate.)"""
        with self.sessionmaker() as session:
            with session.begin():
                if write and self.is_sqlite:
                    session.connection().exec_driver_sql("BEGIN IMMEDIATE")
                yield session

    def dispose(self) -> None:
        self.engine.dispose()


@lru_cache
def get_database(url: str | None = None) -> Database:
    from ..settings import get_settings

    return Database(url or get_settings().sqlalchemy_url)
