"""`mdplan verify`: is every local file that should be in the container there, whole and unchanged?

Lists the container once (needs list permission: an intake URL without it gets a clear exit 3) and
compares each file that the upload would send: missing, different size, different MD5. Local MD5s
come from the job journal when the file is unchanged since it was sent, else the file is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from planner.errors import SasProblem
from planner.journal import Journal, blob_name_for, clean_prefix, job_id_for, journal_home
from planner.sas import SasUrl
from planner.storage import BlobStore, RemoteBlob, StoreError


@dataclass
class Difference:
    rel_path: str
    blob_name: str
    problem: str  # "missing" | "size differs" | "MD5 differs"
    local_bytes: int
    remote_bytes: int | None = None


@dataclass
class VerifyResult:
    destination: str
    files_checked: int = 0
    files_matched: int = 0
    bytes_checked: int = 0
    md5_not_stored: int = 0  # blobs with no Content-MD5 (sent by another tool): compared by size only
    differences: list[Difference] = field(default_factory=list)
    differences_total: int = 0

    @property
    def ok(self) -> bool:
        return self.differences_total == 0


def verify(source: Path, sas: SasUrl, *, prefix: str = "", images_only: bool = False,
           include: Sequence[str] = (), exclude: Sequence[str] = (), home: Path | None = None,
           keep: int = 1000, store: BlobStore | None = None,
           reference_md5: Mapping[str, str] | None = None,
           original_names: Mapping[str, str] | None = None) -> VerifyResult:
    """`reference_md5` (a bag's manifest, rel path -> MD5) is the truth each blob is compared with,
    instead of the local files' MD5s."""
    from planner.scan import iter_files, source_folder
    from planner.transfer import Selector, md5_file

    source = source_folder(source)
    if sas.can("l") is False:
        raise SasProblem("Checking needs a URL that can list the container, and this one cannot "
                         f"(it allows: {sas.permissions}).",
                         hint="Ask the MegaDetector team to check on their side, or for a URL with list permission.")
    full_prefix = clean_prefix(sas.prefix, prefix)
    selector = Selector(images_only, include, exclude)
    known_md5 = _journal_md5s(source, sas, full_prefix, home)
    remote = _listing(store, sas, full_prefix)

    result = VerifyResult(destination="/".join(p for p in (sas.account_name, sas.container, full_prefix) if p))
    for e in iter_files(source, on_problem=lambda *a: None):
        kind = getattr(e.kind, "value", str(e.kind)).lower()
        selected, _ = selector.decide(e.rel_path, kind)
        if not selected:
            continue
        name = blob_name_for((original_names or {}).get(e.rel_path, e.rel_path), full_prefix)
        result.files_checked += 1
        result.bytes_checked += e.size
        there = remote.get(name)
        problem = None
        if there is None:
            problem = "missing"
        elif there.size != e.size:
            problem = "size differs"
        elif there.md5 is None:
            result.md5_not_stored += 1
        else:
            local = ((reference_md5 or {}).get(e.rel_path) or known_md5.get((e.rel_path, e.size, e.mtime_ns))
                     or md5_file(e.path)).lower()
            if local != there.md5:
                problem = "MD5 differs"
        if problem:
            result.differences_total += 1
            if len(result.differences) < keep:
                result.differences.append(Difference(e.rel_path, name, problem, e.size,
                                                     there.size if there else None))
        else:
            result.files_matched += 1
    return result


def _listing(store: BlobStore | None, sas: SasUrl, prefix: str) -> dict[str, RemoteBlob]:
    from planner.transfer import list_remote

    own = store is None
    if store is None:
        from planner.azure import AzureBlobStore

        store = AzureBlobStore(sas)
    try:
        return list_remote(store, f"{prefix}/" if prefix else "", need_list=True)
    except StoreError as e:
        if e.kind == "sas" and e.code == "AuthorizationPermissionMismatch":
            raise SasProblem("Checking needs a URL that can list the container, and this one cannot.",
                             hint="Ask the MegaDetector team to check on their side, or for a URL with list "
                                  "permission.") from None
        raise e.error from None
    finally:
        if own:
            store.close()


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
