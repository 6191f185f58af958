"""The Ray engine: a run's heavy work spread over the model replicas of a Ray cluster.

* One Ray actor per replica (one per GPU, or per CPU slot on a CPU cluster) loads the model and the
  dataset once, from the run description (so model files and image folders must be at the same
  paths on every node: the shared volume of docker-compose.yml). The driver keeps its own copy on
  its CPU for the weights stage and the layer listing.
* Dataset pass: the dataset is cut into shards of whole index ranges (`compute_dataset_examples(shard=(i, n))`);
  each replica returns its shard's tallies, and the driver merges them in shard order (top/bottom-k
  are exactly those of one pass; statistics agree to float rounding). Finished shards are saved
  under the run's examples checkpoint, so a killed driver does not redo them.
* The winners' crops and heatmaps are rendered on the replicas (where the images are), one layer per
  task with the same batches as the local engine; feature-vis chunks are tasks on the replicas.
  Records come back to the driver, which is the only writer (database and blob store).
* Faults: replicas are restarted when their process dies (`max_restarts`) and the task in flight
  is run again (`max_task_retries`); every task is a pure function of its inputs, so the records
  are the same.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..settings import Settings
from .config import RunConfig, RunConfigError, params_digest

log = logging.getLogger(__name__)

START_A_CLUSTER = ("start one with `ray start --head --port 6379` on the head node and "
                   "`ray start --address HEAD:6379` on each other node (or leave ray_address unset to "
                   "start a Ray instance on this machine)")
SHARD_BATCHES = 8  # batches per dataset shard: finer shards balance better, coarser ones merge less
MAX_SHARDS = 256
REPLICA_START_TIMEOUT = 600  # s: loading a large model on a slow node
RESTARTS = 3  # how often a dead replica is restarted (and its task run again) before the run fails
SHARDS_FORMAT = "circuitscope.ray-shards/1"
REPLICA_PREFIX = "circuitscope-replica-"  # + run tag + index, in the Ray namespace "circuitscope"


class RayEngineError(RunConfigError):
    """The cluster cannot run this computation (unreachable, too small, another Ray version)."""


def _ray():
    try:
        import ray
    except ImportError:
        raise RayEngineError("engine = 'ray' needs the Ray package: pip install 'circuitscope[ray]' "
                             "(or pip install ray)") from None
    return ray


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast, naming the address, when nothing listens there (ray.init would retry for a minute)."""
    host, sep, port = address.rpartition(":")
    if address.startswith("ray://"):
        host, sep, port = address[len("ray://"):].rpartition(":")
    if not sep or not port.isdigit():
        raise RayEngineError(f"Ray address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379) or 'auto'.")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise RayEngineError(f"Cannot reach a Ray cluster at {address} ({err.strerror or err}); "
                             f"{START_A_CLUSTER}.") from None


def replica_resources(device: str) -> dict[str, float]:
    return {"num_cpus": 1, "num_gpus": 1} if device.startswith("cuda") else {"num_cpus": 1}


def plan_replicas(available: dict[str, float], device: str, requested: int | None, where: str) -> int:
    """How many replicas to start; refuses, saying what the cluster has, when it cannot host them."""
    have = ", ".join(f"{k} {v:g}" for k, v in sorted(available.items())
                     if k in ("CPU", "GPU") or k.endswith("memory")) or "nothing"
    gpus, cpus = int(available.get("GPU", 0)), int(available.get("CPU", 0))
    if device.startswith("cuda"):
        if gpus < 1:
            raise RayEngineError(f"device = '{device}' needs one GPU per replica, but the Ray cluster at {where} "
                                 f"has no GPU (it has {have}); add GPU nodes or set device = 'cpu'.")
        slots = min(gpus, cpus)
        kind = "GPU (and 1 CPU)"
    else:
        slots, kind = cpus, "CPU"
    if slots < 1:
        raise RayEngineError(f"The Ray cluster at {where} has no free CPU for a replica (it has {have}).")
    if requested is not None and requested > slots:
        raise RayEngineError(f"ray_replicas = {requested} needs {requested} {kind} slots, but the Ray cluster at "
                             f"{where} has {have}; lower ray_replicas or add nodes.")
    return requested or slots


# ------------------------------------------------------------------------------------------------
# Tallies travel and are checkpointed as (class, state_dict) on the CPU, and merge by their .merge()
# ------------------------------------------------------------------------------------------------
def _to_cpu(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def pack_tallies(tallies: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """{name: (module:Class, state on the CPU)} for objects with state_dict/from_state_dict (all of
    circuitscope's tallies); anything else travels as the object itself."""
    out = {}
    for name, t in tallies.items():
        if hasattr(t, "state_dict") and hasattr(type(t), "from_state_dict"):
            out[name] = (f"{type(t).__module__}:{type(t).__qualname__}", _to_cpu(t.state_dict()))
        else:
            out[name] = ("", t)
    return out


def unpack_tallies(packed: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    import importlib

    out = {}
    for name, (cls_path, state) in packed.items():
        if not cls_path:
            out[name] = state
            continue
        module, _, qualname = cls_path.partition(":")
        if not module.startswith("circuitscope."):  # only our own classes are rebuilt from a checkpoint
            raise ValueError(f"refusing to rebuild tallies of class {cls_path}")
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        out[name] = cls.from_state_dict(state)
    return out


def merge_tallies(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Fold another shard's {name: tallies} in; every kind of tally merges with its own .merge()."""
    for name, t in other.items():
        if name in into:
            into[name].merge(t)
        else:
            into[name] = t
    return into


# ------------------------------------------------------------------------------------------------
# The replica: one model copy on a Ray worker
# ------------------------------------------------------------------------------------------------
class ModelReplica:
    """Runs on a Ray worker (wrapped by ray.remote in RayEngine). Every method is a pure function of
    its arguments, so a retried call returns the same records."""

    def __init__(self, model_spec: dict, dataset_spec: dict, data_dir: str, device: str):
        from ..datasets import build_dataset
        from ..models.sources import load_model

        self.device = device
        self.model = load_model(model_spec, Path(data_dir), device=device)
        self.dataset = build_dataset(dataset_spec)

    def info(self) -> dict[str, Any]:
        import platform

        import torch

        import circuitscope

        return {"pid": os.getpid(), "host": platform.node(), "torch": torch.__version__,
                "circuitscope": getattr(circuitscope, "__version__", "?"), "python": platform.python_version()}

    def cpu_seconds(self) -> float:
        """CPU time this replica has used (benchmarks: cost per image independent of a busy machine)."""
        return time.process_time()

    def resolve_precision(self, precision: str) -> str:
        from .config import resolve_precision

        return resolve_precision(precision, self.device)

    def tally_shard(self, layers: list[str], shard: tuple[int, int], options: dict[str, Any], board: Any) -> dict:
        from ..records.examples import compute_dataset_examples

        skipped: list[tuple[str, str]] = []
        last = [0.0]

        def on_batch(done: int, total: int) -> None:
            now = time.monotonic()
            if board is not None and (now - last[0] > 0.5 or done == total):
                last[0] = now
                board.set.remote(shard[0], done)  # fire and forget: progress for the job page

        tallies = compute_dataset_examples(self.model, self.dataset, layers, device=self.device, shard=shard,
                                           skipped=skipped, progress=False, on_batch=on_batch, **options)
        return {"shard": list(shard), "tallies": pack_tallies(tallies), "skipped": [list(x) for x in skipped]}

    def render_layer_examples(self, layer: str, packed: dict) -> dict:
        from ..records.examples import render_examples

        tallies = unpack_tallies(packed)
        return render_examples(self.model, self.dataset, layer, tallies[layer], device=self.device)

    def render_feature_vis(self, layer: str, chunk: list[int], options: dict[str, Any]) -> list:
        from ..records.featurevis import render_feature_vis

        return list(render_feature_vis(self.model, layer, chunk, device=self.device, **options))


class ProgressBoard:
    """A tiny actor the replicas tell how far their shard is (images done per shard)."""

    def __init__(self) -> None:
        self.done: dict[int, int] = {}
        self.finished: set[int] = set()

    def set(self, shard: int, done: int) -> None:
        if shard not in self.finished:  # a late report of a finished shard is not counted twice
            self.done[shard] = done

    def finish(self, shard: int) -> None:
        self.finished.add(shard)
        self.done.pop(shard, None)

    def total(self) -> int:
        return sum(self.done.values())


# ------------------------------------------------------------------------------------------------
# The engine (driver side)
# ------------------------------------------------------------------------------------------------
class RayEngine:
    name = "ray"
    driver_device = "cpu"  # the driver only lists layers and reads weights; replicas use config.device

    def __init__(self, config: RunConfig, settings: Settings, where: str, replicas: int):
        self.config, self.settings, self.where, self.n_replicas = config, settings, where, replicas
        self.device = config.device
        self._replicas: list[Any] = []

    # -------------------------------------------------------------- connecting
    @classmethod
    def connect(cls, config: RunConfig, settings: Settings) -> "RayEngine":
        ray = _ray()
        address = config.ray_address or settings.ray_address
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
        if ray.is_initialized():
            ray.shutdown()
        if address and address != "auto":
            check_reachable(address)
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False,
                                  "namespace": "circuitscope"}
        try:
            if address:
                ray.init(address=address, **kwargs)
                where = address
            else:
                ray.init(include_dashboard=False, **kwargs)
                where = "a Ray instance on this machine"
        except RuntimeError as err:
            if "Version mismatch" in str(err):
                raise RayEngineError(
                    f"Ray version mismatch with the cluster at {address}: {' '.join(str(err).split())} "
                    f"Install the same Ray (and Python) on this machine as on the cluster "
                    f"(pip install 'ray==CLUSTER_VERSION'), or start the cluster with Ray {ray.__version__}."
                ) from None
            raise RayEngineError(f"Cannot join the Ray cluster at {address or 'this machine'}: {err}") from None
        except ray.exceptions.AuthenticationError:
            raise RayEngineError(
                f"The Ray cluster at {address} refused this machine's authentication token; set RAY_AUTH_TOKEN "
                "(or RAY_AUTH_TOKEN_PATH) here to the cluster's token (`ray get-auth-token` on its head node)."
            ) from None
        except ConnectionError as err:
            if address and address != "auto":  # the port answered (checked above), Ray did not let us in
                raise RayEngineError(
                    f"Something listens at {address} but Ray could not join it as a cluster ({err}). If the cluster "
                    "uses token authentication (the default of new Ray clusters), set RAY_AUTH_TOKEN here to its "
                    "token (`ray get-auth-token` on the head node); else check that the address is the head's "
                    "GCS port (`ray start --head --port ...`).") from None
            raise RayEngineError(f"Cannot reach a Ray cluster at {address}: {err}; {START_A_CLUSTER}.") from None
        try:
            replicas = plan_replicas(ray.cluster_resources(), config.device, config.ray_replicas, where)
        except BaseException:
            ray.shutdown()
            raise
        log.info("Ray engine: %d replica(s) on %s", replicas, where)
        return cls(config, settings, where, replicas)

    def close(self) -> None:
        ray = _ray()
        for replica in self._replicas:
            try:
                ray.kill(replica)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._replicas = []
        if ray.is_initialized():
            ray.shutdown()

    def replicas(self) -> list[Any]:
        """Start the replicas (once); check that they run the code this driver runs."""
        if self._replicas:
            return self._replicas
        ray = _ray()
        import torch

        import circuitscope

        remote = ray.remote(max_restarts=RESTARTS, max_task_retries=RESTARTS)(ModelReplica)
        run_tag = uuid.uuid4().hex[:12]  # names the replicas on the cluster (`ray list actors`)
        self._replicas = [
            remote.options(scheduling_strategy="SPREAD", name=f"{REPLICA_PREFIX}{run_tag}-{i}",
                           **replica_resources(self.device)).remote(
                self.config.model, self.config.dataset, str(Path(self.settings.data_dir).resolve()), self.device)
            for i in range(self.n_replicas)
        ]
        try:
            infos = ray.get([r.info.remote() for r in self._replicas], timeout=REPLICA_START_TIMEOUT)
        except ray.exceptions.RayActorError as err:
            raise RayEngineError(f"The model replicas could not start on the Ray cluster at {self.where}: "
                                 f"{_cause(err)}") from None
        except ray.exceptions.GetTimeoutError:
            free = ", ".join(f"{k} {v:g}" for k, v in sorted(ray.available_resources().items()) if k in ("CPU", "GPU"))
            raise RayEngineError(
                f"{self.n_replicas} model replica(s) did not start within {REPLICA_START_TIMEOUT} s on the Ray cluster "
                f"at {self.where} (free now: {free or 'nothing'}); other work may hold its resources. Lower "
                "ray_replicas or wait for it.") from None
        mine = {"circuitscope": getattr(circuitscope, "__version__", "?"), "torch": torch.__version__}
        for info in infos:
            for key, value in mine.items():
                if info[key] != value:
                    raise RayEngineError(
                        f"{key} version mismatch: this machine runs {key} {value}, the Ray node {info['host']} "
                        f"runs {info[key]}; install the same version on every node.")
        log.info("Ray replicas: %s", ", ".join(f"{i['host']}:{i['pid']}" for i in infos))
        return self._replicas

    def replica_pids(self) -> list[int]:
        ray = _ray()
        return [i["pid"] for i in ray.get([r.info.remote() for r in self.replicas()])]

    def _map(self, method: str, items: list[Any], args: Callable[[Any], tuple], check_cancel: Callable[[], None],
             poll: Callable[[], None] | None = None) -> Iterator[tuple[Any, Any]]:
        """Run replica.method(*args(item)) for every item, one task per replica at a time; yield
        (item, result) as they finish. A dead replica is restarted by Ray and its task run again."""
        ray = _ray()
        idle = deque(self.replicas())
        todo = deque(items)
        running: dict[Any, tuple[Any, Any]] = {}
        while todo or running:
            while idle and todo:
                replica, item = idle.popleft(), todo.popleft()
                running[getattr(replica, method).remote(*args(item))] = (replica, item)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            if poll is not None:
                poll()
            check_cancel()
            for ref in ready:
                replica, item = running.pop(ref)
                idle.append(replica)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as err:
                    raise err.as_instanceof_cause() from None  # the replica's own error (DatasetError, ...)
                except ray.exceptions.RayActorError as err:
                    raise RayEngineError(f"A model replica on the Ray cluster at {self.where} died {RESTARTS + 1} "
                                         f"times on the same task; nothing of it was stored. {_cause(err)}") from None
                yield item, result

    # -------------------------------------------------------------- the three kinds of work
    def compute_dataset_examples(self, model, dataset, layers, *, k, batch_size, checkpoint_path=None, skipped=None,
                                 progress=True, on_batch=None, num_workers=0, **extra) -> dict[str, Any]:
        ray = _ray()
        n_images = len(dataset)
        # shards of >= SHARD_BATCHES batches, but at least two per replica (balance) and at most one per batch
        n_batches = max(1, -(-n_images // batch_size))
        n_shards = max(-(-n_images // (batch_size * SHARD_BATCHES)), 2 * self.n_replicas)
        n_shards = max(1, min(n_shards, n_batches, MAX_SHARDS))
        bounds = {i: (i * n_images // n_shards, (i + 1) * n_images // n_shards) for i in range(n_shards)}
        options = {"k": k, "batch_size": batch_size, "num_workers": num_workers, **extra}
        saved = _ShardCheckpoint(checkpoint_path, {"layers": list(layers), "n_shards": n_shards,
                                                   "images": n_images, "options": options,
                                                   "dataset": dataset.describe()})
        results: dict[int, dict] = saved.load()
        todo = [i for i in range(n_shards) if i not in results]
        done_images = sum(bounds[i][1] - bounds[i][0] for i in results)
        if results:
            log.info("resuming the dataset pass: %d of %d shards already done", len(results), n_shards)
        board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        last = [-1]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_images, initial=done_images, unit="img", desc="dataset examples (Ray)", leave=False)

        def poll() -> None:
            n = min(done_images + ray.get(board.total.remote()), n_images)
            if n != last[0]:
                last[0] = n
                if bar is not None:
                    bar.n = n
                    bar.refresh()
                if on_batch is not None:
                    on_batch(n, n_images)  # the pipeline's cancel check raises here

        try:
            for i, result in self._map("tally_shard", todo, lambda i: (list(layers), (i, n_shards), options, board),
                                       check_cancel=lambda: None, poll=poll):
                results[i] = result
                done_images += bounds[i][1] - bounds[i][0]
                saved.save(results)  # a cancel or a killed driver keeps the finished shards
                board.finish.remote(i)  # the finished shard now counts in done_images
        finally:
            ray.kill(board)
            if bar is not None:
                bar.close()
        merged: dict[str, Any] = {}
        for i in range(n_shards):  # in index order: the same merge on every run
            merge_tallies(merged, unpack_tallies(results[i]["tallies"]))
            for ref, why in results[i]["skipped"]:
                if hasattr(skipped, "add"):
                    skipped.add(ref, why)
                elif skipped is not None:
                    skipped.append((ref, why))
        if on_batch is not None:
            on_batch(n_images, n_images)
        return merged

    def render_layer_examples(self, model, dataset, layers, tallies, check_cancel):
        packed = {name: pack_tallies({name: tallies[name]})[name] for name in layers}
        yield from self._map("render_layer_examples", list(layers), lambda name: (name, {name: packed[name]}),
                             check_cancel)

    def render_feature_vis_chunks(self, model, layer, chunks, options, check_cancel):
        items = [tuple(c) for c in chunks]
        for chunk, records in self._map("render_feature_vis", items, lambda c: (layer, list(c), options), check_cancel):
            yield list(chunk), records

    def resolve_precision(self, precision: str, device: str) -> str:
        ray = _ray()
        return precision if precision != "auto" else ray.get(self.replicas()[0].resolve_precision.remote(precision))


def _cause(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:500]


class _ShardCheckpoint:
    """Finished shards of the dataset pass, in one file at the run's examples checkpoint path
    (written atomically after every shard; the pipeline deletes it once every layer is stored)."""

    def __init__(self, path: Path | str | None, what: dict[str, Any]):
        self.path = Path(path) if path is not None else None
        self.fingerprint = params_digest(what)

    def load(self) -> dict[int, dict]:
        import torch

        if self.path is None or not self.path.exists():
            return {}
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - a torn or foreign file is ignored, not fatal
            log.warning("ignoring unreadable checkpoint %s (%s)", self.path, err)
            return {}
        if not isinstance(state, dict) or state.get("format") != SHARDS_FORMAT \
                or state.get("fingerprint") != self.fingerprint:
            return {}
        return {int(i): r for i, r in state["shards"].items()}

    def save(self, results: dict[int, dict]) -> None:
        import torch

        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        torch.save({"format": SHARDS_FORMAT, "fingerprint": self.fingerprint,
                    "shards": {str(i): r for i, r in results.items()}}, tmp)
        os.replace(tmp, self.path)

