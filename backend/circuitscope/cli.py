"""The `circuitscope` command line: demo, compute, serve, layers, db, and the annotation/job commands."""
from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import typer

from .annotate import cli as annotate_cli
from .circuit_tests import cli as circuit_tests_cli
from .evidence import cli as evidence_cli
from .export import cli as export_cli
from .jobs import cli as jobs_cli
from .settings import get_settings

app = typer.Typer(help="circuitscope: a self-hosted Microscope for circuits research.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# The demo: ConceptNet's post-ReLU block outputs, on generated concept images.
DEMO_LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]
# 32 fast-style steps keep every demo unit's best render >= 0.5x its top example (median > 1x) at half the
# time of 64 (README, "The demo end to end").
DEMO_STEPS = 32
# Three diversity renders, not four: the whole demo compute in 161 s instead of 188 s on an idle 2-core machine,
# fidelity unchanged (every best render >= 0.5x, median 1.42x; README, "The demo end to end").
DEMO_DIVERSITY = 3


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


def parse_dataset_arg(value: str, max_images: int | None, seed: int) -> dict:
    kind, _, rest = value.partition(":")
    if kind == "concepts":
        size = int(rest) if rest else (max_images or 10000)
        return {"kind": "concepts", "size": size, "seed": seed}
    spec = {"kind": "folder", "root": str(Path(value).expanduser().resolve()), "seed": seed}
    if max_images:
        spec["max_images"] = max_images
    return spec


def _progress_printer():
    """tqdm bars, one at a time: per stage for examples/weights (over layers), per layer for feature vis (units).

    Only one bar is ever open: when a report for another stage or layer arrives, the current bar is closed
    (its last state stays printed) and a new one starts, so bars never redraw over each other and each bar's
    rate covers only its own work (an open "weights" bar used to count the feature-vis time as its own)."""
    from tqdm import tqdm

    current: dict[str, object] = {"key": None, "bar": None}

    def close() -> None:
        bar = current["bar"]
        if bar is not None:
            bar.close()  # type: ignore[attr-defined]
        current["key"] = current["bar"] = None

    def report(stage: str, layer: str | None, done: int, total: int) -> None:
        if layer is None:
            return  # the streaming dataset pass draws its own bar
        per_layer = stage == "featurevis"
        key = f"{stage}:{layer}" if per_layer else stage
        if current["key"] != key:
            close()
            desc = f"feature vis {layer}" if per_layer else {"examples": "render + store examples",
                                                             "weights": "weights"}.get(stage, stage)
            current["bar"] = tqdm(total=total, initial=done, desc=desc, unit="unit" if per_layer else "layer")
            current["key"] = key
        bar = current["bar"]
        bar.total = total  # type: ignore[attr-defined]
        bar.n = done  # type: ignore[attr-defined]
        if not per_layer:
            bar.set_postfix_str(layer)  # type: ignore[attr-defined]
        bar.refresh()  # type: ignore[attr-defined]
        if done >= total:
            close()

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
    if result.fidelity:
        from .records.featurevis.fidelity import format_summary

        typer.echo(format_summary(result.fidelity))


@app.command()
def compute(
    run_file: Path | None = typer.Argument(None, help="run description (.toml/.yaml); options below override it"),
    model: str | None = typer.Option(None, help="demo | torchvision:NAME[:WEIGHTS] | lucent | checkpoint:PATH[:ARCH] | "
                                                   "torchscript:PATH | factory:FILE.py:FUNC"),
    dataset: str | None = typer.Option(None, help="concepts[:N] or a folder of images"),
    layers: str | None = typer.Option(None, help="comma-separated layer names or glob patterns"),
    max_images: int | None = typer.Option(None, help="cap on the number of images (sampled with --seed)"),
    seed: int = typer.Option(0, help="dataset sampling seed"),
    k: int | None = typer.Option(None, help="top-k/bottom-k dataset examples per unit"),
    steps: int | None = typer.Option(None, help="feature-visualization optimization steps"),
    size: int | None = typer.Option(None, help="feature-visualization image size"),
    objectives: str | None = typer.Option(None, help="comma-separated: channel,neuron,negative,diversity"),
    batch_size: int | None = typer.Option(None, help="images per batch for the dataset pass"),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1, mps"),
    model_slug: str | None = typer.Option(None, help="name to store the model under"),
    no_featurevis: bool = typer.Option(False, "--no-featurevis"),
    no_weights: bool = typer.Option(False, "--no-weights"),
    no_examples: bool = typer.Option(False, "--no-examples"),
    concept_tags: Path | None = typer.Option(None, help="CSV of per-image tags (image,tags) scored as concepts"),
    engine: str | None = typer.Option(
        None, help="local (this process, the default) or ray: spread the work over a Ray cluster's model "
                   "replicas (same records; see README 'Scaling out with Ray')"),
    ray_address: str | None = typer.Option(
        None, help="with --engine ray: HOST:PORT of the Ray head to join (default CIRCUITSCOPE_RAY_ADDRESS, "
                   "else a Ray instance started on this machine)"),
    ray_replicas: int | None = typer.Option(
        None, help="with --engine ray: model replicas (default one per GPU, or per CPU with --device cpu)"),
) -> None:
    """Compute dataset examples, statistics, feature visualizations and weights for chosen layers.

    --engine ray [--ray-address HOST:PORT] runs the same computation on a Ray cluster."""
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
    optional: list[tuple[str, str | int | None]] = [("engine", engine), ("ray_address", ray_address),
                                                    ("ray_replicas", ray_replicas)]
    for key, setting in optional:
        if setting is not None:
            data[key] = setting
    if "layers" not in data:
        fail("say which layers to compute: --layers 'conv1,layer1.*' (see `circuitscope layers --model ...`)")
    try:
        config = parse_run_config(data, "(from options)")
    except RunConfigError as err:
        fail(str(err))
    _compute(config)


@app.command()
def layers(model: str = typer.Option("demo", help="model, as for `compute --model`"),
           all_modules: bool = typer.Option(False, "--all", help="every named module, not only spatial layers"),
           input_size: int | None = typer.Option(None, "--input-size", min=1,
                                                    help="side of the input images in pixels (e.g. 48 for a small face net)"),
           mean: str | None = typer.Option(None, help="per-channel input mean, comma-separated (e.g. 0.5,0.5,0.5)"),
           std: str | None = typer.Option(None, help="per-channel input std, comma-separated")) -> None:
    """List a model's layers (dotted names, output shape, channels)."""
    from .models.base import ModelLoadError
    from .models.layers import list_layers
    from .models.sources import load_model

    spec = parse_model_arg(model)
    for key, text in (("mean", mean), ("std", std)):
        if text is not None:
            try:
                spec[key] = [float(x) for x in text.split(",") if x.strip()]
            except ValueError:
                fail(f"--{key} '{text}' is not a comma-separated list of numbers, e.g. 0.5,0.5,0.5")
    if input_size is not None:
        spec["input_size"] = input_size
    try:
        loaded = load_model(spec, get_settings().data_dir)
        found = list_layers(loaded, include_all=all_modules)
    except ModelLoadError as err:  # e.g. the model fails on the dummy input: the message says why, no traceback
        hint = (" If the model expects another image size, pass --input-size (and --mean/--std)."
                if "dummy input" in str(err) and not input_size else "")
        fail(str(err) + hint)
    for info in found:
        shape = str(tuple(info.output_shape)) if info.output_shape is not None else "(no tensor)"
        typer.echo(f"{info.name:40s} {info.module_type:20s} {shape:20s} {info.channels}")


def _die_with_parent() -> None:
    """In the worker child (Linux): get SIGTERM when `serve` dies, however it dies (even SIGKILL)."""
    try:
        import ctypes
        import signal as _signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, _signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass  # not Linux: the SIGTERM handler below still stops the worker on `kill PID`


def _stop_worker_on_sigterm(worker_proc) -> None:
    """`kill PID` (SIGTERM) on serve: uvicorn shuts down and re-raises the signal, which by default ends the
    process before `finally` runs, orphaning the worker. This handler stops the worker first."""
    import signal

    def on_term(signum, frame):
        if worker_proc.poll() is None:
            worker_proc.terminate()
            try:
                worker_proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 - still exiting
                worker_proc.kill()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)


@app.command()
def serve(host: str | None = typer.Option(None), port: int | None = typer.Option(None),
          worker: bool = typer.Option(True, "--worker/--no-worker",
                                      help="also start a worker process for computations queued in the browser"),
          workers: int = typer.Option(1, "--workers", min=1, max=64,
                                      help="web server processes (more serve more concurrent readers)"),
          network_admin: bool = typer.Option(False, "--allow-local-admin-on-network",
                                             help="serve the single-user local admin on a non-loopback address "
                                                  "(everyone who can reach it is admin)")) -> None:
    """Serve the browser UI and the JSON API (and, by default, a worker for queued jobs)."""
    import subprocess

    import uvicorn

    from .api.app import create_app
    from .store import DatabaseVersionError

    settings = get_settings()
    bind = host or settings.host
    if settings.local_user and not is_loopback(bind) and not network_admin:
        fail(f"refusing to listen on {bind}: in single-user mode every visitor acts as the local admin "
             f"{settings.local_user!r}, so anyone who can reach this address could change everything and run "
             "computations. For a shared server set CIRCUITSCOPE_LOCAL_USER= (empty) and create accounts "
             "(`circuitscope users create NAME --role admin --prompt`); to serve only this machine use "
             "--host 127.0.0.1; or pass --allow-local-admin-on-network if you really mean it.")
    try:
        application = create_app(settings)
    except DatabaseVersionError as err:
        fail(str(err))
    host, port = host or settings.host, port or settings.port
    # The worker is its own process so that heavy computations never stall the web server.
    worker_proc = subprocess.Popen([sys.executable, "-m", "circuitscope.cli", "worker"],
                                   preexec_fn=_die_with_parent) if worker else None
    if worker_proc is not None:
        _stop_worker_on_sigterm(worker_proc)
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


def demo_run_config(images: int = 10000, steps: int = DEMO_STEPS, device: str = "cpu"):
    """The run the demo computes (scripts/bench_demo.py times exactly this): every render kind, accentuation too."""
    from .compute.config import OBJECTIVES, parse_run_config

    return parse_run_config({
        "model": {"kind": "demo"},
        "dataset": {"kind": "concepts", "size": images, "seed": 1},
        "layers": DEMO_LAYERS,
        "device": device,
        "featurevis": {"steps": steps, "precision": "auto", "objectives": [*OBJECTIVES, "accentuation"],
                       "diversity_n": DEMO_DIVERSITY},
    })


@app.command()
def demo(
    images: int = typer.Option(10000, help="generated concept images for dataset examples"),
    steps: int = typer.Option(DEMO_STEPS, help="most feature-visualization steps per unit (Lucid's default is 512; "
                                                "the fast style stops early where converged)"),
    serve_after: bool = typer.Option(True, "--serve/--no-serve",
                                     help="serve the browser UI (computing in the background) or just compute"),
    host: str | None = typer.Option(None),
    port: int | None = typer.Option(None),
) -> None:
    """Train the demo model if needed, compute every unit of its layers, and serve the browser UI.

    With --serve (default) the UI comes up as soon as the model is trained: the computation runs as a
    job in the server's worker, its progress is on the job page, and layers appear as they finish.
    Already computed layers are reused, so a second `demo` starts serving at once."""
    settings = get_settings()
    config = demo_run_config(images, steps, settings.device)
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
    serve(host, port, worker=True, workers=1, network_admin=False)


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


# Commands that live with their feature packages.
app.add_typer(annotate_cli.users_app, name="users")
app.add_typer(annotate_cli.tokens_app, name="tokens")
app.add_typer(export_cli.export_cmd, name="export")
app.add_typer(export_cli.import_cmd, name="import")
app.command("worker")(jobs_cli.worker_cmd)
app.add_typer(jobs_cli.jobs_app, name="jobs")
app.command("tuning")(evidence_cli.tuning_cmd)
app.add_typer(circuit_tests_cli.circuits_app, name="circuits")
# kornia 0.4 (pinned by lucent) scripts functions with a deprecated torch.jit API: harmless noise.
warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.script.*")
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    app()
