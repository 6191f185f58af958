"""The first layer's RGB kernels: which layers get them (the image conv, its ReLU) and which do not."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from circuitscope.models.base import LoadedModel
from circuitscope.records.input_kernels import input_kernels


def _model(*layers: nn.Module) -> LoadedModel:
    torch.manual_seed(0)
    return LoadedModel("t", nn.Sequential(*layers).eval(), input_size=16, mean=(0.5,) * 3, std=(0.5,) * 3)


def test_image_conv_and_its_relu_have_the_conv_weight_as_rgb_kernels():
    m = _model(nn.Conv2d(3, 6, 5, padding=2), nn.ReLU(), nn.Conv2d(6, 4, 3), nn.ReLU())
    w = m.module[0].weight.detach().numpy()
    for layer in ("0", "1"):
        k = input_kernels(m, layer)
        assert k is not None and k.shape == (6, 3, 5, 5) and np.array_equal(k, w)
    assert input_kernels(m, "2") is None and input_kernels(m, "3") is None  # a second conv in between


def test_no_rgb_kernels_where_the_conv_weight_is_not_the_whole_kernel():
    bn = _model(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU())
    bn.module[1].running_mean.fill_(0.5)  # an affine map per channel: the weight alone would mislead
    assert input_kernels(bn, "2") is None and input_kernels(bn, "0") is not None
    gray = LoadedModel("g", nn.Sequential(nn.Conv2d(1, 4, 3)).eval(), input_size=16, mean=(0.5,), std=(0.5,))
    assert input_kernels(gray, "0").shape == (4, 1, 3, 3)
    first_reads_features = _model(nn.Conv2d(3, 3, 1, groups=3), nn.Conv2d(3, 5, 3))
    assert input_kernels(first_reads_features, "1") is None
