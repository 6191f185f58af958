"""{"kind": "lucent"}: InceptionV1 from Lucid, as studied by Microscope and the Circuits thread."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from ..base import LoadedModel, ModelLoadError
from .files import cause, extract_state, hub_checkpoint_path, load_state_into, resolve_path, torch_load, wrap
from .registry import register

# Lucid's InceptionV1 (inception5h) takes inputs in [-117, 138]: x01 * 255 - 117. With
# LoadedModel.normalize = (x - mean) / std that is mean = 117/255, std = 1/255.
LUCENT_MEAN = (117.0 / 255.0,) * 3
LUCENT_STD = (1.0 / 255.0,) * 3
LUCENT_WEIGHTS_URL = "https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"



@register("lucent")
def _load_lucent(spec: dict, data_dir: Path) -> LoadedModel:
    arch = str(spec.get("arch", "inceptionv1")).lower()
    if arch not in ("inceptionv1", "inception_v1", "googlenet"):
        raise ModelLoadError(f"lucent model '{arch}' is not supported; lucent's modelzoo provides 'inceptionv1'")
    try:
        from lucent.modelzoo import inceptionv1
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Could not import lucent (pip install torch-lucent): {cause(e)}") from e
    redirected = bool(spec.get("redirected_relu", True))
    cached = hub_checkpoint_path(LUCENT_WEIGHTS_URL)
    if spec.get("weights_file"):
        path = resolve_path(spec["weights_file"], data_dir, "weights_file for lucent InceptionV1")
        state = extract_state(torch_load(path, allow_pickle=bool(spec.get("allow_pickle", True))), path)
        if isinstance(state, nn.Module):
            model = state
        else:
            model = inceptionv1(pretrained=False, redirected_ReLU=redirected)
            load_state_into(model, state, f"'{path}'")
    elif spec.get("pretrained", True):
        try:
            model = inceptionv1(pretrained=True, redirected_ReLU=redirected)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(
                f"Could not load lucent's pretrained InceptionV1: {cause(e)}. lucent downloads "
                f"{LUCENT_WEIGHTS_URL} and caches it as '{cached}' (torch.hub.get_dir()/checkpoints). "
                f"Offline, copy inception5h.pth there, or set \"weights_file\": \"/path/to/inception5h.pth\", "
                f"or \"pretrained\": false for random weights.") from e
    else:
        model = inceptionv1(pretrained=False, redirected_ReLU=redirected)
    return wrap(model, str(spec.get("name") or "inceptionv1"), input_size=224, mean=LUCENT_MEAN, std=LUCENT_STD)
