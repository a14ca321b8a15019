"""Synthetic upload jobs for the report tests: finished, failed part-way, interrupted.

Shaped like a real run: files complete at random moments (so bytes arrive in lumps per second), the
cap changes once (a timetable), the network drops for a few minutes. Seeded, so every run is alike.
A fake SAS signature is planted in every string field that could carry a URL; it must never show.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from planner.report import (
    FailureRow, KindRow, ManifestRow, PlanReportData, PlanSiteRow, SiteRow, Totals, UploadReportData,
    crossover_points, size_histogram,
)

FAKE_SIG = "sv7FakeSig0123456789abcdefSECRETxyz%3D"
SAS_URL = f"https://acct.blob.core.windows.net/cams?sv=2022-11-02&sp=cw&se=2030-01-01&sig={FAKE_SIG}"
START = datetime(2024, 5, 3, 14, 2, 7, tzinfo=timezone(timedelta(hours=2)))
SITES = ["North ridge", "Río Claro", "site #3 (wet)"]


def manifest(n_done: int, n_failed: int, n_left: int, seed: int = 1) -> list[ManifestRow]:
    rng = random.Random(seed)
    rows = []
    states = ["done"] * n_done + ["failed"] * n_failed + ["pending"] * n_left
    for i, state in enumerate(states):
        site = SITES[i % len(SITES)]
        rel = f"{site}/cam{i % 2 + 1}/DCIM/IMG_{i:04d}.JPG"
        note = f"connection reset by {SAS_URL}" if state == "failed" else None
        md5 = f"{rng.getrandbits(128):032x}" if state == "done" else None
        rows.append(ManifestRow(rel, "2024/" + rel, rng.randint(100_000, 900_000), md5, state, note))
    rows.append(ManifestRow("North ridge/Thumbs.db", "", 4096, None, "left out", "litter"))
    return rows


def upload_data(kind: str = "finished", *, seconds: int = 2 * 3600, seed: int = 7) -> UploadReportData:
    """kind: "finished" | "failed" (finished with failures) | "interrupted"."""
    rng = random.Random(seed)
    cap1, cap2 = 20e6, 50e6
    pause = (2400.0, 2700.0, "waiting for the network (connection refused)")
    stop = seconds if kind != "interrupted" else int(seconds * 0.45)
    samples = []
    for s in range(stop):
        if pause[0] <= s < pause[1]:
            continue
        cap = cap1 if s < 3600 else cap2
        mean = cap / 8 * 0.97
        # files finish in lumps: some seconds see two files, some none
        n = int(rng.gauss(mean, mean * 0.35)) if rng.random() > 0.08 else 0
        if n > 0:
            samples.append((float(s), n))
    sent = sum(n for _, n in samples)
    failed_files, failed_bytes = (3, 1_800_000) if kind == "failed" else (0, 0)
    done_files = 30_000 if kind != "interrupted" else 13_400
    planned_files = 30_000 + failed_files + 250
    skipped_bytes = 250 * 400_000
    left_bytes = (planned_files - done_files - failed_files - 250) * 450_000
    planned_bytes = sent + skipped_bytes + failed_bytes + left_bytes
    totals = Totals(
        files_planned=planned_files, bytes_planned=planned_bytes,
        files_done=done_files, bytes_done=sent, files_skipped=250, bytes_skipped=skipped_bytes,
        files_failed=failed_files, bytes_failed=failed_bytes,
    )
    failures = [
        FailureRow("Río Claro/cam1/DCIM/IMG_0042.JPG", f"connection reset while sending to {SAS_URL}", 8),
        FailureRow("North ridge/cam2/DCIM/IMG 0001 #2.JPG", "the file could not be read (permission denied)", 1),
        FailureRow("site #3 (wet)/cam1/DCIM/写真.JPG", "the service returned a different MD5 (retried)", 8),
    ][:failed_files]
    per_site = done_files // 3
    sites = [SiteRow(name, per_site, sent // 3, 80 + i, 1 if failed_files else 0) for i, name in enumerate(SITES)]
    sites.append(SiteRow("$RECYCLE.BIN", 0, 0, 4, 0))  # only litter: named under the table, not a row
    finished = None if kind == "interrupted" else START + timedelta(seconds=seconds)
    state = {"finished": "finished", "failed": "finished with failures", "interrupted": "interrupted"}[kind]
    return UploadReportData(
        job_id="a1b2c3d4e5f6",
        source="D:\\Camera traps\\2024 season",
        destination="acct/cams/2024",
        mdplan_version="0.1.0",
        started=START,
        finished=finished,
        state=state,
        totals=totals,
        litter_files=41, litter_bytes=1_234_567,
        excluded_files=2, excluded_bytes=80_000_000,
        retries=17,
        wall_seconds=float(stop),
        cap="20 Mbit/s, then 50 Mbit/s from 15:02",
        cap_series=[(0.0, cap1), (3600.0, cap2)],
        pauses=[pause] if stop > pause[0] else [],
        throughput=samples,
        sites=sites,
        failures=failures,
        predicted_seconds=seconds * 0.92,
        workers="auto (8)",
        next_step=(f"re-run mdplan upload \"D:\\Camera traps\\2024 season\" \"{SAS_URL}\" to continue."
                   if kind == "interrupted" else None),
    )


def plan_data() -> PlanReportData:
    tb = 1.37e12

    def upload_seconds(bps: float) -> float:
        return tb * 8 / (bps * 0.9) + 3_700_000 * 0.01

    return PlanReportData(
        source="E:\\NACTI", mdplan_version="0.1.0", created=START, total_files=3_700_000, total_bytes=int(tb),
        recommendation="Mail a drive.",
        reasons=["At 20 Mbit/s uploading takes about 7 days.", "A drive gets there in about 4 days."],
        kinds=[KindRow("images", 3_690_000, int(tb) - 10**9), KindRow("videos", 10, 10**9),
               KindRow("litter", 500, 2_000_000)],
        sites=[PlanSiteRow("site A", 2_000_000, 7 * 10**11), PlanSiteRow("site B", 1_700_000, 6.7e11)],
        size_bins=size_histogram([300_000] * 50 + [600_000] * 30 + [5_000_000] * 2 + [0]),
        bandwidth_bps=20e6, bandwidth_method="measured to the container",
        bandwidth_note=f"Measured with a 30 s upload to {SAS_URL}",
        upload_seconds=upload_seconds(20e6), drive_seconds=4 * 86400,
        crossover=crossover_points(upload_seconds),
        assumptions=[("Link efficiency", "90%"), ("Shipping", "3 days")],
    )
