"""`mdplan demo`: the whole workflow on a generated sample set and a local Azure emulator.

Generates a small camera-trap set, starts the Azurite that `make demo` installed, creates a container
with a stored access policy and a policy-only SAS URL (what the MegaDetector team sends), then runs
estimate, check, upload (speed-capped so the chart has a shape), verify and both reports, and stops
the emulator. Nothing leaves this machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from planner.errors import BadInput, MdplanError

SAMPLE_NAME = "sample-camera-traps"
# Beside each sample folder mdplan makes: what it wrote there (every folder, every file with its size and
# modification time). A folder is replaced only while it holds exactly that; anything else in it, or no
# marker at all, means it is someone's, and the demo uses the next free name instead.
MARKER_SUFFIX = ".mdplan-sample.json"
_MARKER_KIND = "mdplan demo sample set"


@dataclass
class DemoResult:
    sample_folder: Path
    files: int
    bytes: int
    check_ok: bool
    upload_exit_code: int
    files_sent: int
    verify_ok: bool
    plan_report: Path | None
    upload_report: Path | None
    manifest: Path | None


def run_demo(workdir: Path, reports: Path, *, files: int = 160, cap_mbps: float = 40.0,
             say: Callable[[str], None] = print) -> DemoResult:
    from planner.azure import check
    from planner.emulator import Azurite
    from planner.report import write_job_report
    from planner.sample import generate_sample_set
    from planner.sas import parse_sas_url
    from planner.upload import QuietUI, UploadOptions, run
    from planner.verify import verify

    workdir = Path(workdir)
    home = workdir / "home"
    os.environ["MDPLAN_HOME"] = str(home)  # keep the demo's job out of the user's own job list
    sample = prepare_sample_folder(workdir, say)
    say(f"1/6 Making a sample camera-trap set in {sample} ...")
    made = generate_sample_set(sample, files=files, seed=7)
    mark_sample_folder(sample)
    say(f"    {made.files} files, {made.bytes / 1e6:.0f} MB, plus {made.litter_files} bits of drive litter.")

    say("2/6 Starting a local Azure Blob Storage emulator (Azurite) ...")
    with Azurite.start() as emu:
        container = emu.create_container("megadetector-demo",
                                         policies={"demo-rw": ("racwl", timedelta(days=14))})
        url = emu.container_sas_url(container, policy_id="demo-rw")
        sas = parse_sas_url(url)

        say("3/6 Estimating (bandwidth measured to the emulator) ...")
        plan_report = _plan_report(sample, url, reports, say)

        say("4/6 Checking the SAS URL ...")
        checked = check(sas)
        say(f"    {'Uploading will work.' if checked.ok else 'Problem: ' + '; '.join(checked.problems)}")

        say(f"5/6 Uploading, capped at {cap_mbps:g} Mbit/s so the report's chart has a shape ...")
        result, _plan = run(UploadOptions(source=sample, sas=sas, cap_mbps=cap_mbps, home=home), QuietUI(),
                            assume_yes=True)
        assert result is not None
        say(f"    {result.outcome}: {result.files_sent} files in {result.seconds:.0f} s.")
        files_out = write_job_report(Path(result.journal_path), _report_path(reports, "upload"))

        say("6/6 Verifying every file against the container ...")
        ver = verify(sample, sas, home=home)
        say(f"    {ver.files_matched} of {ver.files_checked} files match by size and MD5.")
    return DemoResult(sample_folder=sample, files=made.files, bytes=made.bytes, check_ok=checked.ok,
                      upload_exit_code=result.exit_code, files_sent=result.files_sent, verify_ok=ver.ok,
                      plan_report=plan_report, upload_report=files_out.html, manifest=files_out.csv)


def _report_path(reports: Path, kind: str) -> Path:
    from datetime import datetime

    return Path(reports) / f"mdplan-demo-{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.html"


def _plan_report(sample: Path, url: str, reports: Path, say: Callable[[str], None]) -> Path | None:
    """The estimate's plan page, measured against the emulator (as a user's would be to Azure)."""
    from planner.assessment import assess
    from planner.report import plan_report_data, write_plan_report
    from planner.sas import parse_sas_url
    from planner.units import format_duration, format_rate

    try:
        a = assess(sample, sas=parse_sas_url(url), seconds=3)
    except MdplanError as e:
        say(f"    (plan skipped: {e})")
        return None
    say(f"    {a.upload_files} files; measured {format_rate(a.estimate.bandwidth.bits_per_second)} to the emulator; "
        f"upload about {format_duration(a.estimate.upload_seconds)}; advice: {a.estimate.recommendation}.")
    return write_plan_report(plan_report_data(a), _report_path(reports, "plan"))


@dataclass
class Practice:
    sample_folder: Path
    url: str  # a policy-only SAS URL for the local emulator (its key is public: nothing secret here)


def serve_practice(workdir: Path, *, files: int = 160, say: Callable[[str], None] = print,
                   ready: Callable[[Practice], None] | None = None) -> None:
    """A sample set and a local container to practise the four steps on, until Ctrl-C (or `ready` returns).

    The container gets a stored access policy without delete, and the URL names only that policy
    (si=), as the MegaDetector team's URLs do, so check, estimate and upload behave as they will for
    real. The emulator keeps blobs in memory: practising on a real multi-terabyte folder would fill it,
    hence the sample set."""
    import time

    from planner.emulator import Azurite
    from planner.sample import generate_sample_set

    sample = prepare_sample_folder(Path(workdir), say)
    made = generate_sample_set(sample, files=files, seed=7)
    mark_sample_folder(sample)
    with Azurite.start() as emu:
        container = emu.create_container("your-organization",
                                         policies={"your-organization-rw": ("racwl", timedelta(days=14))})
        practice = Practice(sample.resolve(), emu.container_sas_url(container, policy_id="your-organization-rw"))
        say(f"Practice folder ({made.files} files, {made.bytes / 1e6:.0f} MB): {practice.sample_folder}")
        say(f"Practice URL (a local emulator on this computer; it lives until you press Ctrl-C):\n{practice.url}")
        say("In another window, run the four steps with these two in place of your folder and URL.")
        if ready is not None:
            ready(practice)
            return
        _stop_on_close()
        while emu.running:
            time.sleep(0.5)


def _stop_on_close() -> None:
    """Closing the window (SIGHUP) or a kill (SIGTERM) ends like Ctrl-C, so the emulator is stopped
    rather than left running in the background holding its port."""
    import signal

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


# ---- the sample folder: never delete what mdplan did not make ---------------------------------------


def prepare_sample_folder(workdir: Path, say: Callable[[str], None] = print) -> Path:
    """A missing or empty folder for the demo's sample set: `sample-camera-traps` when it is missing,
    empty, or still exactly what mdplan made there (then those files are deleted, and only those);
    otherwise the next such name (`sample-camera-traps-2`, ...), saying why."""
    workdir = Path(workdir)
    for n in range(1, 100):
        folder = workdir / (SAMPLE_NAME if n == 1 else f"{SAMPLE_NAME}-{n}")
        if not folder.exists() and not folder.is_symlink():
            return folder
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            return folder
        if remove_sample_folder(folder):
            return folder
        say(f"    {folder} holds files mdplan did not make, so it is left as it is; using another folder.")
    raise BadInput(f"Every sample folder name in {workdir} is taken by files mdplan did not make. "
                   "Give the demo an empty folder with --workdir.")


def _marker(folder: Path) -> Path:
    return folder.with_name(folder.name + MARKER_SUFFIX)


def _inventory(folder: Path) -> tuple[list[str], dict[str, list[int]]] | None:
    """(folders, {file: [size, mtime_ns]}) under `folder`, relative and '/'-separated; None when it
    holds anything but plain folders and files (a link, a device...)."""
    dirs: list[str] = []
    files: dict[str, list[int]] = {}
    for top, subdirs, names in os.walk(folder, followlinks=False):
        for name in subdirs + names:
            path = Path(top, name)
            rel = path.relative_to(folder).as_posix()
            st = path.lstat()
            if path.is_symlink():
                return None
            if path.is_dir():
                dirs.append(rel)
            elif path.is_file():
                files[rel] = [st.st_size, st.st_mtime_ns]
            else:
                return None
    return dirs, files


def mark_sample_folder(folder: Path) -> None:
    """Write the marker that lets a later demo replace this folder (and nothing anyone added to it)."""
    listed = _inventory(folder)
    assert listed is not None, "a freshly generated sample set holds only folders and files"
    dirs, files = listed
    marker = {"kind": _MARKER_KIND, "folders": dirs, "files": files}
    _marker(folder).write_text(json.dumps(marker), encoding="utf-8")


def remove_sample_folder(folder: Path) -> bool:
    """Delete a sample folder mdplan made, if it still holds exactly what mdplan put there (same names,
    sizes and times); True when it is gone. Anything else there: False, and nothing is deleted."""
    try:
        marker = json.loads(_marker(folder).read_text(encoding="utf-8"))
        made_dirs, made_files = set(marker["folders"]), {k: list(v) for k, v in marker["files"].items()}
        if marker.get("kind") != _MARKER_KIND or not folder.is_dir() or folder.is_symlink():
            return False
        now = _inventory(folder)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    if now is None or set(now[0]) - made_dirs or any(made_files.get(rel) != stat for rel, stat in now[1].items()):
        return False
    try:
        for rel in now[1]:
            (folder / rel).unlink()
        for rel in sorted(now[0], key=lambda r: r.count("/"), reverse=True):
            (folder / rel).rmdir()  # empty by now; a file someone just added makes this fail, and it stays
        folder.rmdir()
        _marker(folder).unlink()
    except OSError:
        return False
    return True
