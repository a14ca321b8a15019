"""The generated sample set is what it says it is, and the same every time."""

from __future__ import annotations

import hashlib
from pathlib import Path

from planner.sample import generate_sample_set
from planner.scan import Kind, iter_files, scan


def fingerprint(root: Path) -> list[tuple[str, int, int, str]]:
    return [(e.rel_path, e.size, e.mtime_ns, hashlib.md5(e.path.read_bytes()).hexdigest()) for e in iter_files(root)]


def test_counts_match_the_scanner_and_the_set_is_reproducible(tmp_path):
    a = generate_sample_set(tmp_path / "a", files=40, mean_bytes=20_000, seed=3)
    b = generate_sample_set(tmp_path / "b", files=40, mean_bytes=20_000, seed=3)
    s = scan(a.root)
    assert a.files == 40 and s.upload_files == 40 and s.upload_bytes == a.bytes
    assert s.kind(Kind.LITTER).files == a.litter_files > 0
    assert s.kind(Kind.VIDEO).files == 1
    assert s.duplicate_names > 0  # cameras reuse names, as real ones do
    assert fingerprint(a.root) == fingerprint(b.root)
    c = generate_sample_set(tmp_path / "c", files=40, mean_bytes=20_000, seed=4)
    assert fingerprint(c.root) != fingerprint(a.root)


def test_odd_names_and_plain_names(tmp_path):
    odd = generate_sample_set(tmp_path / "o", files=60, mean_bytes=5_000, sites=4)
    rels = [e.rel_path for e in iter_files(odd.root)]
    assert any("#" in r and "%" in r for r in rels) and any("é" in r for r in rels)
    plain = generate_sample_set(tmp_path / "p", files=60, mean_bytes=5_000, odd_names=False, litter=False)
    assert all(r.isascii() and "#" not in r for r in (e.rel_path for e in iter_files(plain.root)))
    assert plain.litter_files == 0


def test_sizes_follow_the_requested_mean(tmp_path):
    s = generate_sample_set(tmp_path / "m", files=400, mean_bytes=50_000, sigma=0.5, videos=0, litter=False)
    assert 40_000 < s.bytes / s.files < 60_000
