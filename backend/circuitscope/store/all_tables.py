"""Import every table module so Base.metadata is complete (Alembic autogenerate, create_all in tests)."""
from .tables import annotation, circuit_tests, concepts, evidence, jobs, records  # noqa: F401
