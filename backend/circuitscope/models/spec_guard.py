"""Confinement of model and dataset specs that arrive from outside the machine (the browser, the job queue).

A spec names code: a factory (`target`), an architecture for a state dict (`arch`), and files. From the command
line anything goes (the operator runs their own code). From a request, nothing is imported or executed unless an
administrator placed it under the allowed folders:

- every file path (`path`, `weights_file`, `class_names`, a dataset `root`) must resolve under an allowed root;
- `arch` is a torchvision architecture name (checked against `torchvision.models.list_models()`) or
  `file.py:function` with the file under an allowed root; never `package.module:function`;
- `target` (factories) is `file.py:function` with the file under an allowed root;
- a factory file may not live in the server's own data folder (the server writes there, an admin does not);
- keys that name code in other ways are refused rather than ignored.

`SpecRefused` carries the message: what was refused and how to fix it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .base import ModelLoadError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_PATH_CHARS = 4096
# Spec keys that hold a file-system path (confined to the roots) and keys that name code (confined further).
PATH_KEYS = ("path", "weights_file")
CODE_KEYS = ("arch", "target")
KNOWN_MODEL_KEYS = {
    "kind", "name", "weights", "weights_file", "kwargs", "pretrained", "redirected_relu", "arch", "path",
    "num_classes", "allow_pickle", "transform_input", "target", "seed", "input_size", "mean", "std",
    "class_names",
}


class SpecRefused(ModelLoadError):
    """A spec from a request names something outside what the administrator allowed. `status` is 403."""

    status = 403


def confine_path(roots: Iterable[Path], raw: Any, what: str) -> Path:
    """Resolve a path given in a request; refuse it unless it lies under one of `roots`."""
    roots = list(roots)
    if not isinstance(raw, str) or not raw.strip():
        raise SpecRefused(f"{what} must be a path (text); got {raw!r}.")
    if "\x00" in raw or len(raw) > MAX_PATH_CHARS:
        raise SpecRefused(f"{what} path is not usable (a NUL character or longer than {MAX_PATH_CHARS} "
                          "characters). Give a normal path under an allowed folder.")
    try:
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = roots[0] / path
        path = path.resolve()
    except (OSError, RuntimeError, ValueError) as err:
        raise SpecRefused(f"{what} path {raw[:200]!r} cannot be resolved ({err}). Give a path under an allowed "
                          "folder.") from err
    if not any(path == root or root in path.parents for root in roots):
        raise SpecRefused(f"{what} path {raw[:200]} is outside the allowed folders "
                          f"({', '.join(map(str, roots))}). Put it under one of them, or ask the "
                          "administrator to add its folder to CIRCUITSCOPE_ALLOWED_ROOTS.")
    return path


def _factory_file(roots: list[Path], data_dir: Path | None, value: str, key: str) -> str:
    """'file.py:function' with the file under the roots (and not in the data folder) -> absolute form."""
    file, sep, func = value.rpartition(":")
    what = "a torchvision architecture name or a factory file" if key == "arch" else "a factory file"
    if not sep or not file.endswith(".py") or not IDENTIFIER.match(func):
        raise SpecRefused(
            f"{key} must be {what} under an allowed folder ('path/to/file.py:function'); {value[:200]!r} is "
            "not. Module paths such as 'package.module:function' are for the command line only.")
    path = confine_path(roots, file, "model factory" if key == "target" else "model arch factory")
    if data_dir is not None:
        data = Path(data_dir).expanduser().resolve()
        if path == data or data in path.parents:
            raise SpecRefused(f"{key} file {path} is inside the server's data folder ({data}), which the server "
                              "writes to. Put factory files in a folder the administrator manages.")
    return f"{path}:{func}"


def _torchvision_name(value: str) -> str | None:
    try:
        import torchvision
    except ImportError:  # pragma: no cover - torchvision is a dependency
        return None
    names = torchvision.models.list_models()
    if value in names:
        return value
    return value.lower() if value.lower() in names else None


def confine_model_spec(spec: dict[str, Any], roots: Iterable[Path], data_dir: Path | None = None) -> dict[str, Any]:
    """Check a model spec from a request and return it with its paths made absolute (SpecRefused if not)."""
    roots = list(roots)
    if not isinstance(spec, dict):
        raise SpecRefused(f"model must be an object such as {{\"kind\": \"torchvision\", \"name\": \"resnet18\"}}; "
                          f"got {type(spec).__name__}.")
    out = dict(spec)
    unknown = sorted(set(out) - KNOWN_MODEL_KEYS)
    if unknown:
        raise SpecRefused(f"model spec key(s) {', '.join(map(repr, unknown[:5]))} are not known here; known keys: "
                          f"{', '.join(sorted(KNOWN_MODEL_KEYS))}. Remove them.")
    for key in PATH_KEYS:
        if out.get(key) is not None:
            out[key] = str(confine_path(roots, out[key], f"model {key}"))
    if isinstance(out.get("class_names"), str):
        out["class_names"] = str(confine_path(roots, out["class_names"], "model class_names"))
    kwargs = out.get("kwargs")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise SpecRefused(f"model kwargs must be an object of keyword arguments; got {type(kwargs).__name__}.")
    for key in CODE_KEYS:
        value = out.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise SpecRefused(f"model {key} must be text; got {value!r}.")
        if ":" in value:
            out[key] = _factory_file(roots, data_dir, value, key)
        elif key == "target":
            raise SpecRefused(f"target must be a factory file under an allowed folder ('path/to/file.py:function'); "
                              f"{value[:200]!r} is not.")
        elif out.get("kind") == "lucent":
            continue  # lucent checks its own fixed list of architecture names
        elif _torchvision_name(value) is None:
            raise SpecRefused(f"arch must be a torchvision architecture name or a factory file under an allowed "
                              f"folder ('path/to/file.py:function'); {value[:200]!r} is neither. See "
                              "torchvision.models.list_models().")
    if out.get("kind") == "factory" and not out.get("target"):
        raise SpecRefused("A factory model needs 'target': 'path/to/file.py:function' under an allowed folder.")
    return out


def confine_dataset_spec(spec: dict[str, Any], roots: Iterable[Path]) -> dict[str, Any]:
    """A dataset spec from a request: an image folder must be under the roots."""
    if not isinstance(spec, dict):
        raise SpecRefused(f"dataset must be an object such as {{\"kind\": \"folder\", \"root\": \"images\"}}; "
                          f"got {type(spec).__name__}.")
    out = dict(spec)
    if out.get("kind") == "folder":
        out["root"] = str(confine_path(roots, str(out.get("root", "")), "dataset"))
    return out
