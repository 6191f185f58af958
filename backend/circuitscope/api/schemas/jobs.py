"""Pydantic schemas for jobs and model/dataset sources."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class JobOut(BaseModel):
    id: int
    status: str
    stage: str
    layer: str | None
    done: int
    total: int
    eta_seconds: float | None
    error: str | None
    summary: dict[str, Any]
    config: dict[str, Any]
    run_id: int | None
    model_slug: str | None
    created_by: str | None
    cancel_requested: bool
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class LayerOut(BaseModel):
    name: str
    module_type: str
    output_shape: list[int]
    channels: int


class DiscoverIn(BaseModel):
    model: dict[str, Any] = Field(description="model source, as in a run description")


class DiscoverOut(BaseModel):
    name: str
    input_size: int
    class_count: int | None
    layers: list[LayerOut]


class DatasetCheckIn(BaseModel):
    dataset: dict[str, Any]


class DatasetCheckOut(BaseModel):
    num_images: int
    classes: list[str]
    unreadable: list[dict[str, str]]
    sample_refs: list[str]


class BrowseEntry(BaseModel):
    name: str
    path: str
    kind: str  # dir | file


class BrowseOut(BaseModel):
    path: str
    parent: str | None
    entries: list[BrowseEntry]
    roots: list[str]
