"""The Ray engine on a real two-node Ray cluster on this machine (loopback only, stopped at the end).

Records computed on Ray equal the local engine's (same top/bottom examples, activations, positions,
crops, heatmaps and renders; statistics to float rounding), also when a replica's process is killed
mid-run; a cancelled driver resumes from its finished shards; bad addresses, a cluster without the
resources asked for and a Ray version mismatch are refused before any work.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from sqlalchemy import select  # noqa: E402

from circuitscope.compute.config import RunConfigError, parse_run_config  # noqa: E402
from circuitscope.compute.engine_ray import RayEngineError, merge_tallies, pack_tallies, unpack_tallies  # noqa: E402
from circuitscope.compute.pipeline import Cancelled, run_compute  # noqa: E402
from circuitscope.settings import Settings  # noqa: E402
from circuitscope.store import Database  # noqa: E402
from circuitscope.store.tables.records import (  # noqa: E402
    Connection,
    DatasetExample,
    DatasetImage,
    FeatureVis,
    Layer,
    Run,
    Unit,
)
from support.live_server import free_port  # noqa: E402
from support.paths import REPO, TINY_MODELS  # noqa: E402

ROOT = REPO
RAY_BIN = Path(sys.executable).parent / "ray"


def run_config(**over):
    base = {
        "model": {"kind": "factory", "target": f"{TINY_MODELS}:tiny_cnn", "input_size": 32},
        "model_slug": "tiny",
        "dataset": {"kind": "concepts", "size": 160, "seed": 3},
        "layers": ["0", "2", "5"],
        "examples": {"k": 4, "batch_size": 8},  # 20 batches -> 3 shards of the dataset pass
        "featurevis": {"steps": 6, "size": 32, "batch_channels": 4, "diversity_n": 2},
        "weights": {"top_n": 5},
    }
    base.update(over)
    return parse_run_config(base)


# ------------------------------------------------------------------------------------------------
# A two-node cluster: `ray start --head` and `ray start --address`, each in its own process group
# ------------------------------------------------------------------------------------------------
class LocalCluster:
    def __init__(self) -> None:
        self.temp = Path(tempfile.mkdtemp(prefix="rcs", dir="/tmp"))  # short: Ray's socket paths are limited
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        # Ray's token authentication, with a token of this test run's own (the driver gets it too)
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **self.auth,
                    "PYTHONPATH": os.pathsep.join([str(ROOT / "backend"), os.environ.get("PYTHONPATH", "")])}

    def _launch(self, name: str, args: list[str]) -> None:
        log = open(self.temp / f"{name}.log", "w")
        self.procs.append(subprocess.Popen(
            [str(RAY_BIN), "start", "--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
             "--disable-usage-stats", "--temp-dir", str(self.temp), *args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def launch(self) -> "LocalCluster":
        """Start both nodes without waiting (the second one retries until the head answers)."""
        self._launch("head", ["--head", "--port", str(self.port), "--include-dashboard=false"])
        self._launch("node", ["--address", self.address])
        return self

    def wait_ready(self) -> "LocalCluster":
        deadline = time.time() + 120
        for name, proc in zip(("head", "node"), self.procs):
            while "block forever" not in (self.temp / f"{name}.log").read_text():
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"ray start ({name}) failed:\n{(self.temp / f'{name}.log').read_text()[-3000:]}")
                time.sleep(0.5)
        return self

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster: the `ray start` processes we made and their descendants
        (Ray workers run in process groups of their own)."""
        found = []
        for proc in self.procs:
            try:
                root = psutil.Process(proc.pid)
                found += [root, *root.children(recursive=True)]
            except psutil.Error:
                pass
        return found

    def replica_pids(self, busy_with: str = "") -> list[int]:
        """Process ids of the model replicas, or of those running `busy_with` (Ray titles an actor's
        process `ray::[NAME:]Class[.method]`)."""
        pids = []
        for proc in self.processes():
            try:
                title = proc.cmdline()[0] if proc.cmdline() else ""
            except psutil.Error:
                continue
            if title.startswith("ray::") and f"ModelReplica.{busy_with}" in title + ".":
                pids.append(proc.pid)
        return sorted(pids)

    def stop(self) -> None:
        everything = self.processes()
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 4  # a head drains for up to 30 s on SIGTERM; nothing here needs draining
        while any(_alive(p) for p in everything) and time.time() < deadline:
            time.sleep(0.3)
        for proc in everything:  # whatever did not stop on SIGTERM, by pid
            try:
                proc.kill()
            except psutil.Error:
                pass
        for proc in self.procs:
            proc.wait(timeout=10)
        shutil.rmtree(self.temp, ignore_errors=True)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def launched():
    c = LocalCluster()
    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", *c.auth)}
    os.environ.update({"RAY_USAGE_STATS_ENABLED": "0", **c.auth})
    _reload_ray_auth()
    try:
        yield c.launch()
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reload_ray_auth()


@pytest.fixture(scope="module")
def cluster(launched):
    return launched.wait_ready()


def _reload_ray_auth() -> None:
    """Ray caches the token mode and token per process; a driver started with them set needs none of this."""
    try:
        from ray._private.authentication_test_utils import reset_auth_token_state
    except ImportError:
        return
    reset_auth_token_state()


# ------------------------------------------------------------------------------------------------
# What a run stored, comparable across databases
# ------------------------------------------------------------------------------------------------
def snapshot(db: Database) -> dict:
    with db.session() as s:
        unit_key = {u.id: (l.name, u.index) for u, l in s.execute(select(Unit, Layer).join(Layer))}
        examples = {
            (*unit_key[e.unit_id], e.kind, e.rank): (img.index, e.activation, e.y, e.x, tuple(e.box),
                                                     e.crop_hash, e.heatmap_hash, img.image_hash)
            for e, img in s.execute(select(DatasetExample, DatasetImage).join(DatasetImage))
        }
        renders = {(*unit_key[f.unit_id], f.objective, f.variant): (f.image_hash, f.activation, f.peak)
                   for f in s.scalars(select(FeatureVis))}
        stats = {unit_key[u.id]: (u.mean, u.std, u.min, u.max, u.sparsity, u.top_activation,
                                  u.histogram, u.max_histogram, u.quantiles)
                 for u in s.scalars(select(Unit)) if u.mean is not None}
        connections = {(unit_key[c.src_unit_id], unit_key[c.dst_unit_id], c.kind): (c.strength, c.l2)
                       for c in s.scalars(select(Connection))}
    return {"examples": examples, "renders": renders, "stats": stats, "connections": connections}


def assert_same_records(got: dict, want: dict) -> None:
    assert got["examples"] and got["examples"] == want["examples"]  # images, positions, activations, crops, heatmaps
    assert got["renders"] and got["renders"] == want["renders"]  # identical renders for the same seeds
    assert got["connections"] == want["connections"]
    assert got["stats"].keys() == want["stats"].keys()
    for key, (mean, std, lo, hi, sparsity, top, hist, max_hist, quantiles) in got["stats"].items():
        w = want["stats"][key]
        # shards merge their running sums in another grouping than one pass: equal to float rounding
        assert (mean, std) == (pytest.approx(w[0], rel=1e-9, abs=1e-12), pytest.approx(w[1], rel=1e-9, abs=1e-12))
        assert (lo, hi, sparsity, top) == (w[2], w[3], w[4], w[5])
        assert hist["counts"] == w[6]["counts"] and max_hist["counts"] == w[7]["counts"]
        assert quantiles == pytest.approx(w[8], rel=1e-9) if isinstance(quantiles, list) else quantiles == w[8]


@pytest.fixture(scope="module")
def local_records(tmp_path_factory, launched):  # computed while the cluster starts
    settings = Settings(data_dir=tmp_path_factory.mktemp("local") / "data")
    db = Database(settings.sqlalchemy_url)
    run_compute(run_config(), settings, db, show_progress_bars=False)
    return snapshot(db)


# ------------------------------------------------------------------------------------------------
def test_ray_run_equals_the_local_run_even_with_a_killed_replica(local_records, cluster, tmp_path):
    """Two replicas on two nodes; one replica process is SIGKILLed in the dataset pass and one in
    feature vis: Ray restarts it and reruns its task, and every record equals the local engine's."""
    settings = Settings(data_dir=tmp_path / "data")
    db = Database(settings.sqlalchemy_url)
    killed: dict[str, int] = {}
    reports = []

    def progress(stage, layer, done, total) -> None:
        reports.append((stage, layer, done, total))

    stop = threading.Event()

    def kill_replicas_mid_task() -> None:
        """SIGKILL a replica in the middle of a dataset shard, and later one in the middle of a feature-vis chunk."""
        for method, when in (("tally_shard", "examples"), ("render_feature_vis", "featurevis")):
            while not stop.is_set():
                busy = cluster.replica_pids(busy_with=method)
                if busy:
                    time.sleep(0.5)  # well inside the task
                    try:
                        os.kill(busy[0], signal.SIGKILL)
                        killed[when] = busy[0]
                        break
                    except ProcessLookupError:
                        continue
                stop.wait(0.2)

    killer = threading.Thread(target=kill_replicas_mid_task, daemon=True)
    killer.start()
    try:
        result = run_compute(run_config(engine="ray", ray_address=cluster.address), settings, db,
                             progress=progress, show_progress_bars=False)
    finally:
        stop.set()
        killer.join(timeout=10)
    assert set(killed) == {"examples", "featurevis"}
    assert_same_records(snapshot(db), local_records)
    with db.session() as s:
        run = s.get(Run, result.run_id)
        assert run.status == "done" and run.config["engine"] == "ray"
    # the job page gets the dataset pass as it goes (over 160 images) and every feature-vis chunk; how many
    # intermediate counts the driver sees depends on the machine's speed (a quiet one: [80, 160, 160]), but the
    # shards run in at least two waves (2 replicas, >= 2 shards each), so one count comes before the end
    seen = [done for stage, layer, done, total in reports if stage == "examples" and layer is None]
    assert seen == sorted(seen) and seen[-1] == 160 and len(set(seen)) >= 2
    fv = [(layer, done) for stage, layer, done, total in reports if stage == "featurevis"]
    assert ("5", 4) in fv and ("5", 16) in fv
    assert not ray.is_initialized()  # the driver left the cluster


def test_cancelled_driver_resumes_from_its_finished_shards(local_records, cluster, tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    db = Database(settings.sqlalchemy_url)
    config = run_config(engine="ray", ray_address=cluster.address, ray_replicas=1,
                        featurevis={"enabled": False})
    seen = []

    def cancel_after_a_shard() -> bool:  # once a finished shard (images 0..52) is saved
        return any((settings.data_dir / "checkpoints").rglob("examples.pt"))

    def progress(stage, layer, done, total):
        if stage == "examples" and layer is None:
            seen.append(done)

    with pytest.raises(Cancelled):
        run_compute(config, settings, db, progress=progress, should_cancel=cancel_after_a_shard,
                    show_progress_bars=False)
    ckpts = list((settings.data_dir / "checkpoints").rglob("examples.pt"))
    assert len(ckpts) == 1
    seen.clear()
    run_compute(config, settings, db, progress=progress, show_progress_bars=False)
    assert seen[0] >= 53  # the finished shard was not recomputed
    assert not list((settings.data_dir / "checkpoints").rglob("examples.pt"))  # cleaned up once stored
    got, want = snapshot(db), local_records
    assert got["examples"] == want["examples"]


# ------------------------------------------------------------------------------------------------
# Bad input: refused before any work, naming the problem and the fix
# ------------------------------------------------------------------------------------------------
def _nothing_stored(settings: Settings) -> bool:
    db = Database(settings.sqlalchemy_url)
    with db.session() as s:
        return s.scalar(select(Run.id)) is None


def test_unreachable_address_is_refused_naming_it_and_how_to_start_a_cluster(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    address = f"127.0.0.1:{free_port()}"
    t = time.time()
    with pytest.raises(RayEngineError) as err:
        run_compute(run_config(engine="ray", ray_address=address), settings, show_progress_bars=False)
    assert address in str(err.value) and "ray start --head" in str(err.value)
    assert time.time() - t < 15 and _nothing_stored(settings)
    with pytest.raises(RayEngineError, match="HOST:PORT"):
        run_compute(run_config(engine="ray", ray_address="not an address"), settings, show_progress_bars=False)


def test_missing_resources_are_refused_with_what_the_cluster_has(cluster, tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(RunConfigError) as err:
        run_compute(run_config(engine="ray", ray_address=cluster.address, device="cuda"), settings,
                    show_progress_bars=False)
    assert "no GPU" in str(err.value) and "CPU 2" in str(err.value) and cluster.address in str(err.value)
    with pytest.raises(RunConfigError, match=r"ray_replicas = 5 .* CPU 2"):
        run_compute(run_config(engine="ray", ray_address=cluster.address, ray_replicas=5), settings,
                    show_progress_bars=False)
    assert _nothing_stored(settings) and not ray.is_initialized()


def test_ray_version_mismatch_is_named(cluster, tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path / "data")
    real = ray.__version__
    monkeypatch.setattr(ray, "__version__", "1.0.0")  # this driver now claims another Ray than the cluster's
    with pytest.raises(RayEngineError) as err:
        run_compute(run_config(engine="ray", ray_address=cluster.address), settings, show_progress_bars=False)
    message = str(err.value)
    assert "version mismatch" in message.lower() and real in message and "1.0.0" in message
    assert _nothing_stored(settings)


def test_engine_options_are_validated():
    with pytest.raises(RunConfigError, match="only apply to engine = 'ray'"):
        run_config(ray_address="127.0.0.1:6379")
    with pytest.raises(RunConfigError, match="engine"):
        run_config(engine="spark")


def test_tallies_merge_generically_through_their_state():
    """Shard tallies travel as (class, state) and merge by their own .merge(), whatever they are."""
    import torch

    from circuitscope.records.topk import RunningTopK

    a, b = RunningTopK(2, 3), RunningTopK(2, 3)
    a.update(torch.tensor([[1.0, 5.0]]), torch.tensor([0]), torch.zeros(1, 2), torch.zeros(1, 2))
    b.update(torch.tensor([[2.0, 4.0]]), torch.tensor([1]), torch.zeros(1, 2), torch.zeros(1, 2))
    merged = merge_tallies(unpack_tallies(pack_tallies({"t": a})), unpack_tallies(pack_tallies({"t": b, "u": b})))
    assert [e.image_index for e in merged["t"][0]] == [1, 0] and [e.image_index for e in merged["t"][1]] == [0, 1]
    assert "u" in merged
    with pytest.raises(ValueError, match="refusing"):
        unpack_tallies({"t": ("os:system", {})})


def test_browser_jobs_run_on_the_servers_cluster_only(tmp_path):
    """A queued job may ask for engine = 'ray', but not name a cluster: the worker would run code there."""
    from fastapi.testclient import TestClient

    from circuitscope.api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", ray_address="10.1.2.3:6379")
    (tmp_path / "data").mkdir()
    db = Database(settings.sqlalchemy_url)
    body = {"model": {"kind": "demo"}, "dataset": {"kind": "concepts", "size": 20}, "layers": ["conv1"]}
    with TestClient(create_app(settings, db)) as client:
        r = client.post("/api/jobs", json={**body, "engine": "ray"})
        assert r.status_code == 201 and r.json()["config"]["engine"] == "ray"
        r = client.post("/api/jobs", json={**body, "engine": "ray", "ray_address": "203.0.113.9:6379"})
        assert r.status_code == 422 and "CIRCUITSCOPE_RAY_ADDRESS" in r.json()["detail"]
        r = client.post("/api/jobs", json={**body, "ray_address": "10.1.2.3:6379"})
        assert r.status_code == 422 and "engine = 'ray'" in r.json()["detail"]
    db.dispose()


def test_the_worker_runs_ray_jobs_on_the_servers_cluster_and_fails_them_clearly(tmp_path):
    """A queued engine = 'ray' job goes to CIRCUITSCOPE_RAY_ADDRESS; unreachable, the job fails before any
    work with the address in its error, and the worker lives on."""
    from circuitscope.jobs import queue
    from circuitscope.jobs.worker import JobRunner
    from circuitscope.store.tables.jobs import Job

    address = f"127.0.0.1:{free_port()}"
    settings = Settings(data_dir=tmp_path / "data", ray_address=address)
    (tmp_path / "data").mkdir()
    db = Database(settings.sqlalchemy_url)
    with db.session() as s:
        job_id = queue.submit(s, run_config(engine="ray"), created_by="test").id
    assert JobRunner(settings, db).run_one() == job_id
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and address in job.error and "ray start --head" in job.error
        assert s.scalar(select(Run.id)) is None  # nothing was started
    db.dispose()
