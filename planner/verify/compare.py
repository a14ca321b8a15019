"""`mdplan verify`: is every local file that should be in the container there, whole and unchanged,
and how was that proved?

Lists the container once (needs list permission: an intake URL without it gets a clear exit 3) and
compares each file that the upload would send, at the level asked:

- ``fast`` (default): size, and the blob's stored Content-MD5 against the local MD5 (from the job
  journal when the file is unchanged since it was sent, else the file is read). No request per file.
- ``blocks``: also the committed block list against the local file's block hashes (planner.verify.proofs),
  one small request per file, no download; a blob sent in one request falls back to size and stored MD5.
- ``deep``: also downloads every blob and hashes it (needs a URL that may read).

Each file's `FileCheck` says what proved it (`proved_by`), and the result counts them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal, Sequence

from planner.errors import SasProblem
from planner.journal import Journal, blob_name_for, clean_prefix, job_id_for, journal_home
from planner.names import blob_name_problem
from planner.sas import SasUrl
from planner.storage import BlobStore, RemoteBlob, StoreError
from planner.verify.proofs import Proof, by_blocks, by_download, need_read

Level = Literal["fast", "blocks", "deep"]
LEVELS: tuple[Level, ...] = ("fast", "blocks", "deep")
# what proved a file: its size and stored MD5, its size alone (no MD5 stored), its committed block list
# against the local file's blocks, or its downloaded bytes' MD5
PROVED_BY = ("size+md5", "size", "blocks", "download")


@dataclass
class Difference:
    rel_path: str
    blob_name: str
    problem: str  # "missing" | "size differs" | "MD5 differs" | "block list differs: ..." | "downloaded bytes differ: ..."
    local_bytes: int
    remote_bytes: int | None = None
    level: str = "fast"  # the check that found it: "fast" (listing, size, stored MD5), "blocks" or "deep"


@dataclass
class FileCheck:
    """One file: `outcome` "ok" (proved, by `proved_by`), "differs", or "unproven" (the level asked could
    not prove it: `note` says why; size and stored MD5 matched)."""

    rel_path: str
    blob_name: str
    size: int
    outcome: str
    proved_by: str | None = None  # one of PROVED_BY when outcome is "ok"
    note: str | None = None


@dataclass
class VerifyResult:
    destination: str
    level: str = "fast"
    files_checked: int = 0
    files_matched: int = 0
    bytes_checked: int = 0
    md5_not_stored: int = 0  # blobs with no Content-MD5 (sent by another tool) proved by size only
    proved_by: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROVED_BY, 0))
    single_request: int = 0  # at "blocks": sent in one request, so size and stored MD5 stand (no block list)
    differences: list[Difference] = field(default_factory=list)
    differences_total: int = 0
    unproven: list[FileCheck] = field(default_factory=list)
    unproven_total: int = 0
    files: list[FileCheck] = field(default_factory=list)  # every file, up to `keep_files`

    @property
    def ok(self) -> bool:
        return self.differences_total == 0 and self.unproven_total == 0


@dataclass
class _Ctx:
    source: Path
    level: Level
    store: BlobStore
    known_md5: dict[tuple[str, int, int], str]
    reference_md5: Mapping[str, str] | None = None  # a bag's manifest (rel path -> MD5): the truth, if given


def verify(source: Path, sas: SasUrl, *, prefix: str = "", images_only: bool = False,
           include: Sequence[str] = (), exclude: Sequence[str] = (), home: Path | None = None,
           keep: int = 1000, store: BlobStore | None = None, level: Level = "fast", keep_files: int = 100_000,
           workers: int = 8, progress: Callable[[int, int], None] | None = None,
           reference_md5: Mapping[str, str] | None = None,
           original_names: Mapping[str, str] | None = None) -> VerifyResult:
    """Compare `source` with the container at `level`; `progress(files, bytes)` is called after each file
    (on the calling thread), for a line now and then during a long `--blocks` or `--deep` run.
    `reference_md5` (a bag's manifest, rel path -> MD5) is the truth each blob is compared with instead of
    the local files' MD5s; `original_names` (a bag's --map-names) gives the blob name of a mapped file."""
    from planner.scan.walk import source_folder
    from planner.transfer import Selector

    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    source = source_folder(source)
    if level != "fast" and sas.can("r") is False:
        raise need_read(level, sas.permissions)
    if sas.can("l") is False:
        raise SasProblem("Checking needs a URL that can list the container, and this one cannot "
                         f"(it allows: {sas.permissions}).",
                         hint="Ask the MegaDetector team to check on their side, or for a URL with list permission.")
    full_prefix = clean_prefix(sas.prefix, prefix)
    selector = Selector(images_only, include, exclude)
    own = store is None
    if store is None:
        from planner.azure import AzureBlobStore

        store = AzureBlobStore(sas)
    result = VerifyResult(destination="/".join(p for p in (sas.account_name, sas.container, full_prefix) if p),
                          level=level)
    try:
        ctx = _Ctx(source, level, store, _journal_md5s(source, sas, full_prefix, home), reference_md5)
        remote = _listing(store, full_prefix)
        seen: set[str] = set()
        work = ((e, n, _name_problem(n, seen)) for e in _selected(source, selector)
                for n in (blob_name_for((original_names or {}).get(e.rel_path, e.rel_path), full_prefix),))
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        try:
            while batch := list(islice(work, 256)):
                checks = pool.map(lambda item: _check(ctx, item[0], item[1], remote.get(item[1]), item[2]), batch)
                for (e, _name, _p), (check, diff) in zip(batch, checks):
                    _count(result, e.size, check, diff, keep, keep_files)
                    if progress is not None:
                        progress(result.files_checked, result.bytes_checked)
        finally:  # a refusal or Ctrl-C: no further download starts (those under way finish)
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        if own:
            store.close()
    return result


def _selected(source: Path, selector: Any) -> Iterator[Any]:
    from planner.scan.walk import iter_files

    for e in iter_files(source, on_problem=lambda *a: None):
        kind = getattr(e.kind, "value", str(e.kind)).lower()
        if selector.decide(e.rel_path, kind)[0]:
            yield e


def _count(result: VerifyResult, size: int, check: FileCheck, diff: Difference | None, keep: int,
           keep_files: int) -> None:
    result.files_checked += 1
    result.bytes_checked += size
    if len(result.files) < keep_files:
        result.files.append(check)
    if diff is not None:
        result.differences_total += 1
        if len(result.differences) < keep:
            result.differences.append(diff)
    elif check.outcome == "unproven":
        result.unproven_total += 1
        if len(result.unproven) < keep:
            result.unproven.append(check)
    else:
        result.files_matched += 1
        result.proved_by[check.proved_by or "size"] += 1
        if check.proved_by == "size":
            result.md5_not_stored += 1
        if check.note is not None and result.level == "blocks":
            result.single_request += 1


def _name_problem(name: str, seen: set[str]) -> str | None:
    """A name that cannot be in the container as it is: Azure refuses or changes it ("bad name"), or another
    local file maps to the same blob name (NFC/NFD twins: "name twin"), where no MD5 can settle it."""
    problem = "name twin" if name in seen else ("bad name" if blob_name_problem(name) else None)
    seen.add(name)
    return problem


def _check(ctx: _Ctx, e: Any, name: str, there: RemoteBlob | None,
           name_problem: str | None = None) -> tuple[FileCheck, Difference | None]:
    """One file at the level asked (runs on a worker thread; the store is thread-safe)."""
    def differs(problem: str, level: str) -> tuple[FileCheck, Difference]:
        return (FileCheck(e.rel_path, name, e.size, "differs", note=problem),
                Difference(e.rel_path, name, problem, e.size, there.size if there else None, level))

    if name_problem is not None:
        return differs(name_problem, "fast")

    if there is None:
        return differs("missing", "fast")
    if there.size != e.size:
        return differs("size differs", "fast")
    local_md5 = None
    if there.md5 is not None:
        local_md5 = _local_md5(ctx, e)
        if local_md5 != there.md5:
            return differs("MD5 differs", "fast")
    fast = "size+md5" if there.md5 is not None else "size"
    if ctx.level == "fast":
        return FileCheck(e.rel_path, name, e.size, "ok", fast), None
    if ctx.level == "blocks":
        proof = by_blocks(ctx.store, name, e.path, e.size)
    else:
        proof = by_download(ctx.store, name, e.size, local_md5 or _local_md5(ctx, e))
    return _after(proof, ctx.level, fast, differs, FileCheck(e.rel_path, name, e.size, "ok"))


def _after(proof: Proof, level: str, fast: str, differs: Any, check: FileCheck) -> tuple[FileCheck, Difference | None]:
    if proof.outcome in ("differs", "missing"):
        return differs(proof.note if proof.outcome == "differs" else "missing", level)
    if proof.outcome == "ok":
        check.proved_by = "blocks" if level == "blocks" else "download"
    elif proof.outcome == "fallback":  # sent in one request: what the fast level proved stands
        check.proved_by, check.note = fast, proof.note
    else:  # ids that say nothing about the bytes
        check.outcome, check.note = "unproven", proof.note
    return check, None


def _local_md5(ctx: _Ctx, e: Any) -> str:
    from planner.transfer import md5_file

    return ((ctx.reference_md5 or {}).get(e.rel_path) or ctx.known_md5.get((e.rel_path, e.size, e.mtime_ns))
            or md5_file(e.path)).lower()


def _listing(store: BlobStore, prefix: str) -> dict[str, RemoteBlob]:
    from planner.transfer import list_remote

    try:
        return list_remote(store, f"{prefix}/" if prefix else "", need_list=True)
    except StoreError as e:
        if e.kind == "sas" and e.code == "AuthorizationPermissionMismatch":
            raise SasProblem("Checking needs a URL that can list the container, and this one cannot.",
                             hint="Ask the MegaDetector team to check on their side, or for a URL with list "
                                  "permission.") from None
        raise e.error from None


def _journal_md5s(source: Path, sas: SasUrl, prefix: str, home: Path | None) -> dict[tuple[str, int, int], str]:
    path = (home or journal_home()) / "jobs" / f"{job_id_for(source, sas.account_url, sas.container, prefix)}.sqlite"
    if not path.exists():
        return {}
    out = {}
    with Journal.open_existing(path) as j:
        for row in j.iter_selected():
            if row.md5:
                out[(row.rel_path, row.size, row.mtime_ns)] = row.md5
    return out
