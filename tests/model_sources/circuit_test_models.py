"""A network with a hand-planted circuit among many unrelated units, and a small in-memory dataset.

conv1: 3 -> 64 random 3x3 filters + ReLU. conv2: 64 -> 8; its unit 0 (the target) reads strongly
from conv1 units 5 and 17 (positive kernels), weakly from units 20..49 (small kernels of random
sign) and not at all from units 50..63. The other conv2 units read from everything.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

PLANTED = [5, 17]
WEAK = list(range(20, 50))
UNWIRED = list(range(50, 64))


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x))


class PlantedNet(nn.Module):
    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv1 = Block(3, 64)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = Block(64, 8)
        self.head = nn.Linear(8, 3)
        with torch.no_grad():
            self.conv1.conv.weight.copy_(torch.randn(64, 3, 3, 3, generator=g) * 0.4)
            self.conv1.conv.bias.copy_(torch.randn(64, generator=g) * 0.1)
            w = torch.randn(8, 64, 3, 3, generator=g) * 0.05
            w[0] = 0.0
            for u in PLANTED:
                w[0, u] = 0.3 + 0.1 * torch.rand(3, 3, generator=g)
            for u in WEAK:
                w[0, u] = 0.03 * torch.randn(3, 3, generator=g)
            self.conv2.conv.weight.copy_(w)
            self.conv2.conv.bias.zero_()

    def forward(self, x):
        x = self.conv2(self.pool(self.conv1(x)))
        return self.head(x.mean((2, 3)))


class NoiseImages:
    """Seeded random RGB images (smooth blobs), readable by the dataset loader."""

    name = "noise"
    classes: list[str] = []

    def __init__(self, n: int = 300, size: int = 16, seed: int = 0):
        rng = np.random.default_rng(seed)
        low = rng.random((n, 4, 4, 3))
        self.images = [Image.fromarray((np.kron(a, np.ones((size // 4, size // 4, 1))) * 255).astype("uint8"))
                       for a in low]

    def __len__(self) -> int:
        return len(self.images)

    def ref(self, index: int) -> str:
        return f"noise/{index:05d}"

    def load(self, index: int):
        return self.images[index]

    def label(self, index: int):
        return None

    def attributes(self, index: int):
        return {}

    def describe(self):
        return {"kind": "noise"}
