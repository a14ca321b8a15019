"""Issue 17: `mdplan estimate` with the cap you will upload with: the time, the reasons, the email
block and --json all count with the capped rate, not the measured or typed link rate."""

from __future__ import annotations

import json

import pytest

from planner.cli import main


@pytest.fixture
def folder(twenty_jpegs):
    return twenty_jpegs


def test_json_counts_with_the_cap(capsys, folder):
    nbytes = 20 * 500_004
    assert main(["estimate", str(folder), "--bandwidth", "269Mbps", "--cap-mbps", "4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["bandwidth"]["bits_per_second"] == 269e6  # what was typed stays what it was
    assert d["upload"]["bits_per_second"] == pytest.approx(4e6) and "4 Mbit/s" in d["upload"]["speed_cap"]
    assert d["upload"]["seconds"] == pytest.approx(nbytes * 8 / 4e6)
    assert "4 Mbit/s" in d["reasons"][0] and "269" not in d["reasons"][0]


def test_the_terminal_and_the_email_say_the_capped_rate(capsys, folder):
    assert main(["estimate", str(folder), "--bandwidth", "4.26Mbps", "--cap-mbps", "1"]) == 0
    out = capsys.readouterr().out
    assert "Speed cap: 1 Mbit/s" in out
    assert "at 1 Mbit/s (the speed cap) takes about 1 min" in out  # 10 MB at 1 Mbit/s: 80 s
    assert "Projected upload time: 1 min" in out


def test_a_bwlimit_timetable_counts_its_pauses(capsys, folder):
    assert main(["estimate", str(folder), "--bandwidth", "20Mbps", "--bwlimit", "00:00,pause 12:00,off",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["upload"]["bits_per_second"] == pytest.approx(20e6 * 0.95 / 2, rel=0.02)  # half of each day
    assert "pauses included" in d["reasons"][0]


def test_cap_mbps_and_bwlimit_together_are_refused_as_for_upload(capsys, folder):
    assert main(["estimate", str(folder), "--bandwidth", "20Mbps", "--cap-mbps", "4", "--bwlimit", "1M"]) == 2
    assert "not both" in capsys.readouterr().err
