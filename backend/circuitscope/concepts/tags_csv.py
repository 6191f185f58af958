"""A user's per-image tags as a CSV, turned into concepts ``tag=<tag>``.

Format (UTF-8, a header row, then one row per image; an image may appear on several rows):

    image,tags
    cats/001.jpg,striped;outdoor
    dogs/017.jpg,outdoor

``image`` is the dataset's reference of the image (for an image folder, its path relative to the
folder, as shown on example cards); ``tags`` are separated by ``;``. An image not listed has none of
the tags. Anything wrong is refused with the first problem and its line number; nothing is used.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

__all__ = ["TagsCsvError", "MAX_TAGS", "parse_tags_csv", "read_tags_csv"]

MAX_TAGS = 500  # distinct tags: each one is a concept histogram per unit
MAX_BYTES = 50 << 20
_TAG = re.compile(r"^[\w][\w .+-]{0,79}$")


class TagsCsvError(ValueError):
    """The tags CSV is unusable; the message names the first problem (with its line) and the fix."""


def _known(dataset: Any):
    if hasattr(dataset, "index_of"):
        def has(ref: str) -> bool:
            try:
                dataset.index_of(ref)
                return True
            except (KeyError, ValueError):
                return False
        return has
    refs = {dataset.ref(i) for i in range(len(dataset))}
    return refs.__contains__


def parse_tags_csv(text: str, dataset: Any | None, source: str = "tags CSV") -> dict[str, list[str]]:
    """{image ref: sorted tags}; `dataset` None checks the format only (refs are checked later)."""
    if not text.strip():
        raise TagsCsvError(f"{source} is empty; it needs a header row 'image,tags' and one row per image.")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as e:
        raise TagsCsvError(f"{source} line 1: not valid CSV ({e}).") from None
    cols = [h.strip().lower() for h in header]
    if sorted(cols) != ["image", "tags"]:
        raise TagsCsvError(f"{source} line 1: the header must be exactly the two columns 'image,tags' "
                           f"(got {', '.join(repr(h) for h in header) or 'nothing'}).")
    i_img, i_tags = cols.index("image"), cols.index("tags")
    known = _known(dataset) if dataset is not None else None
    out: dict[str, set[str]] = {}
    all_tags: set[str] = set()
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2:
                raise TagsCsvError(f"{source} line {line}: expected 2 fields (image,tags), got {len(row)}; "
                                   "quote an image name that contains a comma.")
            ref, tags_field = row[i_img].strip(), row[i_tags].strip()
            if not ref:
                raise TagsCsvError(f"{source} line {line}: the image is empty.")
            tags = [t.strip() for t in tags_field.split(";") if t.strip()]
            if not tags:
                raise TagsCsvError(f"{source} line {line}: image '{ref}' has no tags (separate tags with ';').")
            for t in tags:
                if not _TAG.match(t):
                    raise TagsCsvError(f"{source} line {line}: tag {t!r} is not allowed: use letters, digits, "
                                       "spaces, '.', '+', '-' or '_', at most 80 characters, starting with a "
                                       "letter or digit.")
            if known is not None and not known(ref):
                raise TagsCsvError(f"{source} line {line}: image '{ref}' is not in the dataset; use the image's "
                                   "path relative to the dataset folder, as shown on example cards.")
            out.setdefault(ref, set()).update(tags)
            all_tags.update(tags)
            if len(all_tags) > MAX_TAGS:
                raise TagsCsvError(f"{source} line {line}: more than {MAX_TAGS} distinct tags; merge rare tags.")
    except csv.Error as e:
        raise TagsCsvError(f"{source} line {reader.line_num}: not valid CSV ({e}).") from None
    if not out:
        raise TagsCsvError(f"{source} has a header but no rows; add one row per tagged image.")
    return {ref: sorted(ts) for ref, ts in out.items()}


def read_tags_csv(path: str | Path, dataset: Any | None) -> dict[str, list[str]]:
    p = Path(path)
    if not p.is_file():
        raise TagsCsvError(f"Tags CSV {p} does not exist (or is not a file).")
    if p.stat().st_size > MAX_BYTES:
        raise TagsCsvError(f"Tags CSV {p} is larger than {MAX_BYTES >> 20} MB.")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise TagsCsvError(f"Tags CSV {p} is not UTF-8 text ({e.reason} at byte {e.start}).") from None
    return parse_tags_csv(text, dataset, source=f"Tags CSV {p.name}")
