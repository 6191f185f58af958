"""The blob store reads a WebP's size from its header (not by opening it with PIL): same answer as PIL."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from circuitscope.store.blobs import BlobStore, webp_size


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("options", [{"lossless": True, "method": 0}, {"quality": 85, "method": 2}])
def test_webp_size_matches_pil(mode, options, tmp_path):
    rng = np.random.default_rng(0)
    for w, h in [(64, 64), (37, 91), (1, 1), (300, 17), (2000, 1500)]:
        im = Image.fromarray((rng.random((h, w, len(mode))) * 255).astype("uint8"), mode)
        buf = io.BytesIO()
        im.save(buf, format="WEBP", **options)
        data = buf.getvalue()
        assert webp_size(data) == Image.open(io.BytesIO(data)).size == (w, h)
        stored = BlobStore(tmp_path).put(data)
        assert (stored.width, stored.height) == (w, h)


def test_not_a_known_webp_chunk_falls_back():
    assert webp_size(b"RIFF\x00\x00\x00\x00WEBPXXXX" + bytes(20)) is None
    assert webp_size(b"RIFF") is None
