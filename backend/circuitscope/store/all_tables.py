"""Import every table module so Base.metadata is complete (Alembic autogenerate, create_all in tests)."""
from . import (  # noqa: F401
    annotation_schema,
    circuit_test_schema,
    concept_schema,
    evidence_schema,
    job_schema,
    schema,
)
