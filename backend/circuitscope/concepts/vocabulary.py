"""Which concepts a dataset provides, and which of them each image has.

A concept is a string ``"<kind>=<value>"`` (``"colour=red"``, ``"orientation=45"``, ``"class=dog"``,
``"tag=striped"``). Sources:
  * the concept dataset's ground-truth attributes (datasets/concepts.py):
    - ``class=<name>``;
    - ``colour=<name>``: the figure's or the background's named colour;
    - ``orientation=<deg>``: line direction of edges, lines and stripes in 8 bins of 22.5 deg centred
      on 0, 22.5, ..., 157.5 (a bin holds [centre - 11.25, centre + 11.25) modulo 180);
    - ``curve_direction=<deg>``: where a curve bulges (0-360, 8 bins of 45 deg centred on 0, 45, ...);
    - ``curvature=<bin>``: 1 / radius in image widths, bins ``straight`` (0, lines/edges/stripes),
      ``0-3``, ``3-5``, ``5+`` (curves and circles);
    - ``texture=<kind>``: stripes, grating, checkerboard, dots; ``background=<kind>``;
  * an image folder's class subfolders: ``class=<folder>``;
  * optionally a user's tags CSV (concepts/tags_csv.py): ``tag=<tag>``.
An image has a set of concepts; an image without a concept counts as "without" it in the scores.
"""
from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["ConceptVocabulary", "NO_CONCEPTS_REASON", "concept_vocabulary", "display_name"]

ORIENTATION_BIN = 22.5
CURVE_DIRECTION_BIN = 45.0
CURVATURE_BINS = (("0-3", 0.0, 3.0), ("3-5", 3.0, 5.0), ("5+", 5.0, math.inf))
_ORIENTED_CLASSES = {"edge", "line", "stripes"}  # classes whose `orientation` is a line direction
TEXTURE_KINDS = ("stripes", "grating", "checkerboard", "dots")
BACKGROUNDS = ("solid", "gradient", "noise")

NO_CONCEPTS_REASON = (
    "This dataset provides no concepts: its images carry no attributes and no classes (class subfolders), "
    "and no tags CSV was given. Use the concept dataset, an image folder with one subfolder per class, "
    "or a tags CSV (columns image,tags) to get concept scores."
)


def _fmt(v: float) -> str:
    return f"{v:g}"


def orientation_bin(deg: float) -> str:
    b = int(math.floor(((float(deg) % 180.0) + ORIENTATION_BIN / 2) / ORIENTATION_BIN)) % 8
    return _fmt(b * ORIENTATION_BIN)


def curve_direction_bin(deg: float) -> str:
    b = int(math.floor(((float(deg) % 360.0) + CURVE_DIRECTION_BIN / 2) / CURVE_DIRECTION_BIN)) % 8
    return _fmt(b * CURVE_DIRECTION_BIN)


def curvature_bin(c: float) -> str:
    if c <= 0:
        return "straight"
    for name, lo, hi in CURVATURE_BINS:
        if lo <= c < hi:
            return name
    return CURVATURE_BINS[-1][0]


def display_name(concept: str) -> str:
    """A short human label for a concept ("orientation ≈ 45°", "red", "class edge")."""
    kind, _, value = concept.partition("=")
    if kind == "orientation":
        return f"orientation ≈ {value}°"
    if kind == "curve_direction":
        return f"curve bulging to {value}°"
    if kind == "curvature":
        return "straight" if value == "straight" else f"curvature {value}"
    if kind == "colour":
        return value
    if kind == "texture":
        return f"{value} texture"
    if kind == "background":
        return f"{value} background"
    return value if kind in ("class", "tag") else concept


def concept_dataset_concepts(classes: list[str], palette: list[str]) -> list[str]:
    names = [f"class={c}" for c in classes]
    names += [f"colour={c}" for c in palette]
    names += [f"orientation={_fmt(b * ORIENTATION_BIN)}" for b in range(8)]
    names += [f"curve_direction={_fmt(b * CURVE_DIRECTION_BIN)}" for b in range(8)]
    names += ["curvature=straight"] + [f"curvature={n}" for n, _, _ in CURVATURE_BINS]
    names += [f"texture={t}" for t in TEXTURE_KINDS]
    names += [f"background={b}" for b in BACKGROUNDS]
    return names


def concepts_from_attributes(attrs: dict[str, Any]) -> set[str]:
    """The concepts of one concept-dataset image, from its ground-truth attributes."""
    out: set[str] = set()
    cls = attrs.get("class")
    if cls:
        out.add(f"class={cls}")
    for key in ("fg_color", "bg_color"):
        c = attrs.get(key)
        if isinstance(c, dict) and c.get("name"):
            out.add(f"colour={c['name']}")
    ori = attrs.get("orientation")
    if ori is not None and cls in _ORIENTED_CLASSES:
        out.add(f"orientation={orientation_bin(ori)}")
    if ori is not None and cls == "curve":
        out.add(f"curve_direction={curve_direction_bin(ori)}")
    curv = attrs.get("curvature")
    if curv is not None:
        out.add(f"curvature={curvature_bin(float(curv))}")
    tex = attrs.get("texture")
    if isinstance(tex, dict) and tex.get("kind"):
        out.add(f"texture={tex['kind']}")
    bg = attrs.get("background")
    if bg:
        out.add(f"background={bg}")
    return out


class ConceptVocabulary:
    """The concepts of one dataset (+ tags) and, per batch of image indices, a membership matrix."""

    def __init__(self, dataset: Any, names: list[str], source: str, tags: dict[str, list[str]] | None = None):
        self.dataset, self.names, self.source, self.tags = dataset, list(names), source, tags or {}
        self.index = {n: i for i, n in enumerate(self.names)}
        self._classes = list(getattr(dataset, "classes", []) or [])

    def __len__(self) -> int:
        return len(self.names)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "concepts": len(self.names), "tagged_images": len(self.tags)}

    def __repr__(self) -> str:
        # stable across processes: checkpoint fingerprints (e.g. the Ray engine's) include it via str()
        import hashlib
        import json

        digest = hashlib.sha256(json.dumps([self.names, self.tags], sort_keys=True).encode()).hexdigest()[:12]
        return f"ConceptVocabulary({self.source}, {len(self.names)} concepts, {digest})"

    def concepts_of(self, i: int) -> set[str]:
        found: set[str] = set()
        if self.source.startswith("attributes"):
            found |= concepts_from_attributes(self.dataset.attributes(i))
        elif self._classes:
            label = self.dataset.label(i)
            if label is not None and 0 <= label < len(self._classes):
                found.add(f"class={self._classes[label]}")
        if self.tags:
            found |= {f"tag={t}" for t in self.tags.get(self.dataset.ref(i), ())}
        return found

    def membership(self, indices: torch.Tensor | list[int]) -> torch.Tensor:
        """bool [B, K]: image b has concept k."""
        idx = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
        m = torch.zeros((len(idx), len(self.names)), dtype=torch.bool)
        rows, cols = [], []  # one indexed assignment: setting elements one by one costs ~10 us each
        for b, i in enumerate(idx):
            for c in self.concepts_of(int(i)):
                k = self.index.get(c)
                if k is not None:
                    rows.append(b)
                    cols.append(k)
        if rows:
            m[rows, cols] = True
        return m


def concept_vocabulary(dataset: Any, tags: dict[str, list[str]] | None = None) -> ConceptVocabulary | None:
    """The vocabulary of `dataset` (+ tags), or None when it provides no concepts (see NO_CONCEPTS_REASON)."""
    tag_names = sorted({t for ts in (tags or {}).values() for t in ts})
    tag_concepts = [f"tag={t}" for t in tag_names]
    if getattr(dataset, "attribute_schema", None) == "concepts" or _kind(dataset) == "concepts":
        from circuitscope.datasets.concepts import CLASSES, PALETTE

        return ConceptVocabulary(dataset, concept_dataset_concepts(CLASSES, list(PALETTE)) + tag_concepts,
                                 "attributes" + ("+tags" if tags else ""), tags)
    classes = list(getattr(dataset, "classes", []) or [])
    if len(classes) >= 2:  # one class alone separates nothing
        return ConceptVocabulary(dataset, [f"class={c}" for c in classes] + tag_concepts,
                                 "classes" + ("+tags" if tags else ""), tags)
    if tag_concepts:
        return ConceptVocabulary(dataset, tag_concepts, "tags", tags)
    return None


def _kind(dataset: Any) -> str | None:
    try:
        return dataset.describe().get("kind")
    except Exception:  # noqa: BLE001 - a dataset without a usable describe() is treated as unknown
        return None
