"""The "compute this layer" command (issue 14): it names a model spec and the dataset, and it parses."""
from __future__ import annotations

import shlex

import pytest

from circuitscope.cli import parse_dataset_arg, parse_model_arg
from circuitscope.store.queries.compute_hint import command, dataset_args, model_arg


@pytest.mark.parametrize("spec", [
    {"kind": "demo"},
    {"kind": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1"},
    {"kind": "torchvision", "name": "resnet18", "weights": None},
    {"kind": "lucent", "pretrained": True},
    {"kind": "lucent", "pretrained": False},
    {"kind": "checkpoint", "path": "/models/net.pt", "arch": "resnet18"},
    {"kind": "torchscript", "path": "/models/net.ts"},
    {"kind": "factory", "target": "/models/face.py:build"},
])
def test_model_arg_round_trips_through_the_cli_parser(spec):
    arg = model_arg(spec)
    assert arg is not None
    parsed = parse_model_arg(arg)
    assert {k: v for k, v in parsed.items() if v is not None} == {k: v for k, v in spec.items() if v is not None}


def test_spec_with_options_the_cli_cannot_express_points_at_a_run_file():
    spec = {"kind": "factory", "target": "/m/face.py:build", "input_size": 48, "mean": [0.5], "std": [0.5]}
    assert model_arg(spec) is None
    cmd = command("face", "conv2", spec, {"kind": "folder", "root": "/data/faces"})
    assert cmd.startswith("circuitscope compute RUN.toml --model-slug face --layers conv2")


def test_command_names_model_spec_dataset_layer_and_slug():
    cmd = command("resnet18", "layer1.0", {"kind": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1"},
                  {"kind": "folder", "root": "/data/my images", "max_images": 5000, "seed": 2})
    argv = shlex.split(cmd)
    assert argv[:2] == ["circuitscope", "compute"]
    opts = dict(zip(argv[2::2], argv[3::2]))
    assert opts["--model"] == "torchvision:resnet18:IMAGENET1K_V1"
    assert opts["--dataset"] == "/data/my images" and opts["--max-images"] == "5000" and opts["--seed"] == "2"
    assert opts["--layers"] == "layer1.0" and opts["--model-slug"] == "resnet18"
    assert "--model resnet18 " not in cmd  # the old hint passed the slug as the model


def test_dataset_args_round_trip():
    spec = {"kind": "concepts", "size": 96, "seed": 3}
    args = dataset_args(spec)
    assert args == ["--dataset", "concepts:96", "--seed", "3"]
    assert parse_dataset_arg(args[1], None, 3) == spec
