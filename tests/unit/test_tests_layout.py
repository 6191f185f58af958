"""The tests' own layout, as ARCHITECTURE.md ("Tests") describes it: unit tests under unit/<package>/ named
test_<package>_<thing>.py, route tests api/test_<feature>_api.py, browser tests e2e/test_<feature>_e2e.py, and
no two test files with one base name (pytest imports test modules by base name)."""
from __future__ import annotations

from pathlib import Path

from support.paths import REPO

PACKAGE = REPO / "backend" / "circuitscope"


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
