"""`mdplan check`: find out, before a days-long upload, whether a SAS URL will actually work.

It tries the URL the way an upload will use it (write, read, list, delete a tiny marker file) and
turns every answer into a verdict with the facts that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from planner.azure.client import container_client
from planner.azure.errors import error_code, is_auth_failure, is_permission_denied, map_azure_error
from planner.azure.sas_checks import UrlFacts, url_facts
from planner.clock import Clock, SystemClock
from planner.errors import ExitCode, MdplanError, NetworkUnreachable, SasProblem
from planner.redact import redact
from planner.sas import SasUrl

MARKER_DIR = ".mdplan"
MARKER_FILE = "check-marker.txt"


@dataclass
class CheckResult:
    """Whether uploading to this SAS URL will work, with every fact that decided it."""

    destination: str  # "account/container[/folder]"
    url: str  # the URL with sig=REDACTED
    verdict: Literal["ok", "not ok"]
    exit_code: int  # 0 uploading will work, 3 URL problem, 4 host unreachable
    reachable: bool
    container_exists: bool | None  # None: could not tell (every request refused)
    can_write: bool | None
    can_list: bool | None
    can_read: bool | None
    left_marker: bool  # a small marker file stays in the container (no delete permission)
    marker: str  # blob name of the probe / marker file
    expiry: datetime | None
    expiry_source: Literal["se", "policy"]
    time_left: float | None  # seconds until expiry (negative: expired); None when a policy decides
    permissions: str | None  # sp= as written in the URL
    policy_id: str | None  # si=
    problems: list[str] = field(default_factory=list)  # each a plain sentence with what to do
    warnings: list[str] = field(default_factory=list)
    advice: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


class _Stop(Exception):
    """Later probes would fail the same way (signature refused, container missing, host unreachable)."""

    def __init__(self, error: MdplanError, exc: BaseException) -> None:
        super().__init__(str(error))
        self.error = error
        self.exc = exc


class _Trial:
    """The requests of one check, and what each answer told."""

    def __init__(self, sas: SasUrl, client: Any, facts: UrlFacts) -> None:
        self.sas = sas
        self.client = client
        self.reachable = False
        self.container_exists: bool | None = None
        self.can_write: bool | None = False if facts.write_forbidden else None
        self.can_list: bool | None = None
        self.can_read: bool | None = None
        self.marker_there = False
        self.left_marker = False
        self.stop: _Stop | None = None

    def attempt(self, fn: Any, doing: str) -> bool:
        """True: allowed. False: the URL lacks this permission. _Stop: nothing else will work either."""
        from azure.core.exceptions import HttpResponseError

        try:
            fn()
        except HttpResponseError as exc:
            self.reachable = True
            code = error_code(exc)
            if is_permission_denied(exc):
                return False
            if code in ("BlobAlreadyExists", "BlobNotFound"):  # authorised; the answer is about the file
                self.container_exists = True
                return True
            if code == "ContainerNotFound":
                self.container_exists = False
            raise _Stop(map_azure_error(exc, self.sas, doing=doing), exc) from None
        except Exception as exc:  # noqa: BLE001 - network failures and anything odd become a verdict
            raise _Stop(map_azure_error(exc, self.sas, doing=doing), exc) from None
        self.reachable = True
        self.container_exists = True
        return True

    def run(self, marker: str, body: bytes) -> None:
        sas, client = self.sas, self.client
        try:
            if self.can_write is None:
                overwrite = sas.can("w") is not False  # create-only: an old marker answers 409, still allowed
                self.can_write = self.attempt(lambda: client.upload_blob(marker, body, overwrite=overwrite),
                                              "uploading")
                self.marker_there = bool(self.can_write)
            if self.marker_there:
                self.can_read = self.attempt(lambda: client.download_blob(marker).readall(), "reading files back")
            else:
                self.can_read = self.attempt(lambda: client.get_blob_client(marker).get_blob_properties(),
                                             "reading files back")
            listing_prefix = sas.blob_name(MARKER_DIR) + "/"
            self.can_list = self.attempt(
                lambda: list(next(client.list_blobs(name_starts_with=listing_prefix, results_per_page=1).by_page())),
                "listing the container")
            if self.marker_there:
                if sas.can("d") is False:
                    self.left_marker = True
                else:
                    self.left_marker = not self.attempt(lambda: client.delete_blob(marker), "deleting the test file")
        except _Stop as s:
            self.stop = s
            if self.marker_there:
                self.left_marker = True  # stopped before the delete
        finally:
            client.close()


def check(sas: SasUrl, *, clock: Clock | None = None, **client_kw: Any) -> CheckResult:
    """Try the URL the way an upload will use it: write (then delete) a tiny file, list, read.

    Writes only under `<folder>/.mdplan/`. Without delete permission the file stays at a fixed name
    (one small marker, overwritten by later checks) and the result says so. client_kw goes to
    `container_client()` (timeouts, transport).
    """
    now = (clock or SystemClock()).now()
    facts = url_facts(sas, now)
    marker = sas.blob_name(f"{MARKER_DIR}/{MARKER_FILE}")
    body = (f"Written by mdplan check at {now.isoformat(timespec='seconds')} to test that uploading works. "
            "Safe to delete.\n").encode()
    trial = _Trial(sas, container_client(sas, **client_kw), facts)
    trial.run(marker, body)
    return _verdict(sas, facts, trial, marker)


def _verdict(sas: SasUrl, facts: UrlFacts, t: _Trial, marker: str) -> CheckResult:
    problems, warnings = list(facts.problems), list(facts.warnings)
    sas_fault = bool(facts.problems)  # something about the URL itself stops uploading (exit 3)
    network_fault = False
    if t.stop is not None:
        if isinstance(t.stop.error, NetworkUnreachable) and not t.reachable:
            network_fault = True
            problems.append(str(t.stop.error))
        elif not (facts.expired and is_auth_failure(t.stop.exc)):  # the expiry line already explains it
            problems.append(str(t.stop.error))
            sas_fault = sas_fault or isinstance(t.stop.error, SasProblem)
            network_fault = network_fault or isinstance(t.stop.error, NetworkUnreachable)
    if t.can_write is False:
        problems.append(_no_write(sas, facts))
        sas_fault = True
    if t.left_marker:
        warnings.append(
            f"This URL does not allow deleting, so mdplan left one small test file, {marker}, in the container. "
            "It is harmless; the MegaDetector team can delete it.")
    if t.can_write and t.can_list is False:
        warnings.append(
            "This URL does not allow listing the container, so mdplan cannot skip files that are already "
            "there when an upload is restarted; it will send them again.")
    exit_code, advice = _exit_and_advice(sas_fault, network_fault, t)
    return CheckResult(
        destination=sas.display, url=sas.redacted, verdict="ok" if exit_code == 0 else "not ok",
        exit_code=exit_code, reachable=t.reachable, container_exists=t.container_exists, can_write=t.can_write,
        can_list=t.can_list, can_read=t.can_read, left_marker=t.left_marker, marker=marker, expiry=sas.expiry,
        expiry_source="se" if sas.expiry is not None else "policy", time_left=facts.time_left,
        permissions=sas.permissions, policy_id=sas.policy_id, problems=[redact(p) for p in problems],
        warnings=[redact(w) for w in warnings], advice=advice)


def _no_write(sas: SasUrl, facts: UrlFacts) -> str:
    if not sas.permissions:
        why = f"its access policy '{sas.policy_id}' on the server does not include writing"
    elif facts.write_forbidden:
        why = f"it only allows {permission_words(sas.permissions)}"
    else:
        why = f"the storage service refused a test upload; the URL allows {permission_words(sas.permissions)}"
    return f"This URL does not allow uploading ({why}). Ask the MegaDetector team for a URL that allows writing."


def _exit_and_advice(sas_fault: bool, network_fault: bool, t: _Trial) -> tuple[int, str]:
    if sas_fault:
        return int(ExitCode.SAS_PROBLEM), ("Uploading will not work with this URL. Fix the problem above (usually: "
                                           "ask the MegaDetector team for a new URL), then run mdplan check again.")
    if network_fault or not t.reachable:
        return int(ExitCode.NETWORK), ("Uploading cannot start: the storage host cannot be reached. Check the "
                                       "internet connection, then run mdplan check again.")
    if t.can_write and t.container_exists is not False:
        return int(ExitCode.OK), "Uploading will work with this URL."
    # e.g. an unexpected answer we could not classify
    return int(ExitCode.SAS_PROBLEM), "Uploading will not work with this URL; send this output to the MegaDetector team."


_PERMISSION_WORDS = {"r": "reading", "a": "adding", "c": "creating", "w": "writing", "d": "deleting", "l": "listing"}


def permission_words(permissions: str) -> str:
    words = [_PERMISSION_WORDS[p] for p in permissions if p in _PERMISSION_WORDS]
    if not words:
        return f"sp={permissions}"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
