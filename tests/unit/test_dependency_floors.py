"""Dependency floors stay past known advisories, and the installed versions meet them (issue 13)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# package: the first release with the fixes (filelock: lock-file symlink races CVE-2025-68146 and
# CVE-2026-22701; jinja2: sandbox breakouts CVE-2024-56201, CVE-2024-56326, CVE-2025-27516)
FLOORS = {"filelock": (3, 20, 3), "jinja2": (3, 1, 6)}


def _tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _declared_floor(name: str) -> tuple[int, ...]:
    deps = tomllib.loads(PYPROJECT.read_text("utf-8"))["project"]["dependencies"]
    for dep in deps:
        match = re.match(rf"(?i){re.escape(name)}\s*>=\s*([\d.]+)", dep)
        if match:
            return _tuple(match[1])
    raise AssertionError(f"{name} has no >= floor in pyproject.toml")


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_floor_is_past_the_advisories_and_installed(name: str) -> None:
    assert _declared_floor(name) >= FLOORS[name]
    assert _tuple(version(name)) >= FLOORS[name]
