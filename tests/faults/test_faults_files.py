"""The source changes under the uploader: files vanish, shrink, grow or become unreadable while being
read, a folder appears mid-job, the whole drive is unplugged. Every case: a clear reason per file, no
crash, and the next run finishes the job. Mutations are made by a hook on the uploader's own read
(planner.upload.read_exact), so they land exactly mid-read; we run as root, so "unreadable" is a
PermissionError injected into the uploader's open()."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from helpers.faultproxy import assert_all_there, blobs, camera_files, integrity_ok, journal_rows, make_tree

import planner.transfer.files as source_files
import planner.transfer.sender as upload
from planner.errors import BadInput
from planner.sas import parse_sas_url
from planner.upload import UploadOptions, run


def _opts(root: Path, url: str, home: Path, **kw) -> UploadOptions:
    return UploadOptions(source=root, sas=parse_sas_url(url), home=home, workers=2, **kw)


def _reasons(journal_path: str) -> dict[str, tuple[str, str | None]]:
    return {r: (s, e) for r, s, e in journal_rows(journal_path, "SELECT rel_path, state, last_error FROM files")}


def _hook_reads(monkeypatch, root: Path, on_read: dict[str, callable]) -> list[str]:
    """Call on_read[rel](path, phase) once, 'before' and 'after' the uploader reads that file."""
    real = upload.read_exact
    fired: list[str] = []

    def hooked(f, n):
        rel = Path(f.name).relative_to(root).as_posix()
        action = on_read.pop(rel, None)
        if action:
            action(Path(f.name), "before")
        data = real(f, n)
        if action:
            action(Path(f.name), "after")
            fired.append(rel)
        return data

    monkeypatch.setattr(upload, "read_exact", hooked)
    return fired


def test_files_that_vanish_shrink_grow_or_turn_unreadable_mid_read(azurite, container, tmp_path, monkeypatch):
    files = camera_files(12, 20_000, seed=12)
    root = make_tree(tmp_path / "cards", files)
    names = sorted(files)
    vanish, shrink, grow, locked = names[1], names[3], names[5], names[7]
    grown_tail = os.urandom(777)

    def do_vanish(p: Path, phase: str) -> None:
        if phase == "after":
            p.unlink()  # gone between reading and the check that follows

    def do_shrink(p: Path, phase: str) -> None:
        if phase == "before":
            os.truncate(p, 5_000)  # the reader gets fewer bytes than the scan saw

    def do_grow(p: Path, phase: str) -> None:
        if phase == "after":
            with open(p, "ab") as f:  # a camera or copy still writing it
                f.write(grown_tail)

    appeared = root / "site9" / "cam0" / "IMG_9999.JPG"

    def do_new_folder(p: Path, phase: str) -> None:
        if phase == "before":
            make_tree(root, {"site9/cam0/IMG_9999.JPG": b"\xff\xd8late\xff\xd9"})

    fired = _hook_reads(monkeypatch, root, {vanish: do_vanish, shrink: do_shrink, grow: do_grow,
                                            names[0]: do_new_folder})
    real_open = source_files.open_fd

    def guarded_open(file):
        if Path(file) == root.joinpath(*locked.split("/")):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file)

    monkeypatch.setattr(source_files, "open_fd", guarded_open)
    url = azurite.container_sas_url(container)
    res, _ = run(_opts(root, url, tmp_path / "home"))
    assert sorted(fired) == sorted([vanish, shrink, grow, names[0]])
    assert res.exit_code == 1, res.message  # some files failed, the rest were sent; no crash
    assert res.files_failed == 2
    why = _reasons(res.journal_path)
    assert why[vanish][0] == "failed" and "disappeared" in why[vanish][1]
    assert why[locked][0] == "failed" and "permission denied" in why[locked][1].lower()
    assert why[shrink][0] == "done" and why[grow][0] == "done"  # re-read after the change, sent as they are now
    expected = {k: v for k, v in files.items() if k not in (vanish, locked)}
    expected[shrink] = files[shrink][:5_000]
    expected[grow] = files[grow] + grown_tail
    assert_all_there(azurite, container, expected)  # no half files, nothing for the failed two
    assert appeared.exists() and "site9/cam0/IMG_9999.JPG" not in blobs(azurite, container)

    # next run: the folder that appeared is picked up, the unreadable file is readable again
    monkeypatch.setattr(source_files, "open_fd", real_open)
    before = blobs(azurite, container)
    res2, plan2 = run(_opts(root, url, tmp_path / "home"))
    assert plan2.files_to_send == 2  # the new file and the one that could not be read
    assert res2.files_sent == 2
    assert res2.exit_code == 1  # the vanished file is still reported, with why
    assert "no longer in the source folder" in _reasons(res2.journal_path)[vanish][1]
    expected[locked] = files[locked]
    expected["site9/cam0/IMG_9999.JPG"] = appeared.read_bytes()
    assert_all_there(azurite, container, expected)
    after = blobs(azurite, container)
    assert all(after[n]["etag"] == b["etag"] for n, b in before.items())  # nothing sent twice
    assert integrity_ok(res2.journal_path)


@pytest.fixture
def keep_signal_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def test_source_drive_unplugged_mid_job_then_plugged_back(azurite, container, tmp_path, monkeypatch, capsys,
                                                           keep_signal_handlers):
    files = camera_files(16, 10_000, seed=13)
    root = make_tree(tmp_path / "drive", files)
    away = tmp_path / "unplugged"
    names = sorted(files)

    def unplug(p: Path, phase: str) -> None:
        if phase == "after":
            root.rename(away)

    _hook_reads(monkeypatch, root, {names[4]: unplug})
    url = azurite.container_sas_url(container)
    res, _ = run(_opts(root, url, tmp_path / "home"))
    assert res.exit_code == 1, res.message
    assert 0 < res.files_failed < len(files)
    failed = {r: e for r, (s, e) in _reasons(res.journal_path).items() if s == "failed"}
    assert failed and all("disappeared" in e for e in failed.values()), failed
    assert integrity_ok(res.journal_path)

    # still unplugged: one plain line, exit 2, nothing touched
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    from planner.cli import main

    capsys.readouterr()
    code = main(["upload", str(root), url, "--allow-sleep"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "does not exist" in err and "plugged in" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

    # plugged back: the job finishes, what was sent before stays as it was
    away.rename(root)
    before = blobs(azurite, container)
    monkeypatch.undo()
    res2, _ = run(_opts(root, url, tmp_path / "home"))
    assert res2.exit_code == 0, res2.message
    assert res2.files_sent == len(files) - len(before)
    after = blobs(azurite, container)
    assert all(after[n]["etag"] == b["etag"] for n, b in before.items())
    assert_all_there(azurite, container, files)


def test_source_gone_before_the_run_is_bad_input_not_a_crash(azurite, container, tmp_path):
    with pytest.raises(BadInput) as e:
        run(_opts(tmp_path / "not-plugged-in", azurite.container_sas_url(container), tmp_path / "home"))
    assert "plugged in" in str(e.value)
