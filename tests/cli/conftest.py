"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def twenty_jpegs(tmp_path, monkeypatch):
    """A card of 20 JPEG-shaped files of 500 kB under cards/site1, and a private MDPLAN_HOME."""
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    d = tmp_path / "cards" / "site1"
    d.mkdir(parents=True)
    for i in range(20):
        (d / f"IMG_{i:04d}.JPG").write_bytes(b"\xff\xd8" + bytes(500_000) + b"\xff\xd9")
    return d.parent
