"""End-to-end fixtures: a built frontend, a small *computed* dataset, the real server, headless Chromium.

The session fixture
1. builds the frontend (npm) if backend/circuitscope/api/static is missing,
2. computes a tiny model (tests/model_sources/tiny_models.py:e2e_net) on generated concept images with `circuitscope compute`
   in its own CIRCUITSCOPE_DATA_DIR (dataset examples, feature visualizations, weights: real records),
   then adds a label containing HTML (to check that the page escapes it),
3. starts `uvicorn circuitscope.api.app:create_app --factory` on a free loopback port, and stops it at the end.

CIRCUITSCOPE_E2E_DATA=synthetic uses scripts/gen_bench_db.py data instead of computing (UI development only).
Screenshots go to test-artifacts/e2e/ (git-ignored).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support.live_server import live_server
from support.paths import REPO, TINY_MODELS

ROOT = REPO
STATIC = ROOT / "backend" / "circuitscope" / "api" / "static"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
XSS_LABEL = "<img src=x onerror=alert(1)>"
XSS_DESCRIPTION = "Tiny net <b>not bold</b> <script>window.__pwned = 1</script>"


@dataclass
class E2EWorld:
    base: str
    model: str
    layers: list[str]  # computed layers, in order
    channels: dict[str, int]
    uncomputed: str | None  # a layer of the model that was not computed
    labelled: tuple[str, int]  # (layer, index) of the unit with the XSS label
    data_dir: Path
    log: Path
    extra: dict = field(default_factory=dict)


def _build_frontend() -> None:
    if (STATIC / "index.html").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("The frontend is not built and npm is not installed: install Node 20 or run scripts/setup.sh")
    frontend = ROOT / "frontend"
    if not (frontend / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=frontend, check=True)
    subprocess.run([npm, "run", "build"], cwd=frontend, check=True)
    assert (STATIC / "index.html").exists(), "npm run build did not produce backend/circuitscope/api/static"


def _run(cmd: list[str], env: dict, log: Path, timeout: int) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        pytest.fail(f"command failed ({proc.returncode}): {' '.join(cmd)}\n--- log ---\n{log.read_text()[-4000:]}")


def _compute_real(data_dir: Path, env: dict, log: Path) -> dict:
    """A real run of the pipeline through the CLI: tiny model, generated concept images, every stage."""
    run_file = data_dir.parent / "e2e-run.toml"
    target = TINY_MODELS.as_posix()
    run_file.write_text(f"""
model_slug = "tiny"
layers = ["conv1.1", "conv2.1", "conv3.1"]
device = "cpu"

[model]
kind = "factory"
target = "{target}:e2e_net"

[dataset]
kind = "concepts"
size = 96
seed = 3

[examples]
k = 6
batch_size = 32

[featurevis]
steps = 16
size = 32
diversity_n = 2

[weights]
top_n = 12
""")
    _run([sys.executable, "-c", "from circuitscope.cli import app; app()", "compute", str(run_file)], env, log, 600)
    return dict(model="tiny", layers=["conv1.1", "conv2.1", "conv3.1"])


def _compute_synthetic(data_dir: Path, env: dict, log: Path) -> dict:
    _run([sys.executable, str(ROOT / "scripts" / "gen_bench_db.py"), "--data-dir", str(data_dir), "--models", "1",
          "--layers", "3", "--channels", "24", "--k", "6", "--connections", "8", "--images", "24",
          "--dataset-images", "50"], env, log, 300)
    return dict(model="bench", layers=["block1.conv1", "block1.conv2", "block1.conv3"])


def _decorate(data_dir: Path, model: str, layer: str, index: int) -> None:
    """Text with HTML in it, from the database: a unit label and the model description."""
    from sqlalchemy import select

    from circuitscope.settings import Settings
    from circuitscope.store import Database
    from circuitscope.store.tables.annotation import Label, User
    from circuitscope.store.tables.records import Layer, Model, Unit

    db = Database(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        with db.session() as s:
            m = s.scalar(select(Model).where(Model.slug == model))
            m.description = XSS_DESCRIPTION
            unit = s.scalar(select(Unit).join(Layer).where(Layer.model_id == m.id, Layer.name == layer,
                                                           Unit.index == index))
            user = User(name="e2e-annotator", role="annotator")
            s.add(user)
            s.flush()
            s.add(Label(unit_id=unit.id, model_slug=model, layer_name=layer, unit_index=index, user_id=user.id,
                        label=XSS_LABEL, confidence=0.9, status="confident"))
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def e2e(tmp_path_factory) -> E2EWorld:
    _build_frontend()
    root = tmp_path_factory.mktemp("e2e")
    data_dir = root / "data"
    data_dir.mkdir()
    log = root / "e2e.log"
    env = dict(os.environ, CIRCUITSCOPE_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    env.pop("CIRCUITSCOPE_DATABASE_URL", None)
    if os.environ.get("CIRCUITSCOPE_E2E_DATA") == "synthetic":
        info = _compute_synthetic(data_dir, env, log)
    else:
        info = _compute_real(data_dir, env, log)
    labelled = (info["layers"][1], 1)
    _decorate(data_dir, info["model"], *labelled)

    with live_server(env, root, log) as server:
        base = server.base
        model = httpx.get(f"{base}/api/models/{info['model']}", timeout=30).json()
        channels = {lyr["name"]: lyr["channels"] for lyr in model["layers"]}
        computed = [lyr["name"] for lyr in model["layers"] if lyr["status"] == "done"]
        assert computed == info["layers"], f"expected {info['layers']} computed, got {model['layers']}"
        uncomputed = next((lyr["name"] for lyr in model["layers"] if lyr["status"] == "not_computed"), None)
        yield E2EWorld(base=base, model=info["model"], layers=info["layers"], channels=channels,
                       uncomputed=uncomputed, labelled=labelled, data_dir=data_dir, log=log)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module (module scope: only one sync Playwright runs at a time, so
    other test modules may start their own)."""
    from playwright.sync_api import sync_playwright

    exe = os.environ.get("CIRCUITSCOPE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        if exe:
            b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        else:  # a playwright-managed browser, where one is installed
            b = p.chromium.launch(args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageProbe:
    """A page that records console errors, page errors and dialogs (an alert() would be an XSS)."""

    def __init__(self, page, name: str):
        self.page, self.name = page, name
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(f"pageerror: {e}"))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def probe(browser, e2e, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=e2e.base)
    page = context.new_page()
    page.set_default_timeout(20_000)
    p = PageProbe(page, request.node.name)
    yield p
    try:
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            p.shot("failure")
    finally:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
