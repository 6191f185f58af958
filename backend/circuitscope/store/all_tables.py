"""Import every table module so Base.metadata is complete (Alembic autogenerate, create_all in tests)."""
from . import schema  # noqa: F401

try:  # tables added by later features; each module registers itself on Base.metadata
    from . import annotation_schema  # noqa: F401
except ImportError:  # pragma: no cover - module not written yet
    pass
try:
    from . import job_schema  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from . import circuit_test_schema  # noqa: F401
except ImportError:  # pragma: no cover
    pass
