"""Issues 13 and 17: where reports go. Never into the current folder by default (it may be the image
set, and the next run would upload the report); a folder given as the report path gets the report
inside it; a folder that cannot be written falls back to the state folder; mdplan's own outputs are
recognisable, so an upload can leave them out."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from planner.journal import Journal, ScanRow
from planner.report import write_job_report, write_plan_report
from helpers.report_samples import plan_data

ACCOUNT = "https://acct.blob.core.windows.net"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "state"
    monkeypatch.setenv("MDPLAN_HOME", str(h))
    return h


def _journal(tmp_path: Path, source: Path) -> Path:
    source.mkdir(parents=True, exist_ok=True)
    with Journal.open(source, ACCOUNT, "acct", "cams", "") as j:
        j.begin_run(workers="auto", cap=None)
        j.record_scan([ScanRow("a/IMG_1.JPG", "a/IMG_1.JPG", "a", "image", 10, 1, True, None)])
        j.end_run("finished", 0)
        return j.path


def test_the_default_report_is_not_written_into_the_current_folder(tmp_path, home, monkeypatch):
    images = tmp_path / "images"
    journal = _journal(tmp_path, images)
    monkeypatch.chdir(images)  # `mdplan upload .` from inside the image folder
    files = write_job_report(journal)
    assert not (images / "reports").exists() and images not in files.html.parents
    assert files.html.parent == home / "reports" and files.csv.is_file()


def test_documents_is_the_default_without_mdplan_home(tmp_path, monkeypatch):
    from planner.report import default_report_dir

    monkeypatch.delenv("MDPLAN_HOME", raising=False)
    docs = tmp_path / "Documents"
    docs.mkdir()
    monkeypatch.setattr("platformdirs.user_documents_dir", lambda: str(docs))
    assert default_report_dir() == docs / "mdplan-reports"


@pytest.mark.parametrize("trailing", ["", "/"])
def test_a_folder_as_the_report_path_gets_the_report_inside(tmp_path, home, trailing):
    journal = _journal(tmp_path, tmp_path / "images")
    out = tmp_path / "out"
    if not trailing:
        out.mkdir()
    files = write_job_report(journal, str(out) + trailing)  # as typed after --out
    assert files.html.parent == files.csv.parent == out
    assert files.html.name.startswith("mdplan-cams-") and files.html.suffix == ".html"
    assert not (tmp_path / "out.csv").exists()


def test_a_folder_as_the_plan_report_path_gets_the_page_inside(tmp_path, home):
    out = tmp_path / "plans"
    out.mkdir()
    page = write_plan_report(plan_data(), out)
    assert page.parent == out and page.name.startswith("mdplan-plan-") and page.is_file()


def test_an_unwritable_folder_falls_back_to_the_state_folder(tmp_path, home, capsys):
    journal = _journal(tmp_path, tmp_path / "images")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    files = write_job_report(journal, blocker / "r.html")
    assert files.html == home / "reports" / "r.html" and files.html.is_file() and files.csv.is_file()
    assert "writing it to" in capsys.readouterr().err


def test_report_from_a_deleted_current_folder(tmp_path, home, monkeypatch):
    journal = _journal(tmp_path, tmp_path / "images")
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert write_job_report(journal).html.is_file()
    assert write_job_report(journal, Path("rel.html")).html == home / "reports" / "rel.html"


def test_mdplan_outputs_are_recognised_and_the_users_files_are_not(tmp_path, home):
    from planner.report import default_report_dir, is_mdplan_output, own_outputs

    src = tmp_path / "images"
    given = src / "my-report.html"
    own = own_outputs([given])
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert own.reason(home / "jobs" / "abc.sqlite")
    assert own.reason(default_report_dir() / "anything.html")
    assert own.reason(given) and own.reason(src / "my-report.csv")
    assert own.reason(src / f"mdplan-cams-{when:%Y%m%d-%H%M%S}.html")  # an earlier report left in the set
    assert own.reason(src / ".mdplan-cams-20260102-030405.html.x1y2.tmp")
    for name in ("IMG_0001.JPG", "mdplan-notes.txt", "report.html", "cam_sig=3_IMG0001.jpg"):
        assert own.reason(src / name) is None
    assert is_mdplan_output(home / "rates.json") and not is_mdplan_output(src / "IMG_0001.JPG")


def _link(target: Path, link: Path) -> None:
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError):  # Windows without the right to make links
        pytest.skip("this system cannot make symbolic links")


def test_links_are_judged_by_where_they_lead(tmp_path, home):
    """The folder cache must not change the answers: a folder reached through a link that leads into the
    state folder, a file link that leads to a report, and files inside a folder given as --report."""
    from planner.report import own_outputs

    (home / "jobs").mkdir(parents=True)
    (home / "jobs" / "abc.sqlite").write_text("x")
    src = tmp_path / "images"
    src.mkdir()
    _link(home / "jobs", src / "linked")
    report = tmp_path / "out" / "team.html"
    report.parent.mkdir()
    report.write_text("<html>")
    _link(report, src / "copy.html")
    folder_report = tmp_path / "reports-here"
    folder_report.mkdir()
    own = own_outputs([report, folder_report])
    assert own.reason(src / "linked" / "abc.sqlite") == "mdplan's state folder (job journals)"
    assert own.reason(src / "copy.html") == "an mdplan report"
    assert own.reason(folder_report / "notes.txt") == "mdplan's reports folder"
    assert own.reason(src / "IMG_0001.JPG") is None and own.reason(src / "linked") is not None


def test_a_scan_resolves_each_folder_once_not_each_file(tmp_path, home, monkeypatch):
    """Resolving every file's path cost 0.2 ms a file (1.5 s of a 7,200-file scan, 3.5 minutes a million files)
    before the first byte went out (issue 14); a folder is resolved once."""
    from planner.report import own_outputs

    src = tmp_path / "images"
    for site in ("A", "B"):
        (src / site).mkdir(parents=True)
        for i in range(50):
            (src / site / f"IMG_{i:04}.JPG").write_bytes(b"x")
    own = own_outputs([])
    calls = []
    real = Path.resolve
    monkeypatch.setattr(Path, "resolve", lambda self, *a, **k: calls.append(self) or real(self, *a, **k))
    files = sorted(src.rglob("*.JPG"))
    assert [own.reason(f) for f in files] == [None] * 100
    assert len(calls) == 2, calls
