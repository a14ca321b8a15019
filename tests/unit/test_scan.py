"""The scanner on generated trees: exact counts and bytes, litter, problems, links and odd names."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.errors import BadInput
from planner.scan import Kind, classify, iter_files, scan, site_of


def write(root: Path, rel: str, size: int) -> None:
    p = root.joinpath(*rel.split("/"))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"\0" * size)


TREE = {
    "site1/cam1/DCIM/IMG_0001.JPG": 1000,
    "site1/cam2/DCIM/IMG_0001.JPG": 2000,  # same name, other camera
    "site1/cam2/clip.MP4": 5000,
    "site2/notes.txt": 10,
    "site2/sub dir/IMG #1 100% été 写真.jpeg": 300,
    "site2/Thumbs.db": 7,
    "site2/._IMG.JPG": 4,
    "$RECYCLE.BIN/S-1-5/IMG_9.jpg": 50,
    "top.png": 1,
    "empty.tif": 0,
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel, size in TREE.items():
        write(tmp_path / "set", rel, size)
    return tmp_path / "set"


def test_exact_counts_bytes_and_kinds(tree):
    s = scan(tree)
    assert s.files == len(TREE) and s.bytes == sum(TREE.values())
    assert s.kind(Kind.IMAGE).files == 5 and s.kind(Kind.IMAGE).bytes == 1000 + 2000 + 300 + 1 + 0
    assert s.kind(Kind.VIDEO).files == 1 and s.kind(Kind.VIDEO).bytes == 5000
    assert s.kind(Kind.LITTER).files == 3 and s.kind(Kind.LITTER).bytes == 7 + 4 + 50
    assert s.kind(Kind.OTHER).files == 1 and s.other_extensions == {".txt": 1}
    assert s.upload_files == 7 and s.upload_bytes == sum(TREE.values()) - 61
    sites = {x.site: x for x in s.sites}
    assert sites["site1"].files == 3 and sites["site1"].bytes == 8000 and sites["site1"].videos == 1
    assert sites["(top folder)"].files == 2
    assert s.duplicate_names == 1
    assert s.sizes.largest[0] == (5000, "site1/cam2/clip.MP4")
    assert s.problems == [] and s.symlinks == 0


def test_names_with_spaces_and_unicode_come_back_exactly(tree):
    rels = {e.rel_path for e in iter_files(tree)}
    assert rels == set(TREE)


def test_size_quantiles_are_within_one_percent(tmp_path):
    sizes = [1000 * (i + 1) for i in range(200)]
    for i, n in enumerate(sizes):
        write(tmp_path / "q", f"a/{i}.jpg", n)
    s = scan(tmp_path / "q")
    assert s.sizes.median == pytest.approx(sorted(sizes)[99], rel=0.011)
    assert s.sizes.p95 == pytest.approx(sorted(sizes)[189], rel=0.011)
    assert sum(n for _, _, n in s.size_histogram) == 200


def block(monkeypatch, folder: Path, error: OSError) -> None:
    """Make opening `folder` fail (tests run as root, where chmod cannot stop reading)."""
    blocked = str(folder)
    real_open, real_scandir = os.open, os.scandir

    def fake_open(path, *a, **kw):
        if str(path) == blocked:
            raise error
        return real_open(path, *a, **kw)

    def fake_scandir(path="."):
        if str(path) == blocked:
            raise error
        return real_scandir(path)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "scandir", fake_scandir)


@pytest.mark.parametrize("workers", [1, 2])
def test_unreadable_folder_is_reported_and_the_walk_goes_on(tree, monkeypatch, workers):
    block(monkeypatch, tree / "site2", PermissionError(13, "Permission denied"))
    s = scan(tree, workers=workers)
    assert ("site2", "permission denied") in s.problems and s.problems_total == 1
    assert s.files == len(TREE) - 4  # site2's four files were not reachable; the rest were counted
    problems = []
    rels = {e.rel_path for e in iter_files(tree, on_problem=lambda p, r: problems.append((p, r)))}
    assert problems == [("site2", "permission denied")]
    assert rels == {r for r in TREE if not r.startswith("site2/")}


def test_an_unreadable_root_is_an_error_not_an_empty_set(tree, monkeypatch):
    block(monkeypatch, tree, PermissionError(13, "Permission denied"))
    with pytest.raises(BadInput, match="permission denied"):
        scan(tree)
    with pytest.raises(BadInput):
        next(iter_files(tree))


def test_a_file_that_vanishes_or_refuses_stat_is_reported(tree, monkeypatch):
    class Entry:  # os.DirEntry cannot be patched; wrap scandir's entries instead
        def __init__(self, e):
            self._e = e
            self.name, self.path = e.name, e.path

        def __getattr__(self, name):
            return getattr(self._e, name)

        def stat(self, *, follow_symlinks=True):
            if self.name == "notes.txt":
                raise FileNotFoundError(2, "No such file or directory")
            return self._e.stat(follow_symlinks=follow_symlinks)

    class Listing:
        def __init__(self, it):
            self._it = it

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._it.close()

        def __iter__(self):
            return (Entry(e) for e in self._it)

    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p=".": Listing(real_scandir(p)))
    s = scan(tree)
    assert s.problems == [("site2/notes.txt", "disappeared while being read")]
    assert s.files == len(TREE) - 1


def test_symlinks_are_reported_not_followed_and_loops_are_cut(tree, tmp_path):
    outside = tmp_path / "outside"
    write(outside, "secret.jpg", 99)
    os.symlink(outside, tree / "site1" / "link-out")
    os.symlink(tree / "site1", tree / "site1" / "cam1" / "loop")
    s = scan(tree)
    assert s.symlinks == 2 and s.files == len(TREE)
    kinds = {e.rel_path: e.kind for e in iter_files(tree)}
    assert kinds["site1/link-out"] is Kind.SYMLINK
    followed = scan(tree, follow_symlinks=True)
    assert not any("secret" in e.rel_path for e in iter_files(tree, follow_symlinks=True))
    assert any("outside the folder" in r for _, r in followed.problems)
    assert any("loop" in r for _, r in followed.problems)


def test_bad_roots(tmp_path):
    with pytest.raises(BadInput):
        scan(tmp_path / "missing")
    f = tmp_path / "f.jpg"
    f.write_bytes(b"x")
    with pytest.raises(BadInput):
        scan(f)


def test_deep_trees_need_no_recursion(tmp_path):
    deep = tmp_path / "d"
    p = deep
    for i in range(60):
        p = p / f"l{i}"
    p.mkdir(parents=True)
    (p / "x.jpg").write_bytes(b"1")
    [e] = list(iter_files(deep))
    assert e.rel_path.count("/") == 60


@pytest.mark.parametrize("rel,kind", [
    ("a/IMG.JPG", Kind.IMAGE), ("a/b.Jpeg", Kind.IMAGE), ("x.AVIF", Kind.IMAGE), ("v.MOV", Kind.VIDEO),
    ("System Volume Information/x.jpg", Kind.LITTER), ("a/.Spotlight-V100/x", Kind.LITTER),
    ("desktop.ini", Kind.LITTER), ("a/.DS_Store", Kind.LITTER), ("a/._x.jpg", Kind.LITTER),
    ("a/readme", Kind.OTHER), ("a/data.csv", Kind.OTHER),
])
def test_classify(rel, kind):
    assert classify(rel) is kind


@given(st.text(min_size=1, max_size=40))
def test_classify_never_fails(name):
    assert isinstance(classify(name), Kind)


# ------------------------------------------------------------------------------------------------
# Exactness against a plain reference walk, on generated camera-trap sets
# ------------------------------------------------------------------------------------------------
def reference(root: Path) -> dict[str, tuple[int, Kind]]:
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in files:
            p = Path(folder) / name
            rel = p.relative_to(root).as_posix()
            out[rel] = (p.lstat().st_size, classify(rel))
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_counts_and_bytes_match_a_reference_walk_exactly(tmp_path, workers):
    from planner.sample import generate_sample_set

    made = generate_sample_set(tmp_path / "s", files=300, mean_bytes=3_000, sites=3, cameras=3, videos=3)
    ref = reference(made.root)
    s = scan(made.root, workers=workers)
    assert s.files == len(ref) and s.bytes == sum(v[0] for v in ref.values())
    for k in (Kind.IMAGE, Kind.VIDEO, Kind.LITTER, Kind.OTHER):
        want = [v[0] for v in ref.values() if v[1] is k]
        assert (s.kind(k).files, s.kind(k).bytes) == (len(want), sum(want)), k
    assert (s.upload_files, s.upload_bytes) == (made.files, made.bytes)
    assert s.kind(Kind.LITTER).files == made.litter_files
    for site in s.sites:
        mine = [v for r, v in ref.items() if site_of(r) == site.site]
        assert site.files == len(mine) and site.bytes == sum(v[0] for v in mine)
        assert site.upload_files == sum(1 for v in mine if v[1] is not Kind.LITTER)
    up = sorted(v[0] for v in ref.values() if v[1] is not Kind.LITTER)
    assert s.sizes.largest == sorted(((sz, r) for r, (sz, k) in ref.items() if k is not Kind.LITTER),
                                     reverse=True)[:10]
    assert s.sizes.smallest == up[0] and s.sizes.count == len(up)
    assert sum(n for _, _, n in s.size_histogram) == len(up)
    assert {e.rel_path: (e.size, e.kind) for e in iter_files(made.root)} == ref


@pytest.fixture
def split_early(monkeypatch):
    """Hand subtrees to worker processes as soon as there are two, so small trees use them too."""
    import planner.scan.parallel as parallel

    monkeypatch.setattr(parallel, "SUBTREES_PER_WORKER", 1)


def in_fresh_python(code: str, *args: str) -> dict:
    """Run `code` in a new interpreter and return the JSON it prints.

    scan() forks worker processes only from a single-threaded process, and a pytest session that has
    started Azurite (or run an upload) has other threads alive, so the worker path is tested where no
    other thread exists.
    """
    import json
    import subprocess
    import textwrap

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


WORKERS_USED = """
    import json, os, sys
    from dataclasses import asdict
    import planner.scan.parallel as m
    m.SUBTREES_PER_WORKER = 1  # hand subtrees to worker processes as soon as there are two
    used, real = [], m._tally_in_workers
    m._tally_in_workers = lambda fr, *a: (used.append(len(fr)), real(fr, *a))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes need fork")
def test_worker_processes_and_one_process_agree(tmp_path):
    from planner.sample import generate_sample_set

    made = generate_sample_set(tmp_path / "s", files=200, mean_bytes=2_000, sites=4, cameras=2)
    write(made.root, "site-02/odd/._x.jpg", 3)
    write(made.root, "site-03/notes.TXT", 30)
    got = in_fresh_python(WORKERS_USED + """
    a, b = asdict(m.scan(sys.argv[1], workers=1)), asdict(m.scan(sys.argv[1], workers=2))
    a.pop("seconds"), b.pop("seconds")
    print(json.dumps({"used": used, "same": a == b, "files": a["files"]}))
    """, str(made.root))
    assert got["used"] and got["same"] and got["files"] == made.files + made.litter_files + 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes need fork")
def test_problems_found_in_a_worker_process_reach_the_summary(tree):
    got = in_fresh_python(WORKERS_USED + """
    blocked, real_scandir, real_open = os.path.join(sys.argv[1], "site2", "sub dir"), os.scandir, os.open
    def refuse(real):
        def call(path=".", *a, **kw):
            if str(path) == blocked:
                raise PermissionError(13, "Permission denied")
            return real(path, *a, **kw)
        return call
    os.scandir, os.open = refuse(real_scandir), refuse(real_open)
    s = m.scan(sys.argv[1], workers=2)
    print(json.dumps({"used": used, "problems": s.problems, "files": s.files}))
    """, str(tree))
    assert got["used"] and got["problems"] == [["site2/sub dir", "permission denied"]]
    assert got["files"] == len(TREE) - 1


def test_with_other_threads_running_the_scan_stays_in_this_process(tree, monkeypatch, split_early):
    import threading

    import planner.scan.parallel as parallel

    def no_fork(*a, **kw):
        raise AssertionError("forked with another thread running")

    monkeypatch.setattr(parallel, "_tally_in_workers", no_fork)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert scan(tree, workers=2).files == len(TREE)
    finally:
        stop.set()
        t.join()


def test_iter_files_is_in_name_order_folder_by_folder(tree):
    rels = [e.rel_path for e in iter_files(tree)]
    again = [e.rel_path for e in iter_files(tree)]
    assert rels == again
    top = [r for r in rels if "/" not in r]
    assert top == sorted(top)
    assert rels.index("site1/cam1/DCIM/IMG_0001.JPG") < rels.index("site1/cam2/DCIM/IMG_0001.JPG")


def test_litter_folders_count_at_any_depth_and_names_any_case(tmp_path):
    for rel in ["a/b/$Recycle.Bin/x.jpg", "a/.Trashes/501/y.JPG", "a/THUMBS.DB", "a/Desktop.INI",
                "a/._z.jpg", "a/keep.jpg", "a/notes.db", "a/x.DS_Store"]:
        write(tmp_path / "l", rel, 10)
    s = scan(tmp_path / "l")
    assert s.kind(Kind.LITTER).files == 5
    assert s.kind(Kind.IMAGE).files == 1
    assert s.other_extensions == {".db": 1, ".ds_store": 1}
    assert s.duplicate_names == 0  # litter names (Thumbs.db in every folder) do not count


def test_duplicate_names_are_counted_across_folders(tmp_path):
    for cam in ("c1", "c2", "c3"):
        for n in (1, 2):
            write(tmp_path / "d", f"s/{cam}/IMG_000{n}.JPG", 5)
    write(tmp_path / "d", "s/c1/unique.jpg", 5)
    s = scan(tmp_path / "d")
    assert s.duplicate_names == 2 and s.duplicate_name_files == 6 and s.duplicates_exact
    assert s.duplicate_examples == [("IMG_0002.JPG", 3), ("IMG_0001.JPG", 3)]


def test_duplicate_tracking_is_bounded_and_says_so(tmp_path, monkeypatch):
    import planner.scan.tally as tally

    monkeypatch.setattr(tally, "MAX_TRACKED_NAMES", 2)
    for cam in ("c1", "c2"):
        for name in ("a.jpg", "b.jpg", "c.jpg"):
            write(tmp_path / "d", f"{cam}/{name}", 1)
    s = scan(tmp_path / "d", workers=1)
    assert not s.duplicates_exact
    assert 1 <= s.duplicate_names <= 3  # a lower bound once the table is full


def test_progress_is_reported_with_the_final_totals(tree):
    calls = []
    s = scan(tree, progress=lambda files, nbytes: calls.append((files, nbytes)))
    assert calls and calls[-1] == (s.files, s.bytes)
    assert all(a <= b for a, b in zip(calls, calls[1:]))


def test_progress_is_throttled_by_the_injected_clock(tmp_path):
    for i in range(6):
        write(tmp_path / "p", f"f{i}/x.jpg", 1)
    ticks = iter(range(0, 1000))
    calls = []
    scan(tmp_path / "p", workers=1, progress=lambda f, b: calls.append(f), clock=lambda: next(ticks) * 0.1)
    assert 1 < len(calls) < 8


def test_special_files_are_reported_not_counted(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this OS")
    write(tmp_path / "f", "a/x.jpg", 3)
    os.mkfifo(tmp_path / "f" / "a" / "pipe")
    s = scan(tmp_path / "f")
    assert s.files == 1 and s.problems == [("a/pipe", "not a regular file (device, pipe or socket); not sent")]


def test_a_symlink_loop_is_counted_and_never_walked_by_default(tmp_path):
    write(tmp_path / "s", "a/x.jpg", 3)
    os.symlink(tmp_path / "s", tmp_path / "s" / "a" / "back-to-top")
    os.symlink(tmp_path / "s" / "nowhere", tmp_path / "s" / "broken")
    s = scan(tmp_path / "s")
    assert (s.files, s.symlinks, s.problems) == (1, 2, [])
    followed = scan(tmp_path / "s", follow_symlinks=True)
    assert followed.files == 1
    reasons = dict(followed.problems)
    assert "loop" in reasons["a/back-to-top"] and "broken" in reasons["broken"]


def test_names_are_kept_exactly_as_stored(tmp_path):
    import unicodedata

    nfd = unicodedata.normalize("NFD", "été")
    for rel in [f"{nfd}/a b#c%d.jpg", "写真/カメラ 01.JPG", "100% site/#1.jpeg"]:
        write(tmp_path / "n", rel, 2)
    rels = {e.rel_path for e in iter_files(tmp_path / "n")}
    assert rels == {f"{nfd}/a b#c%d.jpg", "写真/カメラ 01.JPG", "100% site/#1.jpeg"}
    assert {s.site for s in scan(tmp_path / "n").sites} == {nfd, "写真", "100% site"}


_name_chars = st.sampled_from(list("aAzZ09._- #%éÉ写") + ["jpg", "JPG", "jpeg", ".db", "thumbs", "Thumbs.db",
                                                            "desktop.ini", ".DS_Store", "._", ".mp4", ".tiff"])


@given(st.lists(st.lists(_name_chars, min_size=1, max_size=6).map("".join), min_size=1, max_size=30, unique=True))
def test_the_fast_whole_folder_classifier_agrees_with_classify(names):
    from planner.scan.kinds import KINDS, name_codes

    assert [KINDS[c] for c in name_codes(names)] == [classify(f"s/{n}") for n in names]


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=300))
def test_histogram_quantiles_are_within_one_percent(sizes):
    from planner.scan import SizeHistogram

    h = SizeHistogram()
    for s in sizes:
        h.add(s)
    ordered = sorted(sizes)
    for q in (0.5, 0.95):
        exact = ordered[max(1, -(-int(q * 1000) * len(sizes) // 1000)) - 1]
        assert abs(h.quantile(q) - exact) <= max(1, 0.01 * exact)
    bins = h.bins_125()
    assert sum(n for _, _, n in bins) == len(sizes)
    for low, high, n in bins:
        assert n == sum(1 for s in sizes if low <= s < high)


def test_an_appledouble_twin_does_not_turn_its_original_into_litter(tmp_path):
    from planner.scan.kinds import name_codes

    names = ["._IMG_0001.JPG", "IMG_0001.JPG", "IMG_0011.JPG", ".DS_Store", "x.DS_Store", "Thumbs.db", "a.db"]
    for _ in range(2):  # the second time through, the suffix cache is warm
        assert [c for c in name_codes(names)] == [2, 0, 0, 2, 3, 2, 3]
    for name in names:
        write(tmp_path / "a", f"cam/{name}", 1)
    s = scan(tmp_path / "a")
    assert s.kind(Kind.IMAGE).files == 2 and s.kind(Kind.LITTER).files == 3 and s.kind(Kind.OTHER).files == 2
