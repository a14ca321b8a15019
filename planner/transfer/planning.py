"""The plan of one run (what, how much, how long, the advice) and the checks made before sending."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from planner.clock import Clock
from planner.journal import Journal, State, last_rate
from planner.storage import RemoteBlob
from planner.transfer.options import Plan, UploadOptions

CLASH_EXAMPLES = 5


def build_timetable(cap_mbps: float | None, bwlimit: str | None) -> Any:
    """One Timetable from AzCopy's --cap-mbps or rclone's --bwlimit (not both): planner.options' rule."""
    from planner.options import speed_cap

    return speed_cap(cap_mbps, bwlimit)


def make_plan(journal: Journal, opts: UploadOptions, timetable: Any, resumed: bool, clock: Clock) -> Plan:
    c = journal.counts()
    info = journal.info()
    to_send_files = c.n(State.PENDING) + c.n(State.UPLOADING)
    to_send_bytes = c.b(State.PENDING) + c.b(State.UPLOADING)
    hint = last_rate(opts.sas.account_url, opts.sas.container, opts.home)
    rate = hint[0] if hint else None
    eta = None
    if rate:
        eta = _eta(to_send_bytes, rate / 8, timetable, clock)
        if opts.monthly_cap is not None:  # the months a data allowance spreads the job over
            eta = max(eta, _monthly_eta(to_send_bytes, rate / 8, opts, clock))
    advice, reasons = None, []
    if rate and to_send_bytes:
        try:  # the advice weighs the rate that will be used: the cap or schedule, not the link's best
            advice, reasons = _advice(to_send_files, to_send_bytes, rate, timetable, clock)
        except Exception:  # advice is a courtesy; the plan stands without it
            advice, reasons = None, []
    expiry = opts.sas.expiry
    expires_first = False
    if expiry is not None and eta is not None:
        expires_first = expiry.timestamp() < clock.now().timestamp() + eta
    return Plan(
        job_id=info.job_id, journal_path=journal.path, source=str(Path(opts.source).resolve()),
        destination=info.destination, files_to_send=to_send_files, bytes_to_send=to_send_bytes,
        files_done_before=c.n(State.DONE), bytes_done_before=c.b(State.DONE),
        excluded={k: (v, c.excluded_bytes.get(k, 0)) for k, v in c.excluded_files.items()},
        conflicts=c.n(State.CONFLICT), scan_problems=journal.problems(), resumed=resumed,
        rate_bps=rate, rate_source=hint[1] if hint else None, eta_seconds=eta,
        cap=timetable.describe() if timetable else None, sas_expiry=expiry, expires_before_finish=expires_first,
        advice=advice, advice_reasons=reasons,
    )


def _eta(remaining_bytes: int, link_bytes_per_s: float, timetable: Any, clock: Clock) -> float:
    if timetable is None:
        return remaining_bytes / link_bytes_per_s
    from planner.throttle import eta_seconds

    return eta_seconds(remaining_bytes, link_bytes_per_s, timetable, clock.now())


def _monthly_eta(remaining_bytes: int, link_bytes_per_s: float, opts: UploadOptions, clock: Clock) -> float:
    from planner.journal import bytes_sent_since
    from planner.options import monthly_cap
    from planner.transfer.monthly import month_start, monthly_eta

    cap = monthly_cap(opts.monthly_cap)
    now = clock.now()
    used = bytes_sent_since(month_start(now).timestamp(), opts.home)
    return monthly_eta(remaining_bytes, link_bytes_per_s, cap or 0, used, now)


def _advice(files: int, nbytes: int, bits_per_second: float, timetable: Any,
            clock: Clock) -> tuple[str | None, list[str]]:
    """The estimate model's verdict for what is left at this rate (upload vs mail a drive)."""
    from planner import estimate

    rec = estimate.advise(files=files, nbytes=nbytes, bits_per_second=bits_per_second, cap=timetable,
                          start=clock.now())
    return rec.recommendation, list(rec.reasons)


def clashes(journal: Journal, remote: dict[str, RemoteBlob], job_id: str) -> str | None:
    """The message refusing to start when files to send would replace blobs this job did not put there.

    Only sizes are compared here (the listing has them, no file is read): a same-sized blob is checked
    by MD5 when the file is sent, and left alone (reported) if it differs."""
    found: list[str] = []
    total = 0
    for row in journal.iter_selected(State.PENDING):
        there = remote.get(row.blob_name)
        if there is None or there.job == job_id or there.size == row.size:
            continue
        total += 1
        if len(found) < CLASH_EXAMPLES:
            found.append(row.blob_name)
    if not total:
        return None
    info = journal.info()
    suggestion = suggest_prefix(Path(info.source))
    return (f"{total:,} file(s) would replace different files of the same name already in the container, which "
            f"this job did not put there (for example: {', '.join(found)}). Nothing was sent. To keep both, "
            f"upload this folder into a folder of its own: add --prefix {suggestion} (ask the team which name "
            "they want); to replace them, add --overwrite always.")


def suggest_prefix(source: Path) -> str:
    """A folder name for --prefix from the source folder's name (or the drive, for a drive's root)."""
    name = source.name or source.drive.rstrip(":\\/") or source.anchor
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "drive"
    if not source.name:
        clean = f"drive-{clean}"
    return clean
