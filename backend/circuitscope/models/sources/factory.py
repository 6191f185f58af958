"""{"kind": "factory", "target": "path/to/file.py:build" | "package.module:build"}: a function that builds the
model (an nn.Module or a LoadedModel). Only files an admin placed under the allowed folders get here."""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from ..base import LoadedModel, ModelLoadError
from .files import cause, resolve_path, wrap
from .registry import register


def _import_target(target: str, data_dir: Path) -> Callable[..., Any]:
    if ":" not in target:
        raise ModelLoadError(f"factory target '{target}' must look like 'path/to/file.py:function' or "
                             f"'package.module:function'")
    mod_part, fn_name = target.rsplit(":", 1)
    if mod_part.endswith(".py") or "/" in mod_part or os.sep in mod_part:
        path = resolve_path(mod_part, data_dir, f"factory file for '{target}'").resolve()
        mod_name = f"_circuitscope_factory_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"Cannot import '{path}' as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))  # let the file import its siblings
        try:
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        except BaseException as e:  # noqa: BLE001 - includes SystemExit from scripts
            sys.modules.pop(mod_name, None)
            raise ModelLoadError(f"Importing factory file '{path}' failed: {cause(e)}") from e
        finally:
            try:
                sys.path.remove(str(path.parent))
            except ValueError:
                pass
        where = str(path)
    else:
        try:
            module = importlib.import_module(mod_part)
        except BaseException as e:  # noqa: BLE001
            raise ModelLoadError(f"Importing factory module '{mod_part}' failed: {cause(e)}") from e
        where = mod_part
    fn = getattr(module, fn_name, None)
    if fn is None or not callable(fn):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        close = difflib.get_close_matches(fn_name, names, n=3)
        hint = f" Close matches: {', '.join(close)}." if close else ""
        raise ModelLoadError(f"'{where}' has no callable '{fn_name}'.{hint}")
    return fn


def call_factory(target: str, kwargs: dict, data_dir: Path) -> nn.Module | LoadedModel:
    fn = _import_target(target, data_dir)
    try:
        result = fn(**kwargs)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Factory '{target}' raised while building the model: {cause(e)}") from e
    if not isinstance(result, (nn.Module, LoadedModel)):
        raise ModelLoadError(f"Factory '{target}' returned {type(result).__name__}; it must return a torch "
                             f"nn.Module (or a circuitscope LoadedModel)")
    return result


@register("factory")
def _load_factory(spec: dict, data_dir: Path) -> LoadedModel:
    target = spec.get("target")
    if not target:
        raise ModelLoadError("A factory model spec needs 'target' ('path/to/file.py:function' or 'pkg.mod:function')")
    result = call_factory(str(target), dict(spec.get("kwargs") or {}), data_dir)
    if isinstance(result, LoadedModel):
        result.module.eval()
        return result
    return wrap(result, str(spec.get("name") or str(target).rsplit(":", 1)[-1]))
