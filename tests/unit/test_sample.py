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


def test_every_odd_kind_of_name_is_there_and_round_trips(tmp_path):
    s = generate_sample_set(tmp_path / "o", files=30, mean_bytes=2_000, sites=2)
    assert s.odd_names == 8
    names = {e.rel_path.rsplit("/", 1)[-1] for e in iter_files(s.root)}
    for wanted in ("IMG 0001 (copy).JPG", "#12 morning.jpg", "100% moon.JPG", "café été Ñandú.jpg",
                   "Ame\u0301lie decomposed.jpg", "カメラ 写真 01.jpg"):
        assert wanted in names  # stored exactly as written, NFD included


def test_files_look_like_jpegs_and_are_incompressible(tmp_path):
    import zlib

    s = generate_sample_set(tmp_path / "j", files=10, mean_bytes=10_000, videos=0, litter=False, odd_names=False)
    for e in iter_files(s.root):
        data = e.path.read_bytes()
        assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9" and len(data) == e.size
        assert len(zlib.compress(data)) > 0.99 * len(data)


def test_counts_add_up_for_every_mix(tmp_path):
    s = generate_sample_set(tmp_path / "x", files=25, mean_bytes=1_000, sites=3, cameras=3, videos=4)
    summary = scan(s.root)
    assert (s.files, s.images, s.videos) == (25, 21, 4)
    assert summary.kind(Kind.IMAGE).files == 21 and summary.kind(Kind.VIDEO).files == 4
    assert summary.kind(Kind.LITTER).files == s.litter_files
    assert summary.kind(Kind.LITTER).bytes == s.litter_bytes
    assert summary.kind(Kind.OTHER).files == 0
    assert {site.site for site in summary.sites} >= {"site-01", "site-02", "site-03"}


def test_zero_files_gives_only_litter(tmp_path):
    s = generate_sample_set(tmp_path / "z", files=0)
    assert (s.files, s.bytes) == (0, 0) and s.litter_files > 0
    assert scan(s.root).upload_files == 0


def test_a_non_empty_folder_is_refused_unless_replace(tmp_path):
    import pytest

    from planner.errors import BadInput

    root = tmp_path / "r"
    generate_sample_set(root, files=5, mean_bytes=1_000)
    with pytest.raises(BadInput):
        generate_sample_set(root, files=5, mean_bytes=1_000)
    again = generate_sample_set(root, files=3, mean_bytes=1_000, litter=False, odd_names=False, replace=True)
    assert scan(root).upload_files == again.files == 3 and scan(root).files == 3
