"""The read gateway: every browse read (models, layers, grid pages, a unit in full) goes through here.

Each function takes the request's session and returns plain dicts in the documented response shapes (the
pydantic models of api/schemas/browse.py; tests/api/test_browse_api.py validates responses against them), built
from plain SQL (sql.py: rows read by name, column lists from the table definitions). Unknown names raise a
not-found error that lists what exists and the closest match (hints.py).
"""
from .labels import consensus_labels
from .layers import LayerRow, get_layer, layer_row, unit_page
from .models import get_model, list_layers, list_models
from .sql import to_json
from .units import unit_detail, unit_ref

__all__ = ["LayerRow", "consensus_labels", "get_layer", "get_model", "layer_row", "list_layers", "list_models",
           "to_json", "unit_detail", "unit_page", "unit_ref"]
