"""Durable storage: SQLAlchemy tables + Alembic migrations, and a content-addressed blob store."""
from .blobs import BlobStore, StoredBlob
from .db import Database, DatabaseVersionError, get_database, migrate

__all__ = ["BlobStore", "StoredBlob", "Database", "DatabaseVersionError", "get_database", "migrate"]
