"""Content-addressed image files: sha256 names in two-level folders, written atomically."""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

_HASH = re.compile(r"^[0-9a-f]{64}$")
EXTENSIONS = {"image/webp": ".webp", "image/png": ".png", "image/jpeg": ".jpg"}
IMAGE_URL_PREFIX = "/api/images/"  # where the API serves a blob by its hash (api/routes/browse.py)


def image_url(digest: str | None) -> str | None:
    """The URL responses give for a stored image (the read gateway and the API's response models share it)."""
    return f"{IMAGE_URL_PREFIX}{digest}" if digest else None


@dataclass(frozen=True)
class StoredBlob:
    hash: str
    size: int
    mime: str
    width: int | None
    height: int | None


def sniff_mime(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    raise ValueError("blob is not a WebP, PNG or JPEG image")


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        """Path of a stored blob; refuses anything that is not a plain sha256 (no path traversal)."""
        if not _HASH.match(digest):
            raise ValueError(f"not a blob hash: {digest!r}")
        folder = self.root / digest[:2] / digest[2:4]
        for ext in EXTENSIONS.values():
            candidate = folder / (digest + ext)
            if candidate.exists():
                return candidate
        raise FileNotFoundError(f"blob {digest} is not in the store at {self.root}")

    def put(self, data: bytes) -> StoredBlob:
        mime = sniff_mime(data)
        digest = hashlib.sha256(data).hexdigest()
        target = self.root / digest[:2] / digest[2:4] / (digest + EXTENSIONS[mime])
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)  # atomic: readers never see a partial file
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
        return StoredBlob(digest, len(data), mime, width, height)
