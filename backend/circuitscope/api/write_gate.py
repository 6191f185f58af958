"""One write request at a time on SQLite, queued on the event loop.

SQLite has a single writer. Letting write requests race for its lock in worker threads fails in two ways under a
team's load: a transaction that loses the race gets "database is locked", and threads parked in SQLite's busy
handler use up the thread pool that the lock holder itself needs to finish its request. Here waiting writers
wait on an asyncio lock (no thread, no connection held), and the one admitted takes SQLite's write lock up front
(BEGIN IMMEDIATE in store.db.Database.session(write=True)), so other processes (the worker) queue behind it on
busy_timeout instead of failing. Routes that write nothing to the database and may take long (loading a model
to list its layers, scanning an image folder) are not gated. PostgreSQL needs none of this.
"""
from __future__ import annotations

import asyncio
import weakref

from starlette.types import ASGIApp, Receive, Scope, Send

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
UNGATED_PREFIXES = ("/api/sources/",)


class SqliteWriteGate:
    def __init__(self, app: ASGIApp, db) -> None:
        self.app, self.enabled = app, getattr(db, "is_sqlite", False)
        # One lock per event loop: an asyncio lock must not be shared between loops (test clients run one loop
        # each; a server has one). Across loops, SQLite's own lock and busy_timeout still serialize the writes.
        self._locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (not self.enabled or scope["type"] != "http" or scope["method"] not in _WRITES
                or not scope["path"].startswith("/api/") or scope["path"].startswith(UNGATED_PREFIXES)):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            await self.app(scope, receive, send)
