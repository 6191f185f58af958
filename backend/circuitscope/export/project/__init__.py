"""Full project export / import: labels with their history, families, circuits, and the users they name.

Units are referenced by (model slug, layer name, unit index), never by database ids. Users are exported by
name, display name and role only (no passwords or tokens: set them again with `circuitscope users
set-password` after an import).

Import is all-or-nothing: the whole document is checked first (structure, limits, references between its
parts, that the referenced units exist, and that nothing in it is already in the database) and the first
problem is reported with its path (e.g. `labels[3].history[0].editor: ...`); only then is it written, in the
caller's single transaction. Units must exist (the models computed) unless `allow_missing_units` is set:
then annotations of missing units are kept "detached" (unit_id NULL), reported, and attached automatically
by `annotate.units.relink_detached` once the units exist. No bare unit rows are invented.

Round trip: `export_project(import_project(export_project(db)))` equals the original, `exported_at` aside.
"""
from .document import FORMAT, FORMAT_VERSION, ImportError_, ProjectDoc, parse_document
from .exporter import export_project
from .importer import check_project, import_project

__all__ = ["FORMAT", "FORMAT_VERSION", "ImportError_", "ProjectDoc", "check_project", "export_project", "import_project",
           "parse_document"]
