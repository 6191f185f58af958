"""circuitscope: a self-hosted Microscope for circuits research.

Data flows model -> activations -> records -> store -> API -> UI:
  models/       load a network from a source, discover its layers
  datasets/     image sources (generated concept images, image folders)
  activations/  hooks that capture (and stop at) named layers
  records/      per-unit records: dataset examples, statistics, feature visualizations, weights
  compute/      a resumable run that turns a model + dataset into stored records
  store/        SQLAlchemy models, migrations, content-addressed blob store
  annotate/     labels, families, circuit hypotheses, users
  export/       circuit/label/project export and import
  jobs/         database-backed job queue and worker
  api/          FastAPI app serving the JSON API and the built frontend
"""
import os as _os

# OpenMP threads that spin-wait make every CPU pass several times slower when cores are shared
# (measured: a training step 3-6 s instead of 0.4 s with 2 threads). Must be set before torch loads.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
