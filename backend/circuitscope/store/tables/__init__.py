"""The ORM tables, one module per feature (records: models, layers, units and what was computed for them)."""
