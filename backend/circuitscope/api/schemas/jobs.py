"""Pydantic schemas for jobs and model/dataset sources."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from ...enums import JobStatus
from .common import Out, UtcDatetime


class JobOut(Out):
    """A job as the API shows it; built from the job row (from_attributes), `eta_seconds` added by the route."""

    id: int
    status: JobStatus
    stage: str
    layer: str | None
    done: int
    total: int
    eta_seconds: float | None = None
    error: str | None
    summary: Annotated[dict[str, Any], BeforeValidator(lambda v: v or {})]
    config: dict[str, Any] = Field(description="the run description (compute jobs) or the job kind's parameters")
    run_id: int | None
    model_slug: str | None
    created_by: str | None
    cancel_requested: bool
    attempts: int
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


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
    kind: Literal["dir", "file"]


class BrowseOut(BaseModel):
    path: str
    parent: str | None
    entries: list[BrowseEntry]
    roots: list[str]
