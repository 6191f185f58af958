"""A tiny convolutional net with fixed random weights: small enough that the e2e tests compute every
record of it (dataset examples, feature visualizations, weights) in seconds on a CPU."""
from __future__ import annotations

import torch
from torch import nn

from circuitscope.models.base import LoadedModel


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(8, 12, 3, padding=1, stride=2), nn.ReLU())
        self.conv3 = nn.Sequential(nn.Conv2d(12, 10, 3, padding=1, stride=2), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(10, 11))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv3(self.conv2(self.conv1(x))))


def build() -> LoadedModel:
    torch.manual_seed(0)
    return LoadedModel(name="Tiny e2e net", module=TinyNet().eval(), input_size=32,
                       mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
