"""All settings in one place: environment variables prefixed CIRCUITSCOPE_ or a .env file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    # Ray cluster (HOST:PORT of its head) for runs with engine = "ray" that name no ray_address; set by an
    # admin (jobs from the browser may not name another). Unset: such runs start a Ray instance here.
    ray_address: str | None = None
    # Host names this server answers to (the Host header; DNS-rebinding defence). Comma-separated or a JSON
    # list; "*.example.org" matches subdomains, "*" switches the check off. Empty: the bound host (when it
    # is a name or a specific address), localhost, 127.0.0.1 and ::1.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Who may register models, browse the allowed folders, see job configs and start/cancel computations.
    compute_role: Literal["annotator", "admin"] = "admin"
    # Failed sign-ins allowed per user name and per client address within login_window_seconds.
    login_max_failures: int = Field(default=10, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    # Largest JSON request body (imports are the big ones), and the deepest nesting accepted.
    max_body_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=64, ge=8)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [h.strip() for h in text.split(",") if h.strip()]
        return value

    @property
    def trusted_hosts(self) -> list[str]:
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        hosts = ["localhost", "127.0.0.1", "::1"]
        if self.host not in ("0.0.0.0", "::", "") and self.host not in hosts:
            hosts.insert(0, self.host)
        return hosts

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
