"""The shape rules of issue 12, held: no function in planner/ over 80 lines, no module over 500, and
every top-level module or package of planner named in the import-linter contracts of pyproject.toml
(so a new module cannot slip past the layering). Read with ast and tomllib; nothing is run."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import planner

PLANNER = Path(planner.__file__).parent
PYPROJECT = PLANNER.parent / "pyproject.toml"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500

# Modules allowed over the limits for now, each with the reason; the list only shrinks.
EXEMPT: dict[str, str] = {}
# Top-level names that are not library modules: the `python -m planner` door (it only calls the CLI).
NOT_IN_CONTRACTS = {"__init__", "__main__"}


def _modules() -> list[Path]:
    return sorted(p for p in PLANNER.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    return path.relative_to(PLANNER).as_posix()


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every function or method longer than `limit`, from its def to its last line."""
    return [(node.name, node.end_lineno - node.lineno + 1)
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def top_level_modules() -> set[str]:
    """planner.X for every planner/X.py and every package planner/X/ (a folder with __init__.py)."""
    names = {p.stem for p in PLANNER.glob("*.py")} | {p.name for p in PLANNER.iterdir()
                                                       if p.is_dir() and (p / "__init__.py").is_file()}
    return {f"planner.{n}" for n in names - NOT_IN_CONTRACTS}


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text("utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def layered_modules() -> set[str]:
    """Every module named in the top layers contract ("a | b" and "a : b" are siblings in one layer); the
    layers contracts with `containers` order the parts inside one package."""
    layers = [c for c in _contracts().values() if c["type"] == "layers" and not c.get("containers")]
    assert len(layers) == 1, "expected one layers contract for the whole of planner in pyproject.toml"
    return {name.strip() for layer in layers[0]["layers"] for name in layer.replace(":", "|").split("|")}


def test_no_function_in_planner_is_over_80_lines():
    too_long = {f"{_name(p)}:{fn}": n for p in _modules() if _name(p) not in EXEMPT
                for fn, n in long_functions(p.read_text("utf-8"))}
    assert too_long == {}, f"functions over {MAX_FUNCTION_LINES} lines (split them)"


def test_no_module_in_planner_is_over_500_lines():
    too_long = {_name(p): n for p in _modules() if _name(p) not in EXEMPT
                and (n := len(p.read_text("utf-8").splitlines())) > MAX_MODULE_LINES}
    assert too_long == {}, f"modules over {MAX_MODULE_LINES} lines (make them a package)"


def test_exemptions_still_exist():
    # an exemption whose module is gone (or split) must go too
    assert [name for name in EXEMPT if not (PLANNER / name).is_file()] == []


def test_every_top_level_module_is_in_the_layers_contract():
    layered = layered_modules()
    assert sorted(top_level_modules() - layered) == [], "add them to the layers contract in pyproject.toml"
    assert sorted(layered - top_level_modules()) == [], "the layers contract names modules that do not exist"


def test_every_top_level_module_but_azure_is_kept_from_the_azure_sdk():
    listed = set(_contracts()["Only planner.azure imports the Azure SDK"]["source_modules"])
    assert sorted(top_level_modules() - {"planner.azure"} - listed) == [], \
        'add them to "Only planner.azure imports the Azure SDK" in pyproject.toml'
    assert sorted(listed - top_level_modules()) == []


def test_every_top_level_module_but_the_cli_is_kept_from_the_cli():
    listed = set(_contracts()["The library never imports the CLI"]["source_modules"])
    assert sorted(top_level_modules() - {"planner.cli"} - listed) == [], \
        'add them to "The library never imports the CLI" in pyproject.toml'
    assert sorted(listed - top_level_modules()) == []


def test_the_measures_catch_what_they_are_for():
    body = "".join(f"    x{i} = {i}\n" for i in range(80))  # def line + 80 lines = 81
    assert long_functions(f"def long():\n{body}\ndef short():\n    pass\n") == [("long", 81)]
    nested = f"class C:\n    def method(self):\n{body.replace('    ', '        ')}"
    assert long_functions(nested) == [("method", 81)]
    assert long_functions(f"def ok():\n{body[:-len('    x79 = 79')-1]}") == []
    assert "planner.scan" in top_level_modules() and "planner.cli" in top_level_modules()
    assert "planner.templates" not in top_level_modules()  # a folder of files, not a package
