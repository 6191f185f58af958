"""Image sources: generated concept images and image folders, plus batching that skips bad files."""
from __future__ import annotations

from typing import Any

from .base import DatasetError, ImageDataset, UnreadableImage
from .concepts import CLASSES as CONCEPT_CLASSES
from .concepts import ConceptDataset
from .folder import IMAGE_EXTENSIONS, ImageFolderDataset, is_image_file, to_rgb
from .loader import BatchIterator, ModelTransform, SkippedImages, iterate_batches, model_transform

__all__ = [
    "BatchIterator",
    "CONCEPT_CLASSES",
    "ConceptDataset",
    "DatasetError",
    "IMAGE_EXTENSIONS",
    "ImageDataset",
    "ImageFolderDataset",
    "ModelTransform",
    "SkippedImages",
    "UnreadableImage",
    "build_dataset",
    "is_image_file",
    "iterate_batches",
    "model_transform",
    "to_rgb",
]

_PARAMS = {
    "concepts": ("seed", "size", "resolution"),
    "folder": ("root", "max_images", "seed", "recursive"),
}


def build_dataset(spec: dict[str, Any]) -> ImageDataset:
    """Rebuild a dataset from its describe() spec, e.g. {"kind": "concepts", "seed": 0, "size": 20000}
    or {"kind": "folder", "root": "/data/imgs", "max_images": 5000}. Raises DatasetError."""
    if not isinstance(spec, dict):
        raise DatasetError(f"Dataset spec must be an object with a 'kind', got {type(spec).__name__}.")
    kind = spec.get("kind")
    if kind not in _PARAMS:
        raise DatasetError(f"Unknown dataset kind {kind!r}; expected one of: {', '.join(_PARAMS)}.")
    unknown = sorted(set(spec) - set(_PARAMS[kind]) - {"kind"})
    if unknown:
        raise DatasetError(f"Unknown field(s) for a {kind} dataset: {', '.join(unknown)}; "
                           f"allowed: {', '.join(_PARAMS[kind])}.")
    params = {k: spec[k] for k in _PARAMS[kind] if k in spec}
    if kind == "concepts":
        try:
            params = {k: int(v) for k, v in params.items()}
            return ConceptDataset(**params)
        except (TypeError, ValueError) as e:
            raise DatasetError(f"Bad concepts dataset spec {spec}: {e}") from None
    if "root" not in params or not params["root"]:
        raise DatasetError("A folder dataset needs 'root': the folder that holds the images.")
    return ImageFolderDataset(**params)
