"""`mdplan verify` levels against the in-memory store (issue 13): what each level proves, and says it proved.

The tampered blob below is what issue 13's defect left behind (and what any re-commit of other bytes
under a Content-MD5 property set by hand leaves): the right size and the right stored MD5 over other
bytes. The fast level cannot see it; the block list and the download can.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from planner.clock import FakeClock
from planner.errors import SasProblem
from planner.memory_store import MemoryBlobStore
from planner.sas import parse_sas_url
from planner.transfer import UploadOptions, run
from planner.transfer.files import block_id
from planner.verify import PROVED_BY, verify

URL = ("http://127.0.0.1:10000/devstoreaccount1/traps?sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=c"
       "&sp={sp}&sig=c2VjcmV0c2VjcmV0c2VjcmV0")
MiB = 1024 * 1024
BIG = "site0/VID_0001.MP4"


def url(sp: str = "racwdl"):
    return parse_sas_url(URL.format(sp=sp))


def uploaded(tmp_path: Path) -> tuple[Path, MemoryBlobStore, dict[str, bytes]]:
    """Two photos (one request each) and a 3 MiB video (1 MiB blocks under a 40 Mbit/s cap), sent by mdplan."""
    rng = random.Random(5)
    files = {"site0/IMG_0001.JPG": rng.randbytes(30_000), "site1/IMG_0002.JPG": rng.randbytes(20_000),
             BIG: rng.randbytes(3 * MiB)}
    root = tmp_path / "src"
    for rel, data in files.items():
        p = root.joinpath(*rel.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    store = MemoryBlobStore()
    res, _ = run(UploadOptions(source=root, sas=url(), home=tmp_path / "h", cap_mbps=40, workers=2), store=store,
                 clock=FakeClock(), rng=random.Random(1))
    assert res.exit_code == 0
    assert len(store.blobs[BIG].blocks) == 3  # the video went up as a block list
    return root, store, files


def recommit(store: MemoryBlobStore, name: str, data: bytes, stored_md5: bytes, ids=None) -> None:
    """Other bytes under `name`, committed with a Content-MD5 property that claims `stored_md5`."""
    pieces = [data[i:i + MiB] for i in range(0, len(data), MiB)]
    ids = ids or [block_id(i, hashlib.md5(p).digest()) for i, p in enumerate(pieces)]
    for bid, p in zip(ids, pieces):
        store.stage_block(name, bid, p, md5=hashlib.md5(p).digest())
    store.commit_blocks(name, ids, content_md5=stored_md5, content_type="video/mp4", overwrite=True)


def check(root, store, level, tmp_path, sp="racwdl"):
    return verify(root, url(sp), store=store, level=level, home=tmp_path / "h")


def test_each_level_says_what_proved_each_file(tmp_path):
    root, store, files = uploaded(tmp_path)
    fast = check(root, store, "fast", tmp_path)
    assert fast.ok and fast.level == "fast" and fast.proved_by["size+md5"] == 3
    assert {f.proved_by for f in fast.files} == {"size+md5"}
    blocks = check(root, store, "blocks", tmp_path)
    assert blocks.ok and blocks.proved_by["blocks"] == 1 and blocks.proved_by["size+md5"] == 2
    assert blocks.single_request == 2
    by_name = {f.rel_path: f for f in blocks.files}
    assert by_name[BIG].proved_by == "blocks" and "one request" in by_name["site0/IMG_0001.JPG"].note
    assert store.requests["download"] == 0  # the block list needs no download
    deep = check(root, store, "deep", tmp_path)
    assert deep.ok and deep.proved_by["download"] == 3 and set(deep.proved_by) == set(PROVED_BY)
    assert store.requests["download"] >= 3


def test_a_recommitted_blob_with_the_old_md5_passes_fast_but_not_blocks_or_deep(tmp_path):
    root, store, files = uploaded(tmp_path)
    other = bytearray(files[BIG])
    other[MiB + 5] ^= 0xFF  # one byte in the second block
    recommit(store, BIG, bytes(other), hashlib.md5(files[BIG]).digest())
    assert store.blobs[BIG].md5 == hashlib.md5(files[BIG]).digest() and store.data(BIG) != files[BIG]
    assert check(root, store, "fast", tmp_path).ok
    blocks = check(root, store, "blocks", tmp_path)
    assert not blocks.ok and blocks.differences_total == 1
    [d] = blocks.differences
    assert (d.rel_path, d.level) == (BIG, "blocks") and "block 2 of 3" in d.problem
    deep = check(root, store, "deep", tmp_path)
    [d] = deep.differences
    assert (d.rel_path, d.level) == (BIG, "deep") and "downloaded bytes differ" in d.problem


def test_block_ids_that_do_not_name_their_bytes_are_not_taken_as_proof(tmp_path):
    """Another tool (or mdplan 0.1.0, whose ids fingerprinted size and mtime) re-committed the blob: the
    block list proves nothing, so the blocks level says so and does not pass; --deep decides."""
    root, store, files = uploaded(tmp_path)
    foreign = [f"{i:020d}" for i in range(3)]
    recommit(store, BIG, os.urandom(3 * MiB), hashlib.md5(files[BIG]).digest(), ids=foreign)
    blocks = check(root, store, "blocks", tmp_path)
    assert not blocks.ok and blocks.differences_total == 0 and blocks.unproven_total == 1
    assert "--deep" in blocks.unproven[0].note
    assert check(root, store, "deep", tmp_path).differences[0].rel_path == BIG
    # the same foreign ids over the right bytes: unproven by blocks, proved by download
    recommit(store, BIG, files[BIG], hashlib.md5(files[BIG]).digest(), ids=foreign)
    assert check(root, store, "blocks", tmp_path).unproven_total == 1
    deep = check(root, store, "deep", tmp_path)
    assert deep.ok and deep.proved_by["download"] == 3


def test_a_single_put_blob_with_a_false_md5_property_is_caught_only_by_deep(tmp_path):
    root, store, files = uploaded(tmp_path)
    name = "site0/IMG_0001.JPG"
    store.blobs[name].data = os.urandom(len(files[name]))  # (what Set Blob Properties over other bytes leaves)
    assert check(root, store, "fast", tmp_path).ok
    assert check(root, store, "blocks", tmp_path).ok  # falls back to size and stored MD5, and says so
    deep = check(root, store, "deep", tmp_path)
    assert [d.rel_path for d in deep.differences] == [name]


@pytest.mark.parametrize("level", ["blocks", "deep"])
def test_a_url_that_may_not_read_gets_one_plain_line(tmp_path, level):
    root, store, _ = uploaded(tmp_path)
    with pytest.raises(SasProblem) as e:
        check(root, store, level, tmp_path, sp="cwl")
    assert "may read" in str(e.value) and "cwl" in str(e.value) and e.value.exit_code == 3
    assert check(root, store, "fast", tmp_path, sp="cwl").ok  # the fast level needs only list


def test_a_stored_policy_that_may_not_read_is_found_at_the_first_download(tmp_path):
    root, store, _ = uploaded(tmp_path)
    policy = parse_sas_url("http://127.0.0.1:10000/devstoreaccount1/traps?sv=2021-08-06&sr=c&si=intake"
                           "&sig=c2VjcmV0c2VjcmV0c2VjcmV0")

    store.may = "cwl"  # the policy on the server allows create, write, list: not read
    assert verify(root, policy, store=store, level="fast", home=tmp_path / "h").ok
    for level in ("blocks", "deep"):
        with pytest.raises(SasProblem) as e:
            verify(root, policy, store=store, level=level, home=tmp_path / "h")
        assert "may read" in str(e.value)


def test_an_empty_file_and_a_missing_blob_at_the_deep_level(tmp_path):
    root, store, files = uploaded(tmp_path)
    (root / "empty.JPG").write_bytes(b"")
    store.put_blob("empty.JPG", b"", content_md5=hashlib.md5(b"").digest(), content_type="image/jpeg",
                   overwrite=True)
    store.delete_blob("site1/IMG_0002.JPG")
    deep = check(root, store, "deep", tmp_path)
    assert [(d.rel_path, d.problem) for d in deep.differences] == [("site1/IMG_0002.JPG", "missing")]
    assert deep.proved_by["download"] == 3


def test_a_long_run_reports_progress_after_each_file(tmp_path, capsys):
    from planner.cli.verify import Progress

    root, store, _ = uploaded(tmp_path)
    seen = []
    verify(root, url(), store=store, level="deep", home=tmp_path / "h", progress=lambda n, b: seen.append((n, b)))
    assert [n for n, _ in seen] == [1, 2, 3] and seen[-1][1] == 3 * MiB + 50_000
    clock = FakeClock()
    line = Progress("deep", clock=clock, every=15)
    line(1, 10)
    clock.sleep(16)
    line(2, 2 * MiB)
    assert capsys.readouterr().err.count("downloaded and hashed so far") == 1
