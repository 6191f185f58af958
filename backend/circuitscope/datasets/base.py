"""The contract every image source follows: indexed, stable references, failures that can be skipped."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from PIL import Image


class UnreadableImage(Exception):
    """One image could not be read or decoded; the pass skips it and counts it."""

    def __init__(self, ref: str, reason: str):
        self.ref, self.reason = ref, reason
        super().__init__(f"{ref}: {reason}")


class DatasetError(ValueError):
    """The dataset as a whole is unusable (missing folder, no readable images); message says the fix."""


@runtime_checkable
class ImageDataset(Protocol):
    name: str
    classes: list[str]

    def __len__(self) -> int: ...

    def ref(self, index: int) -> str:
        """Stable reference for display/provenance: a path relative to the root, or 'concepts/000123'."""

    def load(self, index: int) -> Image.Image:
        """RGB PIL image (grayscale/RGBA converted); raises UnreadableImage."""

    def label(self, index: int) -> int | None: ...

    def attributes(self, index: int) -> dict[str, Any]:
        """Ground-truth attributes when known (generated data), else {}."""

    def describe(self) -> dict[str, Any]:
        """JSON-able spec that rebuilds this dataset (stored with the run)."""
