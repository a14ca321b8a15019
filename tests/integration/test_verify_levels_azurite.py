"""`mdplan verify` levels against a real Azurite with real SAS URLs (se/sp and a stored access policy si=),
issue 13: a blob re-committed with other bytes under the old Content-MD5 property passes the fast level
and fails `--blocks` and `--deep`; a URL that may not read gets one plain line and exit 3 for those."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from planner.sas import parse_sas_url
from planner.transfer import UploadOptions, run
from planner.transfer.files import block_id

MiB = 1024 * 1024
VIDEO = "site0/VID_0001.MP4"
PHOTO = "site0/IMG_0001.JPG"


def mdplan(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MDPLAN_HOME=str(home))
    env.pop("MDPLAN_SAS", None)
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=home.parent)


@pytest.fixture(params=["se-sp", "policy"])
def bed(request, azurite, tmp_path):
    """A folder sent by mdplan (a photo in one request, a 3 MiB video in 1 MiB blocks) and the URL used."""
    if request.param == "policy":
        name = azurite.create_container(f"v-{uuid.uuid4().hex[:16]}",
                                        policies={"team-rw": ("racwdl", timedelta(days=1))})
        url = azurite.container_sas_url(name, policy_id="team-rw")
    else:
        name = azurite.create_container(f"v-{uuid.uuid4().hex[:16]}")
        url = azurite.container_sas_url(name)
    root = tmp_path / "src"
    files = {PHOTO: os.urandom(40_000), VIDEO: os.urandom(3 * MiB)}
    for rel, data in files.items():
        p = root.joinpath(*rel.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    res, _ = run(UploadOptions(source=root, sas=parse_sas_url(url), home=tmp_path / "home", cap_mbps=40, workers=2))
    assert res.exit_code == 0, res.message
    blob = azurite.service_client().get_container_client(name).get_blob_client(VIDEO)
    assert len(blob.get_block_list("committed")[0]) == 3
    return root, url, name, files, tmp_path / "home"


def recommit(azurite, container: str, data: bytes, claimed_md5: bytes, *, content_ids: bool = True) -> None:
    """Other bytes under VIDEO, committed (account key) with a Content-MD5 property claiming `claimed_md5`."""
    from azure.storage.blob import BlobBlock, ContentSettings

    blob = azurite.service_client().get_container_client(container).get_blob_client(VIDEO)
    pieces = [data[i:i + MiB] for i in range(0, len(data), MiB)]
    ids = [block_id(i, hashlib.md5(p).digest()) if content_ids else f"{uuid.uuid4().hex[:20]}"
           for i, p in enumerate(pieces)]
    for bid, p in zip(ids, pieces):
        blob.stage_block(bid, p)
    blob.commit_block_list([BlobBlock(block_id=i) for i in ids],
                           content_settings=ContentSettings(content_type="video/mp4", content_md5=claimed_md5))
    assert bytes(blob.get_blob_properties().content_settings.content_md5) == claimed_md5


def test_a_recommitted_blob_with_the_old_md5_passes_fast_and_fails_blocks_and_deep(azurite, bed):
    root, url, container, files, home = bed
    other = bytearray(files[VIDEO])
    other[2 * MiB + 7] ^= 0x01  # one bit in the third block
    recommit(azurite, container, bytes(other), hashlib.md5(files[VIDEO]).digest())

    fast = mdplan("verify", str(root), url, home=home)
    assert fast.returncode == 0, fast.stderr
    assert "Proved by: size and stored MD5 (fast) for 2 files; block list against the local file for 0; " \
           "downloaded and hashed 0." in fast.stdout

    blocks = mdplan("verify", str(root), url, "--blocks", "--json", home=home)
    assert blocks.returncode == 1, blocks.stderr
    got = json.loads(blocks.stdout)
    assert got["level"] == "blocks" and not got["ok"]
    assert [(d["rel_path"], d["level"]) for d in got["differences"]] == [(VIDEO, "blocks")]
    assert "block 3 of 3" in got["differences"][0]["problem"]
    per_file = {f["rel_path"]: f for f in got["files"]}
    assert per_file[PHOTO]["proved_by"] == "size+md5" and "one request" in per_file[PHOTO]["note"]
    assert per_file[VIDEO]["outcome"] == "differs"

    deep = mdplan("verify", str(root), url, "--deep", home=home)
    assert deep.returncode == 1, deep.stderr
    assert "downloaded bytes differ" in deep.stdout and VIDEO in deep.stdout
    assert "downloaded and hashed 1." in deep.stdout  # the photo; the video differs


def test_the_untouched_upload_is_proved_at_every_level(azurite, bed):
    root, url, _container, _files, home = bed
    out = {lvl: mdplan("verify", str(root), url, *flags, "--json", home=home)
           for lvl, flags in (("fast", []), ("blocks", ["--blocks"]), ("deep", ["--deep"]))}
    for lvl, proc in out.items():
        assert proc.returncode == 0, (lvl, proc.stderr)
    proved = {lvl: {f["rel_path"]: f["proved_by"] for f in json.loads(p.stdout)["files"]} for lvl, p in out.items()}
    assert proved == {"fast": {PHOTO: "size+md5", VIDEO: "size+md5"},
                      "blocks": {PHOTO: "size+md5", VIDEO: "blocks"},
                      "deep": {PHOTO: "download", VIDEO: "download"}}
    text = mdplan("verify", str(root), url, "--blocks", home=home).stdout
    assert "block list against the local file for 1" in text and "went up in one request" in text


def test_a_blob_recommitted_by_another_tool_is_not_proved_by_its_block_list(azurite, bed):
    root, url, container, files, home = bed
    recommit(azurite, container, os.urandom(3 * MiB), hashlib.md5(files[VIDEO]).digest(), content_ids=False)
    assert mdplan("verify", str(root), url, home=home).returncode == 0
    blocks = mdplan("verify", str(root), url, "--blocks", home=home)
    assert blocks.returncode == 1 and "--deep" in blocks.stdout and VIDEO in blocks.stdout
    assert mdplan("verify", str(root), url, "--deep", home=home).returncode == 1


@pytest.mark.parametrize("flag", ["--deep", "--blocks"])
def test_a_url_that_may_not_read_gets_one_plain_line(azurite, bed, flag):
    root, _url, container, _files, home = bed
    write_only = azurite.container_sas_url(container, permission="cw")
    for url, allows in ((write_only, "(it allows: cw)"),
                        (azurite.container_sas_url(container, permission="cwl"), "(it allows: cwl)")):
        proc = mdplan("verify", str(root), url, flag, home=home)
        assert proc.returncode == 3, proc.stderr
        [line] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert "may read" in line and allows in line and "Traceback" not in proc.stderr
        assert "sig=" not in proc.stderr.replace("sig=REDACTED", "")


def test_a_stored_policy_that_may_list_but_not_read_is_told_at_the_first_read(azurite, tmp_path):
    """With si= the URL does not say what it allows: the service's first refusal does, in the same words."""
    name = azurite.create_container(f"p-{uuid.uuid4().hex[:16]}",
                                    policies={"rw": ("racwdl", timedelta(days=1)), "intake": ("cwl", timedelta(days=1))})
    root = tmp_path / "src"
    root.mkdir()
    (root / "IMG_0001.JPG").write_bytes(os.urandom(2000))
    home = tmp_path / "home"
    res, _ = run(UploadOptions(source=root, sas=parse_sas_url(azurite.container_sas_url(name, policy_id="rw")),
                               home=home, workers=1))
    assert res.exit_code == 0
    intake = azurite.container_sas_url(name, policy_id="intake")
    assert mdplan("verify", str(root), intake, home=home).returncode == 0
    for flag in ("--deep", "--blocks"):
        proc = mdplan("verify", str(root), intake, flag, "--json", home=home)
        assert proc.returncode == 3, proc.stderr
        assert "may read" in json.loads(proc.stdout)["message"] and "Traceback" not in proc.stderr
