"""The plan of one run (what, how much, how long, the advice) and the checks made before sending."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from planner.clock import Clock
from planner.journal import Journal, State, last_rate
from planner.names import blob_name_problem, safe_display
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
    share = _polite_share(opts)
    eta = None
    if rate:
        eta = _eta(to_send_bytes, rate * (share or 1.0) / 8, timetable if share else _priced(timetable), clock)
        if opts.monthly_cap is not None:  # the months a data allowance spreads the job over
            eta = max(eta, _monthly_eta(to_send_bytes, rate * (share or 1.0) / 8, opts, clock))
    advice, reasons = None, []
    if rate and to_send_bytes:
        try:  # the advice weighs the rate that will be used: the cap or schedule, not the link's best
            advice, reasons = _advice(to_send_files, to_send_bytes, rate * (share or 1.0), timetable, clock)
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
        advice=advice, advice_reasons=reasons, polite_share=share or _polite_share(opts, timetable),
    )


def _priced(timetable: Any) -> Any:
    """Polite hours in the timetable counted at the polite share of the link (as `estimate` does)."""
    from planner.estimate import price_polite_hours

    return price_polite_hours(timetable)


def _polite_share(opts: UploadOptions, timetable: Any = None) -> float | None:
    """--polite (or, with `timetable`, its polite hours): the share of the link the plan counts with, as
    `mdplan estimate --polite` does."""
    if not opts.polite and not (timetable is not None and timetable.has_polite):
        return None
    from planner.estimate import POLITE_SHARE

    return POLITE_SHARE


def _eta(remaining_bytes: int, link_bytes_per_s: float, timetable: Any, clock: Clock) -> float:
    if timetable is None:
        return remaining_bytes / link_bytes_per_s
    from planner.throttle.eta import eta_seconds

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


def add_twins(plan: Plan, journal: Journal, limit: int = CLASH_EXAMPLES) -> None:
    """Count, into the plan's names that cannot go up, the files that would become the blob name another
    file of the set already has (the journal marks them 'conflict'): `café.jpg` stored once with
    composed accents (NFC) and once with decomposed ones (NFD), or `a\\b.jpg` beside `a/b.jpg`."""
    for row in journal.iter_selected(State.CONFLICT):
        plan.bad_names += 1
        if len(plan.bad_name_examples) < limit:
            plan.bad_name_examples.append(_twin(row.rel_path, row.last_error or ""))


def _form(name: str) -> str:
    return "accents composed, NFC" if unicodedata.normalize("NFC", name) == name else "accents decomposed, NFD"


def _twin(rel_path: str, journal_note: str) -> tuple[str, str]:
    """(the file shown safely, why): the other file named, and, for NFC/NFD twins, which form is which
    (they look identical on screen)."""
    other = journal_note.split(": ", 1)[1].rsplit("; ", 1)[0] if ": " in journal_note else ""
    if other and other != rel_path and unicodedata.normalize("NFC", other) == unicodedata.normalize("NFC", rel_path):
        return (f"{safe_display(rel_path)} ({_form(rel_path)})",
                f"the same name as {safe_display(other)} ({_form(other)}) once accents are stored one way, so "
                "both would become one blob; rename one of them")
    if other:
        return safe_display(rel_path), f"would become the same blob name as {safe_display(other)}; rename one of them"
    return safe_display(rel_path), "would become the same blob name as another file; rename one of them"


def names_refusal(plan: Plan) -> str | None:
    """The message refusing to start while files cannot go up as they are named (None when all can)."""
    if not plan.bad_names:
        return None
    shown = "; ".join(f"{name}: {why}" for name, why in plan.bad_name_examples)
    more = plan.bad_names - len(plan.bad_name_examples)
    return (f"{plan.bad_names:,} file(s) cannot go up as they are named, so nothing was sent: {shown}"
            + (f"; and {more:,} more" if more > 0 else "") + ". Rename them (or move them out of the folder, "
            "or leave them out with --exclude) and run the same command again.")


def set_aside_bad_names(journal: Journal) -> None:
    """After a refusal: the files that caused it, both twins included, are set aside ('skipped', with the
    reason), so one the user renames or deletes is not reported as vanished (a failure) on the next run.
    The next scan offers those still there again, and they are checked again."""
    twins = {row.blob_name: row.last_error for row in journal.iter_selected(State.CONFLICT)}
    for state in (State.PENDING, State.CONFLICT):
        for row in journal.iter_selected(state):
            why = twins.get(row.blob_name) or blob_name_problem(row.blob_name)
            if why:
                journal.mark(row.id, State.SKIPPED, f"not sent, its name cannot go up as it is: {why}")
    journal.commit()
