"""The `circuitscope` command line: demo, compute, serve, layers, db, and the annotation/job commands."""
from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from .settings import get_settings

app = typer.Typer(help="circuitscope: a self-hosted Microscope for circuits research.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# The demo: ConceptNet's post-ReLU block outputs, on generated concept images.
DEMO_LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def parse_model_arg(value: str) -> dict:
    """'demo' | 'torchvision:NAME[:WEIGHTS]' | 'lucent[:pretrained]' | 'checkpoint:PATH[:ARCH]' |
    'torchscript:PATH' | 'factory:FILE.py:FUNC' or 'factory:pkg.module:FUNC'."""
    kind, _, rest = value.partition(":")
    if kind == "demo":
        return {"kind": "demo"}
    if kind == "torchvision" and rest:
        name, _, weights = rest.partition(":")
        return {"kind": "torchvision", "name": name, "weights": weights or None}
    if kind == "lucent":
        return {"kind": "lucent", "pretrained": rest != "random"}
    if kind == "checkpoint" and rest:
        path, _, arch = rest.partition(":")
        return {"kind": "checkpoint", "path": path, **({"arch": arch} if arch else {})}
    if kind == "torchscript" and rest:
        return {"kind": "torchscript", "path": rest}
    if kind == "factory" and rest:
        return {"kind": "factory", "target": rest}
    raise typer.BadParameter(
        f"cannot read model '{value}'. Use demo, torchvision:resnet18[:IMAGENET1K_V1], lucent[:random], "
        "checkpoint:PATH[:ARCH], torchscript:PATH or factory:FILE.py:FUNCTION."
    )


def parse_dataset_arg(value: str, max_images: Optional[int], seed: int) -> dict:
    kind, _, rest = value.partition(":")
    if kind == "concepts":
        size = int(rest) if rest else (max_images or 10000)
        return {"kind": "concepts", "size": size, "seed": seed}
    spec = {"kind": "folder", "root": str(Path(value).expanduser().resolve()), "seed": seed}
    if max_images:
        spec["max_images"] = max_images
    return spec


def _progress_printer():
    """tqdm bars: one per stage for examples/weights (over layers), one per layer for feature vis (units)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def report(stage: str, layer: str | None, done: int, total: int) -> None:
        if layer is None:
            return  # the streaming dataset pass draws its own bar
        per_layer = stage == "featurevis"
        key = f"{stage}:{layer}" if per_layer else stage
        bar = bars.get(key)
        if bar is None:
            desc = f"feature vis {layer}" if per_layer else {"examples": "render + store examples",
                                                             "weights": "weights"}.get(stage, stage)
            bar = bars[key] = tqdm(total=total, desc=desc, unit="unit" if per_layer else "layer")
        bar.total = total
        bar.n = done
        if not per_layer:
            bar.set_postfix_str(layer)
        bar.refresh()
        if done >= total and per_layer:
            bar.close()

    return report


def _compute(config) -> None:
    from .compute.config import RunConfigError
    from .compute.pipeline import Cancelled, run_compute
    from .datasets.base import DatasetError
    from .models.base import ModelLoadError, UnknownLayerError

    settings = get_settings()
    try:
        result = run_compute(config, settings, progress=_progress_printer())
    except (UnknownLayerError, ModelLoadError, DatasetError, RunConfigError) as err:
        fail(str(err))
    except (Cancelled, KeyboardInterrupt):
        fail("interrupted: everything finished so far is stored; run the same command again to resume.", 130)
    typer.echo(f"run {result.run_id} done: model '{result.model_slug}', layers {', '.join(result.layers)}")
    if result.stages_skipped:
        typer.echo(f"  already computed, reused: {len(result.stages_skipped)} layer stages")
    if result.skipped_images:
        typer.secho(f"  {len(result.skipped_images)} unreadable images skipped:", fg=typer.colors.YELLOW)
        for ref, why in result.skipped_images[:20]:
            typer.echo(f"    {ref}: {why}")
    typer.echo("  timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))


@app.command()
def compute(
    run_file: Optional[Path] = typer.Argument(None, help="run description (.toml/.yaml); options below override it"),
    model: Optional[str] = typer.Option(None, help="demo | torchvision:NAME[:WEIGHTS] | lucent | checkpoint:PATH[:ARCH] | torchscript:PATH | factory:FILE.py:FUNC"),
    dataset: Optional[str] = typer.Option(None, help="concepts[:N] or a folder of images"),
    layers: Optional[str] = typer.Option(None, help="comma-separated layer names or glob patterns"),
    max_images: Optional[int] = typer.Option(None, help="cap on the number of images (sampled with --seed)"),
    seed: int = typer.Option(0, help="dataset sampling seed"),
    k: Optional[int] = typer.Option(None, help="top-k/bottom-k dataset examples per unit"),
    steps: Optional[int] = typer.Option(None, help="feature-visualization optimization steps"),
    size: Optional[int] = typer.Option(None, help="feature-visualization image size"),
    objectives: Optional[str] = typer.Option(None, help="comma-separated: channel,neuron,negative,diversity"),
    batch_size: Optional[int] = typer.Option(None, help="images per batch for the dataset pass"),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1, mps"),
    model_slug: Optional[str] = typer.Option(None, help="name to store the model under"),
    no_featurevis: bool = typer.Option(False, "--no-featurevis"),
    no_weights: bool = typer.Option(False, "--no-weights"),
    no_examples: bool = typer.Option(False, "--no-examples"),
    concept_tags: Optional[Path] = typer.Option(None, help="CSV of per-image tags (image,tags) scored as concepts"),
) -> None:
    """Compute dataset examples, statistics, feature visualizations and weights for chosen layers."""
    from .compute.config import RunConfigError, load_run_file, parse_run_config

    try:
        data = load_run_file(run_file).model_dump() if run_file else {}
    except RunConfigError as err:
        fail(str(err))
    if model:
        data["model"] = parse_model_arg(model)
    data.setdefault("model", {"kind": "demo"})
    if dataset:
        data["dataset"] = parse_dataset_arg(dataset, max_images, seed)
    data.setdefault("dataset", {"kind": "concepts", "size": max_images or 10000, "seed": seed})
    if layers:
        data["layers"] = [x.strip() for x in layers.split(",") if x.strip()]
    if "layers" not in data and data["model"].get("kind") == "demo":
        data["layers"] = DEMO_LAYERS
    for section, key, value in [("examples", "k", k), ("examples", "batch_size", batch_size),
                                ("featurevis", "steps", steps), ("featurevis", "size", size)]:
        if value is not None:
            data.setdefault(section, {})[key] = value
    if concept_tags:
        data.setdefault("examples", {})["concept_tags"] = str(concept_tags)
    if objectives:
        data.setdefault("featurevis", {})["objectives"] = [o.strip() for o in objectives.split(",")]
    for section, off in [("featurevis", no_featurevis), ("weights", no_weights), ("examples", no_examples)]:
        if off:
            data.setdefault(section, {})["enabled"] = False
    if device:
        data["device"] = device
    elif "device" not in data:
        data["device"] = get_settings().device
    if model_slug:
        data["model_slug"] = model_slug
    if "layers" not in data:
        fail("say which layers to compute: --layers 'conv1,layer1.*' (see `circuitscope layers --model ...`)")
    try:
        config = parse_run_config(data, "(from options)")
    except RunConfigError as err:
        fail(str(err))
    _compute(config)


@app.command()
def layers(model: str = typer.Option("demo", help="model, as for `compute --model`"),
           all_modules: bool = typer.Option(False, "--all", help="every named module, not only spatial layers")) -> None:
    """List a model's layers (dotted names, output shape, channels)."""
    from .models.base import ModelLoadError
    from .models.layers import list_layers
    from .models.sources import load_model

    try:
        loaded = load_model(parse_model_arg(model), get_settings().data_dir)
    except ModelLoadError as err:
        fail(str(err))
    for info in list_layers(loaded, include_all=all_modules):
        typer.echo(f"{info.name:40s} {info.module_type:20s} {str(tuple(info.output_shape)):20s} {info.channels}")


@app.command()
def serve(host: Optional[str] = typer.Option(None), port: Optional[int] = typer.Option(None),
          worker: bool = typer.Option(True, "--worker/--no-worker",
                                      help="also start a worker process for computations queued in the browser"),
          workers: int = typer.Option(1, "--workers", min=1, max=64,
                                      help="web server processes (more serve more concurrent readers)")) -> None:
    """Serve the browser UI and the JSON API (and, by default, a worker for queued jobs)."""
    import subprocess

    import uvicorn

    from .api.app import create_app
    from .store import DatabaseVersionError

    settings = get_settings()
    try:
        application = create_app(settings)
    except DatabaseVersionError as err:
        fail(str(err))
    host, port = host or settings.host, port or settings.port
    # The worker is its own process so that heavy computations never stall the web server.
    worker_proc = subprocess.Popen([sys.executable, "-m", "circuitscope.cli", "worker"]) if worker else None
    typer.echo(f"circuitscope serving at http://{host}:{port}  (API docs at /docs)")
    try:
        if workers > 1:  # each process builds its own app from the same settings (environment)
            uvicorn.run("circuitscope.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                        log_level="warning")
        else:
            uvicorn.run(application, host=host, port=port, log_level="warning")
    finally:
        if worker_proc is not None:
            worker_proc.terminate()
            worker_proc.wait(timeout=10)


@app.command()
def demo(
    images: int = typer.Option(10000, help="generated concept images for dataset examples"),
    steps: int = typer.Option(128, help="feature-visualization steps (Lucid's default is 512)"),
    serve_after: bool = typer.Option(True, "--serve/--no-serve",
                                     help="serve the browser UI (computing in the background) or just compute"),
    host: Optional[str] = typer.Option(None),
    port: Optional[int] = typer.Option(None),
) -> None:
    """Train the demo model if needed, compute every unit of its layers, and serve the browser UI.

    With --serve (default) the UI comes up as soon as the model is trained: the computation runs as a
    job in the server's worker, its progress is on the job page, and layers appear as they finish.
    Already computed layers are reused, so a second `demo` starts serving at once."""
    from .compute.config import parse_run_config

    settings = get_settings()
    config = parse_run_config({
        "model": {"kind": "demo"},
        "dataset": {"kind": "concepts", "size": images, "seed": 1},
        "layers": DEMO_LAYERS,
        "device": settings.device,
        "featurevis": {"steps": steps, "precision": "auto"},
    })
    if not serve_after:
        _compute(config)
        return
    from .jobs import queue
    from .models.demo import load_or_train_demo
    from .store import Database, DatabaseVersionError

    load_or_train_demo(settings.data_dir)  # in the foreground: its progress bar is in this terminal
    try:
        db = Database(settings.sqlalchemy_url)
    except DatabaseVersionError as err:
        fail(str(err))
    with db.session() as s:
        job_id = queue.submit(s, config, created_by="demo").id
    db.dispose()
    url = f"http://{host or settings.host}:{port or settings.port}"
    typer.echo(f"Computing every unit of the demo model in the background (job {job_id}).\n"
               f"Watch it at {url}/jobs/{job_id}; layers appear at {url}/models/conceptnet as they finish.")
    serve(host, port, worker=True, workers=1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to this version's schema (also done automatically at start)."""
    from .store import Database, DatabaseVersionError

    try:
        Database(get_settings().sqlalchemy_url)
    except DatabaseVersionError as err:
        fail(str(err))
    typer.echo("database is at the current schema")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision."""
    from .store.db import current_revision, make_engine

    typer.echo(current_revision(make_engine(get_settings().sqlalchemy_url)) or "(empty database)")


def _mount_optional_commands() -> None:
    """Commands that live with their feature packages (users, tokens, export/import, worker)."""
    try:
        from .annotate import cli as annotate_cli
    except ImportError:
        annotate_cli = None
    if annotate_cli is not None:
        for name, attr in [("users", "users_app"), ("tokens", "tokens_app")]:
            if hasattr(annotate_cli, attr):
                app.add_typer(getattr(annotate_cli, attr), name=name)
        for name, attr in [("export", "export_cmd"), ("import", "import_cmd")]:
            obj = getattr(annotate_cli, attr, None)
            if isinstance(obj, typer.Typer):
                app.add_typer(obj, name=name)
            elif obj is not None:
                app.command(name)(obj)
    try:
        from .jobs import cli as jobs_cli
    except ImportError:
        jobs_cli = None
    if jobs_cli is not None and hasattr(jobs_cli, "worker_cmd"):
        app.command("worker")(jobs_cli.worker_cmd)
    if jobs_cli is not None and hasattr(jobs_cli, "jobs_app"):
        app.add_typer(jobs_cli.jobs_app, name="jobs")


_mount_optional_commands()
# kornia 0.4 (pinned by lucent) scripts functions with a deprecated torch.jit API: harmless noise.
warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.script.*")
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    app()
