"""Images from a folder on disk: any size and format PIL reads, optional class-per-subfolder layout."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from .base import DatasetError, UnreadableImage

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".gif", ".tif", ".tiff",
     ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico"}
)


def is_image_file(path: str | os.PathLike) -> bool:
    name = os.path.basename(os.fspath(path))
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image to RGB: alpha is composited on white, 16-bit/float is rescaled."""
    if img.mode == "RGB":
        return img
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        if img.mode == "F" and hi <= 1.0:
            arr = arr * 255.0  # float images in [0, 1]
        elif hi > 255.0:
            arr = arr * (255.0 / (65535.0 if hi <= 65535.0 else hi))  # 16-bit (or wider) integers
        arr = np.clip(arr + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")  # 2-D uint8 -> "L"
    return img.convert("RGB")


def open_rgb(path: Path, ref: str, draft: int | None = None) -> Image.Image:
    """Decode one file fully into an RGB image, or raise UnreadableImage with the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if draft and im.format == "JPEG":
                    im.draft("RGB", (draft, draft))
                im.load()
                im = ImageOps.exif_transpose(im)
                out = to_rgb(im)
                if out is im:
                    out = im.copy()
                return out
    except UnreadableImage:
        raise
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError, bomb warnings...)
        reason = str(e).strip() or type(e).__name__
        if str(path) in reason:
            reason = reason.replace(str(path), ref)
        raise UnreadableImage(ref, reason) from None


class ImageFolderDataset:
    """Image files under `root`, sorted by relative path.

    Classes are the sorted immediate subfolders of `root` that contain images (at any depth when
    `recursive`); an image's label is its top-level subfolder's class, None for files in `root`.
    `max_images` keeps a deterministic random subset (by `seed`), still in path order.
    """

    def __init__(self, root: str | os.PathLike, max_images: int | None = None, seed: int = 0,
                 recursive: bool = True):
        root_path = Path(os.path.expanduser(os.fspath(root)))
        if not root_path.exists():
            raise DatasetError(f"Image folder '{root_path}' does not exist. Check the path (it is resolved "
                               f"on the server, relative paths from {Path.cwd()}).")
        if not root_path.is_dir():
            raise DatasetError(f"'{root_path}' is a file, not a folder. Give the folder that holds the images.")
        if max_images is not None and int(max_images) < 1:
            raise DatasetError(f"max_images must be at least 1 (got {max_images}).")
        self.root = root_path.resolve()
        self.max_images = None if max_images is None else int(max_images)
        self.seed = int(seed)
        self.recursive = bool(recursive)
        self.name = self.root.name or str(self.root)

        all_refs = self._scan()
        refs = list(all_refs)
        if not refs:
            kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
            where = "or its subfolders " if self.recursive else ""
            raise DatasetError(f"No image files in '{self.root}' {where}(looked for {kinds}).")
        self.total_found = len(refs)
        if self.max_images is not None and self.max_images < len(refs):
            keep = np.random.default_rng(self.seed).choice(len(refs), size=self.max_images, replace=False)
            refs = [refs[i] for i in sorted(keep.tolist())]
        self._refs = refs
        # classes come from all files found, not only the sample, so labels don't depend on max_images
        self.classes = sorted({r.split("/", 1)[0] for r in all_refs if "/" in r})
        self._class_index = {c: i for i, c in enumerate(self.classes)}

    def _scan(self) -> list[str]:
        refs: list[str] = []
        if self.recursive:
            seen: set[tuple[int, int]] = set()  # (device, inode) of visited folders: no symlink loops
            for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True):
                st = os.stat(dirpath)
                if (st.st_dev, st.st_ino) in seen:
                    dirnames[:] = []
                    continue
                seen.add((st.st_dev, st.st_ino))
                # Links are followed only while they stay inside the dataset folder (never out of the
                # folders the administrator allowed).
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                                     and self._inside(Path(dirpath) / d))
                rel = Path(dirpath).relative_to(self.root)
                refs.extend((rel / f).as_posix() for f in filenames
                            if is_image_file(f) and self._inside(Path(dirpath) / f))
        else:
            for p in self.root.iterdir():
                if p.is_file() and is_image_file(p.name) and self._inside(p):
                    refs.append(p.name)
        refs.sort()
        return refs

    def _inside(self, path: Path) -> bool:
        """Whether `path` (inside the walked tree) stays in the dataset folder: only a link can leave it."""
        if not os.path.islink(path):
            return True
        try:
            resolved = path.resolve()
        except OSError:
            return False
        return resolved == self.root or self.root in resolved.parents

    # --- ImageDataset protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._refs)

    def ref(self, index: int) -> str:
        return self._refs[index]

    def path(self, index: int) -> Path:
        return self.root / self._refs[index]

    def index_of(self, ref: str) -> int:
        """Index of a ref (binary search: refs are sorted)."""
        import bisect

        i = bisect.bisect_left(self._refs, ref)
        if i < len(self._refs) and self._refs[i] == ref:
            return i
        raise KeyError(ref)

    def load(self, index: int) -> Image.Image:
        ref = self._refs[index]
        return open_rgb(self.root / ref, ref)

    def label(self, index: int) -> int | None:
        ref = self._refs[index]
        if "/" not in ref:
            return None
        return self._class_index.get(ref.split("/", 1)[0])

    def attributes(self, index: int) -> dict[str, Any]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"kind": "folder", "root": str(self.root), "max_images": self.max_images, "seed": self.seed,
                "recursive": self.recursive}

    def __repr__(self) -> str:
        return f"ImageFolderDataset({str(self.root)!r}, {len(self)} images, {len(self.classes)} classes)"

    # --- checks ------------------------------------------------------------------------------
    def verify(self, limit: int | None = None, workers: int | None = None) -> list[tuple[str, str]]:
        """Decode every file (JPEGs at reduced scale, which still reads the whole stream).

        Returns [(ref, reason)] for each unreadable file, in path order; `limit` checks only the
        first N images. Decoding runs in a few threads (PIL releases the GIL while decoding).
        """
        from concurrent.futures import ThreadPoolExecutor

        n = len(self) if limit is None else min(limit, len(self))

        def check(i: int) -> tuple[str, str] | None:
            ref = self._refs[i]
            try:
                open_rgb(self.root / ref, ref, draft=64)
            except UnreadableImage as e:
                return ref, e.reason
            return None

        workers = workers or min(4, os.cpu_count() or 1)
        if workers <= 1 or n < 64:
            results = [check(i) for i in range(n)]
        else:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(check, range(n), chunksize=32))
        return [r for r in results if r is not None]

    def require_readable(self, limit: int | None = None) -> list[tuple[str, str]]:
        """verify(), raising DatasetError when none of the checked images can be read."""
        bad = self.verify(limit)
        checked = len(self) if limit is None else min(limit, len(self))
        if len(bad) == checked:
            shown = "; ".join(f"{r} ({why})" for r, why in bad[:5]) + (" ..." if len(bad) > 5 else "")
            raise DatasetError(f"No readable images in '{self.root}': all {checked} checked files failed "
                               f"to decode: {shown}")
        return bad
