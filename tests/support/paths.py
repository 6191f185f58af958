"""Where the test suite's files are, whatever the depth of the test module that asks."""
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
# Python files that define models, loaded by the app through `factory:FILE.py:FUNC` and `checkpoint:…:FILE.py:CLASS`
# specs (so they must stay plain files under a folder the test settings allow), or imported by tests directly.
MODEL_SOURCES = TESTS / "model_sources"
TINY_MODELS = MODEL_SOURCES / "tiny_models.py"  # the tiny models (see its docstring)
