"""The destination check's listing is the upload's listing when it holds the whole prefix (issue 14: one
round trip less before the first byte; 0.6 s on a 600 ms satellite link), and only then."""

from __future__ import annotations

import hashlib

from planner.memory_store import MemoryBlobStore
from test_transfer_engine import assert_holds, go, tree


def _already_there(store: MemoryBlobStore, files: dict[str, bytes], names: list[str]) -> None:
    for name in names:
        store.put_blob(name, files[name], content_md5=hashlib.md5(files[name]).digest(), content_type="image/jpeg",
                       overwrite=True)
    store.requests.clear()
    store.writes.clear()


def _upload_with(tmp_path, n: int, already: int):
    """An upload of n files into a container that holds the first `already` of them; (files, store, result,
    the names already there)."""
    files = tree(tmp_path / "src", n=n)
    store = MemoryBlobStore()
    there = sorted(files)[:already]
    _already_there(store, files, there)
    result = go(tmp_path / "src", tmp_path / "h", store)
    assert result.exit_code == 0, result.message
    return files, store, result, there


def test_one_listing_serves_the_check_and_the_upload(tmp_path):
    files, store, result, there = _upload_with(tmp_path, 9, 4)
    assert store.requests["list"] == 1
    assert not any(store.writes[n] for n in there)  # found by that one listing: not sent again
    assert result.files_sent == 5
    assert_holds(store, files)


def test_a_listing_cut_short_by_the_check_is_done_again_in_full(tmp_path, monkeypatch):
    monkeypatch.setattr("planner.transfer.listing.CHECK_LISTING_MOST", 3)  # more blobs than the check reads
    files, store, result, there = _upload_with(tmp_path, 9, 6)
    assert store.requests["list"] == 2
    assert not any(store.writes[n] for n in there)
    assert_holds(store, files)


def test_an_old_check_listing_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr("planner.transfer.listing.CHECK_LISTING_FRESH_S", -1.0)  # older than this: list again
    files, store, result, _there = _upload_with(tmp_path, 6, 2)
    assert store.requests["list"] == 2
    assert_holds(store, files)
