"""The shape issue 12 asks for, checked: estimate is the model only (no I/O modules), the import
cycles through it are gone, and loading the CLI for `mdplan --help` loads no heavy library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import planner

PLANNER = Path(planner.__file__).parent


def _planner_imports(module: Path) -> set[str]:
    """Every planner module a file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("planner"):
            if node.module == "planner":
                found |= {f"planner.{a.name}" for a in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("planner")}
    return found


def test_estimate_is_the_model_only():
    assert _planner_imports(PLANNER / "estimate.py") <= {"planner.units", "planner.throttle.timetable",
                                                          "planner.throttle.eta"}


def test_no_cycle_between_estimate_bandwidth_upload_and_assessment():
    names = ["estimate", "upload", "assessment", "transfer.planning", "transfer.concurrency", "probe.choose",
             "probe.destination", "probe.meter", "probe.result", "probe.speedtest", "probe.streams"]
    graph = {f"planner.{n}": _planner_imports(PLANNER.joinpath(*n.split(".")).with_suffix(".py")) for n in names}
    for package in ("transfer", "probe"):
        graph[f"planner.{package}"] = {m for n in names if n.startswith(f"{package}.") for m in graph[f"planner.{n}"]}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []


def test_the_library_never_imports_the_cli():
    for module in PLANNER.rglob("*.py"):
        if module.relative_to(PLANNER).parts[0] not in ("cli", "__main__.py"):
            assert not any(m.startswith("planner.cli") for m in _planner_imports(module)), module.name


def test_help_loads_no_heavy_module():
    code = ("import sys, planner.cli\n"
            "heavy = ['rich.console', 'pandas', 'matplotlib', 'azure', 'planner.upload', 'planner.report', "
            "'planner.probe', 'planner.scan', 'planner.journal']\n"
            "print(' '.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_the_uploader_starts_from_the_models_worker_count():
    # one implementation: the engine uses the model's rule (estimate is the layer below transfer)
    import planner.estimate as model
    import planner.transfer as transfer
    import planner.upload as upload
    from planner.transfer.options import BLOCK_SIZE

    assert transfer.auto_workers is model.auto_workers and upload.auto_workers is model.auto_workers
    assert (transfer.MIN_WORKERS, transfer.MAX_WORKERS) == (model.MIN_WORKERS, model.MAX_WORKERS)
    assert BLOCK_SIZE == model.REQUEST_BYTES_MAX  # the model's largest request is the uploader's block
    for module in (PLANNER / "transfer").glob("*.py"):
        tree = ast.parse(module.read_text("utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        defined |= {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}
        assert not defined & {"auto_workers", "MIN_WORKERS", "MAX_WORKERS"}, module.name
