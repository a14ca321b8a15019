"""Issue 12: redaction is a leaf module, so `errors` and `sas` no longer import each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PLANNER = Path(__file__).resolve().parents[2] / "planner"


def _planner_imports(module: str) -> set[str]:
    """Every planner module `planner/<module>.py` imports, at any depth of the file (late imports too)."""
    tree = ast.parse((PLANNER / f"{module}.py").read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "planner":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "planner")
    return found


def test_redact_imports_nothing_from_planner() -> None:
    assert _planner_imports("redact") == set()


def test_errors_and_sas_do_not_import_each_other_both_ways() -> None:
    assert "planner.sas" not in _planner_imports("errors")
    assert _planner_imports("errors") == {"planner.redact"}
    assert "planner.errors" in _planner_imports("sas")


def test_redact_still_importable_from_sas_and_errors_import_alone() -> None:
    code = ("import sys; import planner.errors; assert 'planner.sas' not in sys.modules; "
            "from planner.sas import redact, REDACTED; from planner import redact as r; "
            "assert redact is r.redact and REDACTED == r.REDACTED")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
