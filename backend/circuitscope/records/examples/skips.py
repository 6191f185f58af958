"""Hands unreadable images the loader skipped on to the caller's collector."""
from __future__ import annotations

from typing import Any

from circuitscope.datasets.loader import SkippedImages

__all__ = ["ForwardSkips"]


class ForwardSkips:
    """Hands what the loader's collector gained since the last call on to the caller's collector
    (an object with .add(ref, reason), e.g. SkippedImages, or a list of (ref, reason))."""

    def __init__(self, own: SkippedImages, target: Any):
        self.own, self.target, self.done = own, target, 0

    def __call__(self) -> None:
        new = self.own.items[self.done :]
        self.done += len(new)
        if self.target is None:
            return
        for ref, reason in new:
            if hasattr(self.target, "add"):
                self.target.add(ref, reason)
            else:
                self.target.append((ref, reason))
