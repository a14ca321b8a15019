"""Over-redaction (issue 13): a file whose name holds "sig=" keeps its name in the container, the
journal and the manifest, while the URL's signature stays out of all of them. Against Azurite."""

from __future__ import annotations

import csv
from pathlib import Path

from planner.report import write_job_report
from planner.sas import parse_sas_url
from planner.upload import QuietUI, UploadOptions, run

NAMES = ["cam_sig=3_IMG0001.jpg", "site-A/sig=7_IMG0002.JPG", "site-A/design=sig=final.jpg"]


def test_files_named_with_sig_keep_their_names_in_the_manifest(azurite, container, tmp_path: Path) -> None:
    root = tmp_path / "set"
    for i, name in enumerate(NAMES):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8" + bytes([i]) * 5000 + b"\xff\xd9")
    url = azurite.container_sas_url(container, permission="racwl")
    signature = url.split("sig=")[1].split("&")[0]
    result, _plan = run(UploadOptions(source=root, sas=parse_sas_url(url), home=tmp_path / "home"), QuietUI(),
                        assume_yes=True)
    assert result is not None and result.exit_code == 0 and result.files_sent == len(NAMES)

    blobs = sorted(b.name for b in azurite.service_client().get_container_client(container).list_blobs()
                   if not b.name.startswith(".mdplan/"))
    assert blobs == sorted(NAMES)
    files = write_job_report(Path(result.journal_path), tmp_path / "report.html")
    text = Path(files.csv).read_text("utf-8-sig")
    rows = list(csv.DictReader(text.splitlines()))
    assert sorted(r["relative_path"] for r in rows if r["relative_path"] in NAMES) == sorted(NAMES)
    assert sorted(r["blob_name"] for r in rows if r["blob_name"] in NAMES) == sorted(NAMES)
    assert "REDACTED" not in text
    assert signature not in text and signature not in Path(files.html).read_text("utf-8")
