"""Start images of feature accentuation: each unit's top dataset example, as the model saw it.

The image comes from the run's dataset by its index (the exact model-input tensor the examples pass ranked),
or, when the dataset cannot give it (an image that became unreadable, another dataset), from the stored
example image (lossy WebP: a few per cent below the top example's activation).
"""
from __future__ import annotations

from typing import Any

import torch
from sqlalchemy import select

from ..store.tables.records import DatasetExample, DatasetImage, Unit


def top_example_starts(session, blobs, units: dict[int, Unit], dataset: Any, input_size: int | None,
                       dataset_id: int | None) -> dict[int, torch.Tensor | bytes]:
    """{channel: start image} for the units that have a top dataset example ([C,H,W] tensor, or image bytes)."""
    by_id = {u.id: c for c, u in units.items()}
    rows = session.execute(
        select(DatasetExample.unit_id, DatasetImage.index, DatasetImage.dataset_id, DatasetImage.image_hash)
        .join(DatasetImage, DatasetImage.id == DatasetExample.dataset_image_id)
        .where(DatasetExample.unit_id.in_(list(by_id)), DatasetExample.kind == "top", DatasetExample.rank == 0)
    ).all()
    starts: dict[int, torch.Tensor | bytes] = {}
    from_dataset: dict[int, list[int]] = {}  # dataset index -> channels
    for unit_id, index, ds_id, image_hash in rows:
        channel = by_id[unit_id]
        if dataset is not None and input_size and ds_id == dataset_id:
            from_dataset.setdefault(int(index), []).append(channel)
        starts[channel] = blobs.path(image_hash).read_bytes()  # the fallback, replaced below when loaded
    if from_dataset and input_size:
        from ..datasets.loader import iterate_batches, model_transform

        for idx, imgs in iterate_batches(dataset, model_transform(input_size), 64, 0, indices=sorted(from_dataset)):
            for b, i in enumerate(idx.tolist()):
                for channel in from_dataset[i]:
                    starts[channel] = imgs[b].clone()
    return starts
