"""Batches of model-ready tensors from any ImageDataset, skipping (and counting) unreadable images.

    skipped = SkippedImages()
    for indices, images in iterate_batches(ds, model_transform(224), 64, skipped=skipped):
        ...
    if skipped:
        log.warning(skipped.summary())   # "3 images skipped: a.jpg (cannot identify image file), ..."

`iterate_batches` also returns an iterable whose `.skipped` is the collector, so passing one in is
optional. Batches come in index order whatever `num_workers` is; a batch holds `batch_size`
indices minus the ones that failed (a batch where every image failed is not yielded).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from .base import ImageDataset, UnreadableImage

Transform = Callable[[Image.Image], torch.Tensor]


@dataclass
class SkippedImages:
    """Images a pass could not use: count + (ref, reason) pairs, in the order met."""

    items: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, ref: str, reason: str) -> None:
        with self._lock:
            self.items.append((ref, reason))

    @property
    def count(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self):
        return iter(list(self.items))

    def refs(self) -> list[str]:
        return [r for r, _ in self.items]

    def summary(self, limit: int = 10) -> str:
        """'3 images skipped: a.jpg (cannot identify image file), b.png (truncated), ...'."""
        n = len(self.items)
        if n == 0:
            return "no images skipped"
        shown = ", ".join(f"{ref} ({reason})" for ref, reason in self.items[:limit])
        more = f", and {n - limit} more" if n > limit else ""
        return f"{n} image{'s' if n != 1 else ''} skipped: {shown}{more}"

    def to_json(self, limit: int | None = 100) -> dict[str, Any]:
        items = self.items if limit is None else self.items[:limit]
        return {"count": len(self.items), "items": [{"ref": r, "reason": why} for r, why in items]}

    def __getstate__(self):
        return {"items": list(self.items)}

    def __setstate__(self, state):
        self.items = list(state["items"])
        self._lock = threading.Lock()


class ModelTransform:
    """PIL image -> float tensor (3, S, S) in [0, 1]: resize the shorter side to S, centre-crop.

    No normalization (LoadedModel.normalize does that). Picklable, so it works in worker processes.
    """

    def __init__(self, input_size: int):
        self.input_size = int(input_size)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        s = self.input_size
        if img.mode != "RGB":
            img = img.convert("RGB")
        w, h = img.size
        if (w, h) != (s, s):
            scale = s / min(w, h)
            nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
            if (nw, nh) != (w, h):
                img = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None if scale > 0.5 else 2.0)
            left, top = (nw - s) // 2, (nh - s) // 2
            img = img.crop((left, top, left + s, top + s))
        t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(s, s, 3)
        return t.permute(2, 0, 1).float().div_(255.0)

    def __repr__(self) -> str:
        return f"ModelTransform({self.input_size})"


def model_transform(input_size: int) -> ModelTransform:
    return ModelTransform(input_size)


def _load_one(dataset: ImageDataset, transform: Transform, index: int):
    """(index, tensor, None) or (index, None, (ref, reason))."""
    try:
        img = dataset.load(index)
        return index, transform(img), None
    except UnreadableImage as e:
        return index, None, (e.ref, e.reason)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:  # PIL decode errors
        try:
            ref = dataset.ref(index)
        except Exception:
            ref = str(index)
        return index, None, (ref, str(e).strip() or type(e).__name__)


class _MapDataset(torch.utils.data.Dataset):
    def __init__(self, dataset, transform, indices):
        self.dataset, self.transform, self.indices = dataset, transform, indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        return _load_one(self.dataset, self.transform, int(self.indices[k]))


def _collate(items):
    """Stack the images that loaded; hand the failures back so the main process can record them."""
    ok = [(i, t) for i, t, err in items if err is None]
    failed = [err for _, _, err in items if err is not None]
    if ok:
        idx = torch.tensor([i for i, _ in ok], dtype=torch.long)
        imgs = torch.stack([t for _, t in ok])
    else:
        idx, imgs = torch.empty(0, dtype=torch.long), None
    return idx, imgs, failed


class BatchIterator:
    """Iterable of (LongTensor indices, float images (B, 3, S, S)); `.skipped` collects failures."""

    def __init__(self, dataset: ImageDataset, transform: Transform, batch_size: int, num_workers: int = 0,
                 skipped: SkippedImages | None = None, indices: Sequence[int] | None = None):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.dataset, self.transform = dataset, transform
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.skipped = skipped if skipped is not None else SkippedImages()
        self.indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]

    def __len__(self) -> int:
        """Number of index chunks (an upper bound on batches yielded)."""
        return (len(self.indices) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.num_workers <= 0:
            yield from self._serial()
            return
        loader = torch.utils.data.DataLoader(
            _MapDataset(self.dataset, self.transform, self.indices),
            batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers,
            collate_fn=_collate, persistent_workers=False,
        )
        for idx, imgs, failed in loader:  # DataLoader keeps batch order with shuffle=False
            for ref, reason in failed:
                self.skipped.add(ref, reason)
            if imgs is not None:
                yield idx, imgs

    def _serial(self):
        for start in range(0, len(self.indices), self.batch_size):
            chunk = self.indices[start:start + self.batch_size]
            idx, imgs, failed = _collate([_load_one(self.dataset, self.transform, i) for i in chunk])
            for ref, reason in failed:
                self.skipped.add(ref, reason)
            if imgs is not None:
                yield idx, imgs


def iterate_batches(dataset: ImageDataset, transform: Transform, batch_size: int, num_workers: int = 0,
                    skipped: SkippedImages | None = None,
                    indices: Sequence[int] | None = None) -> BatchIterator:
    """Batches over `indices` (default: all, in order) of `dataset`; see the module docstring."""
    return BatchIterator(dataset, transform, batch_size, num_workers, skipped, indices)
