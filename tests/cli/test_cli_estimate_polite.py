"""`mdplan estimate --polite` (issue 15): the time, the advice, the terminal and --json count with the polite
share of the link, and say so."""

from __future__ import annotations

import json

import pytest

from planner.cli import main


@pytest.fixture
def folder(twenty_jpegs):
    return twenty_jpegs


def test_json_counts_with_the_polite_share(capsys, folder):
    assert main(["estimate", str(folder), "--bandwidth", "20Mbps", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["estimate", str(folder), "--bandwidth", "20Mbps", "--polite", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["upload"]["polite"] is True and plain["upload"]["polite"] is False
    assert d["bandwidth"]["bits_per_second"] == 20e6  # what was typed stays what it was
    assert d["upload"]["bits_per_second"] == pytest.approx(20e6 * 0.95 * 0.91)
    assert d["upload"]["seconds"] == pytest.approx(plain["upload"]["seconds"] / 0.91, rel=0.01)
    assert any(r.startswith("Polite mode") and "91%" in r for r in d["reasons"])


def test_the_terminal_says_it_counts_polite(capsys, folder):
    assert main(["estimate", str(folder), "--bandwidth", "20Mbps", "--polite"]) == 0
    out = capsys.readouterr().out
    assert "Polite: the upload time counts with 17.3 Mbit/s, 91% of the link (--polite)" in out
    assert "Polite mode (--polite)" in out


def test_polite_hours_and_bwlimit_polite_are_priced_too(capsys, folder):
    assert main(["estimate", str(folder), "--bandwidth", "20Mbps", "--bwlimit", "polite", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["upload"]["polite"] is True  # --bwlimit polite alone is --polite
    assert d["upload"]["bits_per_second"] == pytest.approx(20e6 * 0.95 * 0.91)
    assert main(["estimate", str(folder), "--bandwidth", "20Mbps", "--bwlimit", "00:00,polite 12:00,pause",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["upload"]["bits_per_second"] == pytest.approx(20e6 * 0.95 * 0.91 / 2, rel=0.02)  # polite half days
    assert "polite (yields to other traffic) 00:00-12:00" in d["upload"]["speed_cap"]
