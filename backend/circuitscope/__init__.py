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
__version__ = "0.1.0"
