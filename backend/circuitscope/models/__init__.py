"""Model sources (load_model), the LoadedModel contract and layer discovery."""
from .base import IMAGENET_MEAN, IMAGENET_STD, LoadedModel, ModelLoadError, UnknownLayerError
from .layers import LayerInfo, get_layer, is_scripted, layer_names, list_layers, require_hooks, resolve_layers
from .sources import MODEL_KINDS, load_model

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "LoadedModel", "ModelLoadError", "UnknownLayerError",
    "LayerInfo", "list_layers", "layer_names", "get_layer", "resolve_layers", "is_scripted", "require_hooks",
    "MODEL_KINDS", "load_model",
]
