"""CLI behaviour from issue 14: `layers` explains a model that fails on the dummy input without a traceback
and takes --input-size/--mean/--std; SIGTERM on `serve` also stops its worker child."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.live_server import free_port
from support.paths import REPO

ROOT = REPO

MODEL_48PX = '''
import torch
from torch import nn

class Net(nn.Module):
    """Works only on 48-px images (a flatten into a fixed-size linear layer)."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 48 * 48, 2)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))

def build():
    return Net().eval()
'''


def _cli(args: list[str], data_dir: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, CIRCUITSCOPE_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT / "backend"))
    env.pop("CIRCUITSCOPE_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "circuitscope.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "face48.py"
    path.write_text(MODEL_48PX)
    return path


def test_layers_on_a_model_that_fails_the_dummy_input_says_why_without_traceback(tmp_path, model_file):
    out = _cli(["layers", "--model", f"factory:{model_file}:build"], tmp_path)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "Traceback" not in text and "╭" not in text, text
    assert "failed on a dummy input" in text and "--input-size" in text


def test_layers_takes_input_size_mean_std(tmp_path, model_file):
    out = _cli(["layers", "--model", f"factory:{model_file}:build", "--input-size", "48",
                "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "(4, 48, 48)" in out.stdout
    bad = _cli(["layers", "--model", f"factory:{model_file}:build", "--mean", "half"], tmp_path)
    assert bad.returncode != 0 and "--mean 'half'" in bad.stdout + bad.stderr


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_sigterm_on_serve_stops_its_worker(tmp_path):
    port = free_port()
    env = dict(os.environ, CIRCUITSCOPE_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT / "backend"))
    env.pop("CIRCUITSCOPE_DATABASE_URL", None)
    serve = subprocess.Popen([sys.executable, "-m", "circuitscope.cli", "serve", "--host", "127.0.0.1", "--port",
                              str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            kids = _children(serve.pid)
            try:
                up = httpx.get(f"http://127.0.0.1:{port}/api/models", timeout=2).status_code == 200
            except httpx.HTTPError:
                up = False
            if kids and up:
                worker = kids[0]
                break
            assert serve.poll() is None, "serve exited early"
            time.sleep(0.5)
        assert worker is not None, "serve did not start a worker child and answer within 90 s"
        time.sleep(2)  # let the worker settle into its polling loop
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
        deadline = time.time() + 20
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "the worker outlived `serve` after SIGTERM (orphaned)"
    finally:
        if serve.poll() is None:
            serve.kill()
        if worker and _alive(worker):
            os.kill(worker, signal.SIGKILL)


def test_progress_bars_never_overlap():
    """Reports interleave as in a real run (examples over layers, then feature vis per layer, weights): at
    most one bar is open at any time, and finished stages leave no bar behind."""
    from tqdm import tqdm

    from circuitscope.cli import _progress_printer

    report = _progress_printer()
    sequence = [("examples", "conv1", 0, 2), ("examples", "conv1", 1, 2), ("featurevis", "conv1", 0, 4),
                ("featurevis", "conv1", 4, 4), ("examples", "conv2", 2, 2), ("weights", "conv2", 0, 1),
                ("featurevis", "conv2", 2, 4), ("weights", "conv2", 1, 1), ("featurevis", "conv2", 4, 4)]
    for stage, layer, done, total in sequence:
        report(stage, layer, done, total)
        assert len(tqdm._instances) <= 1, f"{len(tqdm._instances)} bars open after {stage} {layer} {done}/{total}"
    assert len(tqdm._instances) == 0
