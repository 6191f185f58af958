"""Bounds for ids and offsets in paths and queries: database integers are 64-bit, so a larger number is a
client error (422 naming the parameter), never an overflow deep in the database driver."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**63 - 1

# Ids of rows (labels, families, circuits, tokens, jobs, units); unit indices within a layer.
RowId = Annotated[int, Path(ge=0, le=MAX_ID, description="a database id")]
UnitIndex = Annotated[int, Path(ge=0, le=MAX_ID, description="unit (channel) index within the layer")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")]
