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


def _misplaced_tests(tests: Path, packages: set[str]) -> list[str]:
    """Test files that are not where ARCHITECTURE.md ("Tests") puts them, each with where it belongs."""
    wrong, seen = [], {}
    for path in sorted(tests.rglob("test_*.py")):
        rel = path.relative_to(tests)
        parts = rel.parts
        if parts[0] == "unit" and len(parts) == 3 and parts[1] in packages:
            ok = path.name.startswith(f"test_{parts[1]}_")
            want = f"unit/{parts[1]}/test_{parts[1]}_<thing>.py"
        elif parts[0] == "unit" and len(parts) == 2:
            ok, want = True, ""
        elif parts[0] == "api" and len(parts) == 2:
            ok, want = path.name.endswith("_api.py"), "api/test_<feature>_api.py"
        elif parts[0] == "e2e" and len(parts) == 2:
            ok, want = path.name.endswith("_e2e.py"), "e2e/test_<feature>_e2e.py"
        else:
            ok, want = False, "unit/<package>/test_<package>_<thing>.py, api/test_<feature>_api.py or e2e/test_<feature>_e2e.py"
        if not ok:
            wrong.append(f"{rel.as_posix()}: move it to {want}")
        if path.name in seen:  # pytest imports test modules by base name: two with one name cannot both load
            wrong.append(f"{rel.as_posix()}: same file name as {seen[path.name]}")
        seen[path.name] = rel.as_posix()
    return wrong


def test_test_files_sit_where_architecture_md_says(tmp_path):
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} | {"cli"}
    misplaced = _misplaced_tests(REPO / "tests", packages)
    assert not misplaced, "test files out of place (ARCHITECTURE.md, \"Tests\"):\n" + "\n".join(misplaced)
    # the check itself catches each kind of misplacement
    for rel in ("test_flat.py", "unit/store/test_tables.py", "api/test_api_browse.py", "e2e/test_tour.py",
                "unit/nosuchpackage/test_nosuchpackage_x.py", "api/test_store_database.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    (tmp_path / "unit" / "store" / "test_store_database.py").write_text("")
    flagged = [line.split(":")[0] for line in _misplaced_tests(tmp_path, packages)]
    assert flagged == ["api/test_api_browse.py", "api/test_store_database.py", "e2e/test_tour.py", "test_flat.py",
                       "unit/nosuchpackage/test_nosuchpackage_x.py", "unit/store/test_store_database.py",
                       "unit/store/test_tables.py"], flagged
