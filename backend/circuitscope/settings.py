"""All settings in one place: environment variables prefixed CIRCUITSCOPE_ or a .env file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIRCUITSCOPE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Root for database, blobs, caches, checkpoints")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite under data_dir")
    host: str = "127.0.0.1"
    port: int = 8000
    device: str = "cpu"
    # Multi-user mode: when False, anonymous visitors may not even read.
    anonymous_read: bool = True
    # Single-user local default: writes without credentials act as this user (off in multi-user mode).
    local_user: str | None = "demo"
    # Folders under which the browser may register models and datasets (JSON list in env, e.g.
    # CIRCUITSCOPE_ALLOWED_ROOTS='["/models", "/images"]'). Empty: the directory the server started in.
    allowed_roots: list[Path] = Field(default_factory=list)
    secret_key: str = "change-me-in-production"
    # Ray cluster (HOST:PORT of its head) for runs with engine = "ray" that name no ray_address; set by an
    # admin (jobs from the browser may not name another). Unset: such runs start a Ray instance here.
    ray_address: str | None = None

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def roots(self) -> list[Path]:
        return [p.expanduser().resolve() for p in (self.allowed_roots or [Path.cwd()])]

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'circuitscope.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
