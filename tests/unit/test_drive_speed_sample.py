"""`estimate`'s drive speed when no `mdplan drive copy` was measured on this computer: a short read sample
of the set (issue 16) instead of assuming the typical 60 MB/s blindly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import planner.assessment as assessment
from planner.assessment import DriveSpeed, drive_speed_for_estimate, sample_read_speed
from planner.estimate import EstimateSettings
from planner.journal.rates import remember_drive_rates

TYPICAL = EstimateSettings().drive_bytes_per_second


class StepClock:
    """0 when first read, `after` seconds on every later reading: the sample took `after` seconds."""

    def __init__(self, after: float) -> None:
        self.reads, self.after = 0, after

    def monotonic(self) -> float:
        self.reads += 1
        return 0.0 if self.reads == 1 else self.after


def make_set(root: Path, n: int = 10, size: int = 100_000) -> None:
    for i in range(n):
        p = root / f"site{i % 2}" / f"IMG_{i:03d}.JPG"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size))


def test_the_sample_reads_up_to_its_budget_of_the_set_and_times_it(tmp_path):
    make_set(tmp_path / "set")
    got = sample_read_speed(tmp_path / "set", budget=350_000, clock=StepClock(2.0))
    assert got is not None
    assert got.nbytes == 350_000 and got.files == 4  # three whole files and part of a fourth
    assert got.bytes_per_second == pytest.approx(350_000 / 2.0)


def test_a_slow_source_is_sampled_for_a_few_seconds_only(tmp_path):
    make_set(tmp_path / "set")
    got = sample_read_speed(tmp_path / "set", budget=10**9, clock=StepClock(30.0))  # a network share at 3 kB/s
    assert got is not None and got.files == 1 and got.bytes_per_second == pytest.approx(100_000 / 30.0)


def test_a_set_too_small_to_say_anything_gives_no_sample(tmp_path):
    make_set(tmp_path / "set", n=1, size=1000)
    assert sample_read_speed(tmp_path / "set", clock=StepClock(1.0)) is None


def test_a_given_speed_wins_and_a_remembered_one_is_used_without_sampling(tmp_path, monkeypatch):
    make_set(tmp_path / "set")
    monkeypatch.setattr(assessment, "sample_read_speed", lambda *a, **k: pytest.fail("sampled"))
    assert drive_speed_for_estimate(tmp_path / "set", 30e6, home=tmp_path / "h") == DriveSpeed(30e6, "given")
    remember_drive_rates(12e6, 20e6, 90e6, home=tmp_path / "h")
    assert drive_speed_for_estimate(tmp_path / "set", None, home=tmp_path / "h") == DriveSpeed(12e6, "remembered")


def test_a_source_slower_than_a_drive_sets_the_speed_and_a_fast_one_keeps_the_typical(tmp_path):
    make_set(tmp_path / "set")
    slow = drive_speed_for_estimate(tmp_path / "set", None, home=tmp_path / "h", clock=StepClock(1.0),
                                    budget=500_000)
    assert slow.how == "sampled" and slow.bytes_per_second == pytest.approx(500_000)
    assert slow.source_read_bytes_per_second == pytest.approx(500_000)
    fast = drive_speed_for_estimate(tmp_path / "set", None, home=tmp_path / "h", clock=StepClock(1e-4),
                                    budget=500_000)
    assert fast.how == "typical" and fast.bytes_per_second == TYPICAL
    assert fast.source_read_bytes_per_second == pytest.approx(5e9)


def test_no_sample_means_the_typical_speed(tmp_path):
    (tmp_path / "empty").mkdir()
    assert drive_speed_for_estimate(tmp_path / "empty", None, home=tmp_path / "h") == DriveSpeed(TYPICAL, "typical")
