"""The layering ARCHITECTURE.md describes, checked on the source: only activations/ registers torch
hooks, and activations/ depends on torch alone (so every other package can build on it)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from support.paths import REPO

PACKAGE = REPO / "backend" / "circuitscope"
HOOK_CALL = re.compile(r"\.register_(forward_hook|forward_pre_hook|full_backward_hook|full_backward_pre_hook|"
                       r"backward_hook)\s*\(")
# Being moved onto activations.Trace by their owners; delete an entry once its file is clean.
PENDING: set[str] = set()


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_only_activations_registers_hooks():
    offenders = []
    for path in _sources():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("activations/") or rel in PENDING:
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if HOOK_CALL.search(line):
                offenders.append(f"{rel}:{lineno}: {line.strip()}")
    assert not offenders, "use circuitscope.activations.Trace instead of registering hooks:\n" + "\n".join(offenders)


def test_activations_imports_no_other_circuitscope_package():
    for path in sorted((PACKAGE / "activations").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name}: a relative import out of activations/"
                names = [node.module or ""] if node.level == 0 else []
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("circuitscope.") or name.startswith("circuitscope.activations"), (
                    f"{path.name} imports {name}: activations/ must depend on torch only")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative imports resolved."""
    package = ["circuitscope", *path.relative_to(PACKAGE).parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.append((node.lineno, module))
            out.extend((node.lineno, f"{module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
    return out


def test_only_the_api_and_the_command_line_import_the_api():
    """The domain packages (annotate, evidence, concepts, circuit_tests, export, jobs, compute, store ...) raise
    circuitscope.errors exceptions and return plain data; HTTP (statuses, the error shape, request objects)
    lives in api/, which maps those exceptions in one place (api/errors.py)."""
    offenders = []
    for path in _sources():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("api/") or rel == "cli.py":
            continue
        for lineno, module in _imported_modules(path):
            if module == "circuitscope.api" or module.startswith("circuitscope.api."):
                offenders.append(f"{rel}:{lineno}: imports {module}")
    assert not offenders, "raise circuitscope.errors exceptions instead of importing the API:\n" + "\n".join(offenders)


def test_the_import_resolver_sees_relative_imports():
    """The check above would pass vacuously if relative imports were misread: api/routes resolve to api."""
    modules = {m for _, m in _imported_modules(PACKAGE / "api" / "routes" / "annotate.py")}
    assert "circuitscope.api.errors" in modules and "circuitscope.annotate" in modules
