"""Model sources: turn a JSON-able spec into a LoadedModel (one module per kind, registered in registry.py).

    load_model({"kind": "torchvision", "name": "googlenet", "weights": "IMAGENET1K_V1"}, data_dir)

Kinds (see MODEL_KINDS):
  demo         {"kind": "demo", "seed": 0}  -> models.demo.load_or_train_demo(data_dir, seed)
  torchvision  {"kind": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1" | "DEFAULT" | None,
                "weights_file": optional local state dict, "kwargs": optional builder kwargs}
  lucent       {"kind": "lucent", "pretrained": true, "weights_file": optional}  (InceptionV1 from Lucid)
  checkpoint   {"kind": "checkpoint", "path": "model.pt", "arch": "resnet18" | "file.py:fn" (for state
                dicts), "num_classes": optional, "allow_pickle": true}
  torchscript  {"kind": "torchscript", "path": "model.ts"}  (made hookable by models.torchscript.make_hookable)
  factory      {"kind": "factory", "target": "path/to/file.py:build" | "package.module:build", "kwargs": {}}

Common optional keys: "name", "input_size", "mean", "std", "class_names" (a list, or a text file with
one name per line / a JSON list). Relative paths are tried as given, then under data_dir.

Every loader returns the module in eval mode with `source` = the spec. All failures are
ModelLoadError with a message naming the source, the cause and the fix. Pretrained weights are
never required: offline, a failed download says where torch looks for the file so it can be placed
there by hand (or passed as "weights_file").
"""
from . import demo, factory, lucent, saved, torchvision  # noqa: F401  (each registers its kind)
from .files import read_class_names
from .lucent import LUCENT_MEAN, LUCENT_STD, LUCENT_WEIGHTS_URL
from .registry import MODEL_KINDS, Loader, load_model, register
from .torchvision import build_torchvision_arch

__all__ = ["LUCENT_MEAN", "LUCENT_STD", "LUCENT_WEIGHTS_URL", "MODEL_KINDS", "Loader", "build_torchvision_arch", "load_model",
           "read_class_names", "register"]
