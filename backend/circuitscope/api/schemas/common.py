"""Building blocks of every response model: the strict base, zoned timestamps, image URLs, pages.

- `Out`: response models refuse keys they do not declare, so a shape change in the code that builds a response
  fails the tests instead of silently dropping a field the browser reads.
- `UtcDatetime`: every timestamp leaves the API as ISO 8601 in UTC with its offset ("...+00:00"), whether
  the database gave it back zoned (PostgreSQL) or naive (SQLite stores UTC without a zone).
- `ImageUrl`: images are URLs (`/api/images/<sha256>`, the hash is the last segment and the ETag); code below
  the API hands over the hash (`image_hash`), the model turns it into the URL the browse routes also give.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from ...store.blobs import image_url


def as_utc(value: datetime) -> datetime:
    """Naive timestamps are UTC (what the tables store); zoned ones are converted to UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


UtcDatetime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "description": "ISO 8601, UTC with offset (e.g. 2026-01-31T12:00:00.000001+00:00)"}),
]


def _to_url(value: Any) -> Any:
    if isinstance(value, str) and value and not value.startswith("/"):
        return image_url(value)
    return value


ImageUrl = Annotated[str, BeforeValidator(_to_url),
                     WithJsonSchema({"type": "string", "description": "URL of the image (/api/images/<sha256>)"})]


def image_field(description: str = "URL of the unit's channel feature visualization") -> Any:
    """A nullable image URL that also accepts the domain's `image_hash` key."""
    return Field(None, validation_alias=AliasChoices("image", "image_hash"), description=description)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


ItemT = TypeVar("ItemT")


class Page(Out, Generic[ItemT]):
    """A page of a longer list: `total` items match, `results` holds those from `offset` on."""

    total: int
    limit: int
    offset: int
    results: list[ItemT]


class Ok(Out):
    ok: bool
