"""Pydantic request and response models of the API, one module per feature (they make /openapi.json)."""
