"""The destination container: a configured SDK client, what Azure's errors mean for the user, and
`check()`, which finds out before a days-long upload whether a SAS URL will actually work.

Every command that talks to Azure (check, bandwidth, upload, verify) gets its client from
`container_client()` and turns failures into user errors with `map_azure_error()`; retry loops ask
`is_transient()`. The Azure SDK is imported inside functions so `mdplan --help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from planner.clock import Clock, SystemClock
from planner.errors import ExitCode, MdplanError, NetworkUnreachable, PartialFailure, SasProblem
from planner.sas import SasUrl, redact
from planner.units import format_duration

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

# Long enough for a satellite link or a congested rural uplink to open a connection and for the
# service to answer after the last byte of a 4 MiB block; short enough that a dead link is noticed
# within minutes rather than hours (mdplan's own retry loop takes over from there).
CONNECT_TIMEOUT_S = 30
READ_TIMEOUT_S = 120

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})

MARKER_DIR = ".mdplan"
MARKER_FILE = "check-marker.txt"
EXPIRY_WARNING = timedelta(days=3)

_NEW_URL = "Ask the MegaDetector team for a new URL."


def container_client(
    sas: SasUrl,
    *,
    retry_total: int = 0,
    connection_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
    transport: Any = None,
    **kw: Any,
) -> ContainerClient:
    """An azure-storage-blob ContainerClient for `sas`.

    The SDK's own retries are off by default (retry_total=0): mdplan retries itself, with its own
    backoff, progress and journal, so a dead link is reported instead of silently retried 10 times.
    Timeouts apply to the default transport; pass `transport` to supply your own.
    """
    from azure.storage.blob import ContainerClient

    from planner import __version__

    options: dict[str, Any] = {
        "retry_total": retry_total,
        "connection_timeout": connection_timeout,
        "read_timeout": read_timeout,
        "user_agent": f"mdplan/{__version__}",
        **kw,
    }
    if transport is not None:
        options["transport"] = transport
    return ContainerClient.from_container_url(sas.container_url, **options)


# ---- what an Azure failure means ----------------------------------------------------------------


def error_code(exc: BaseException) -> str | None:
    """Azure's error code (e.g. "AuthenticationFailed") as a plain string, if the service sent one."""
    code = getattr(exc, "error_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None:
            code = headers.get("x-ms-error-code")
    if code is None:
        return None
    return str(getattr(code, "value", code))


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _server_message(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc).split("\n", 1)[0]


def _is_auth_failure(exc: BaseException) -> bool:
    """The signature itself was refused (expired, edited, revoked policy), not a missing permission.

    Azure says AuthenticationFailed; Azurite says AuthorizationFailure with "failed to authenticate".
    """
    if _status(exc) != 403:
        return False
    code = error_code(exc) or ""
    return code == "AuthenticationFailed" or "failed to authenticate" in _server_message(exc).lower()


def _is_permission_denied(exc: BaseException) -> bool:
    return _status(exc) == 403 and error_code(exc) == "AuthorizationPermissionMismatch"


def _network_kind(exc: BaseException) -> str:
    text = " ".join(redact(e) for e in _chain(exc)).lower()
    if any(s in text for s in ("name or service not known", "getaddrinfo", "nodename nor servname",
                               "name resolution", "nameresolutionerror", "no address associated")):
        return "dns"
    if any(s in text for s in ("timed out", "timeout")):
        return "timeout"
    if any(s in text for s in ("refused", "actively refused")):
        return "refused"
    if any(s in text for s in ("reset", "aborted", "broken pipe", "remotedisconnected", "connection closed")):
        return "reset"
    return "other"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 10:
        seen.append(cur)
        inner = getattr(cur, "inner_exception", None)
        cur = inner if isinstance(inner, BaseException) else (cur.__cause__ or cur.__context__)
    return seen


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the connection broke, timed out or was refused, or the service said "busy"."""
    from azure.core.exceptions import (
        HttpResponseError,
        IncompleteReadError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, MdplanError):
        return isinstance(exc, NetworkUnreachable)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, IncompleteReadError)):
        return True
    if isinstance(exc, HttpResponseError):
        return _status(exc) in TRANSIENT_STATUS or _is_checksum_mismatch(exc)
    # Raw socket-level failures (ConnectionError also covers reset/refused/aborted); never other
    # OSErrors, which are usually a local file that cannot be read and will not get better.
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests
    except ImportError:  # pragma: no cover - requests comes with azure-core
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def map_azure_error(exc: BaseException, sas: SasUrl | None, *, doing: str | None = None) -> MdplanError:
    """The user-facing error (one redacted line saying what to do) for a failure talking to Azure.

    `sas` (may be None) lets messages name the host, container and expiry. `doing` names the
    operation for permission errors, e.g. "uploading" or "listing the container".
    """
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, MdplanError):
        return exc
    host = sas.account_url.split("://", 1)[-1].split("/", 1)[0] if sas else "the storage service"
    status = _status(exc)
    code = error_code(exc)
    if isinstance(exc, HttpResponseError) and status is not None:
        return _map_http(exc, sas, status, code, doing)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)) or is_transient(exc):
        kind = _network_kind(exc)
        during = isinstance(exc, ServiceResponseError)
        if kind == "dns":
            msg = f"Cannot find the storage address {host} (the name lookup failed)."
            hint = "Check the internet connection; if websites open, check the URL was copied whole."
        elif kind == "refused":
            msg = f"{host} refused the connection."
            hint = "Check the internet connection, proxy or firewall, then try again."
        elif kind == "timeout":
            msg = f"No answer from {host} in time" + (" after sending the request." if during else ".")
            hint = "The connection may be down or very slow; check it and try again."
        else:
            msg = f"The connection to {host} failed" + (" while waiting for an answer." if during else ".")
            hint = "Check the internet connection and try again."
        return NetworkUnreachable(msg, hint=hint)
    return NetworkUnreachable(
        f"Talking to {host} failed unexpectedly ({type(exc).__name__}: {_server_message(exc)[:200]}).",
        hint="Try again; if it keeps happening, run the command with --debug and report the output.",
    )


def _map_http(exc: BaseException, sas: SasUrl | None, status: int, code: str | None, doing: str | None) -> MdplanError:
    now = datetime.now(timezone.utc)
    msg_lower = _server_message(exc).lower()
    if status == 403:
        if _is_auth_failure(exc):
            if sas is not None and sas.expiry is not None and sas.expiry <= now:
                return SasProblem(f"This URL expired on {_when(sas.expiry)}.", hint=_NEW_URL)
            if "time frame" in msg_lower or "expir" in msg_lower:
                return SasProblem("The storage service says this URL is not valid at this time (it has expired).", hint=_NEW_URL)
            if sas is not None and sas.policy_id:
                return SasProblem(
                    f"The storage service refused this URL: its access policy '{sas.policy_id}' on the server "
                    "may have expired or been withdrawn, or the URL was changed while copying.",
                    hint="Copy the URL again in double quotes; if it is still refused, " + _NEW_URL[0].lower() + _NEW_URL[1:],
                )
            return SasProblem(
                "The storage service rejected this URL's signature: the URL was changed or cut while copying "
                "(for example its container name), or it has been withdrawn.",
                hint="Copy the URL again in double quotes; if it is still refused, " + _NEW_URL[0].lower() + _NEW_URL[1:],
            )
        if code == "AuthorizationPermissionMismatch":
            what = doing or "this operation"
            return SasProblem(
                f"This URL does not give permission for {what}.",
                hint="Ask the MegaDetector team for a URL that allows writing, listing and reading.",
            )
        if code == "AuthorizationSourceIPMismatch":
            return SasProblem(
                "This URL only works from certain internet addresses, and this computer's is not one of them.",
                hint="Ask the MegaDetector team for a URL that works from your network.",
            )
        if code == "AuthorizationProtocolMismatch":
            return SasProblem("This URL only works over https.", hint="Use the https:// URL exactly as it was sent.")
        if code in ("AuthorizationResourceTypeMismatch", "AuthorizationServiceMismatch"):
            return SasProblem("This URL does not give access to blob containers.", hint=_NEW_URL)
        return SasProblem(
            f"The storage account refused the request ({code or 'HTTP 403'}); it may only accept certain networks.",
            hint="Send this message to the MegaDetector team.",
        )
    if status == 404 and code == "ContainerNotFound":
        where = f"The container '{sas.container}' does not exist in storage account '{sas.account_name}'." if sas else (
            "The container named in the URL does not exist."
        )
        return SasProblem(
            where,
            hint="Check the URL was copied whole; if it was, ask the MegaDetector team to create the container "
            "or send the right URL.",
        )
    if status in TRANSIENT_STATUS:
        return NetworkUnreachable(
            f"The storage service kept answering {status} ({code or 'busy or unavailable'}).",
            hint="Try again later; mdplan carries on where it stopped.",
        )
    if _is_checksum_mismatch(exc):
        return NetworkUnreachable(
            "The data arrived damaged (its MD5 checksum did not match)" + (f" while {doing}." if doing else "."),
            hint="It is sent again; if this keeps happening, the connection or the disk is corrupting data.",
        )
    if status == 400 and code and ("QueryParameter" in code or "Authentication" in code):
        return SasProblem(f"The storage service rejected this URL as malformed ({code}).", hint=_NEW_URL)
    # Anything else is about one request or one file (409 exists, 412 changed, 413 too large, ...): it
    # must not stop a whole upload the way a SAS problem does.
    return PartialFailure(
        f"The storage service answered {status} ({code or _server_message(exc)[:120]})"
        + (f" while {doing}." if doing else "."),
        hint="If this keeps happening, send this message to the MegaDetector team.",
    )


def _is_checksum_mismatch(exc: BaseException) -> bool:
    """Azure says Md5Mismatch (or Crc64Mismatch); Azurite says InvalidOperation "contentMD5 doesn't match"."""
    if _status(exc) != 400:
        return False
    code = error_code(exc) or ""
    return code in ("Md5Mismatch", "Crc64Mismatch") or "md5 doesn't match" in _server_message(exc).lower()


def _when(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---- mdplan check ---------------------------------------------------------------------------------


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


def check(sas: SasUrl, *, clock: Clock | None = None, **client_kw: Any) -> CheckResult:
    """Try the URL the way an upload will use it: write (then delete) a tiny file, list, read.

    Writes only under `<folder>/.mdplan/`. Without delete permission the file stays at a fixed name
    (one small marker, overwritten by later checks) and the result says so. client_kw goes to
    `container_client()` (timeouts, transport).
    """
    from azure.core.exceptions import HttpResponseError

    now = (clock or SystemClock()).now().astimezone(timezone.utc)
    problems: list[str] = []
    warnings: list[str] = []
    sas_fault = False  # something about the URL itself stops uploading (exit 3)

    # What the URL alone says.
    time_left = (sas.expiry - now).total_seconds() if sas.expiry is not None else None
    expired_locally = time_left is not None and time_left <= 0
    if expired_locally:
        assert sas.expiry is not None and time_left is not None
        problems.append(f"This URL expired on {_when(sas.expiry)} ({format_duration(-time_left)} ago). {_NEW_URL}")
        sas_fault = True
    elif time_left is not None and time_left < EXPIRY_WARNING.total_seconds():
        warnings.append(
            f"This URL expires in {format_duration(time_left)}; an upload still running then will stop. "
            "If the upload will take longer, ask the MegaDetector team for a URL that lasts longer."
        )
    if sas.start is not None and sas.start > now + timedelta(minutes=5):
        problems.append(
            f"This URL only becomes valid on {_when(sas.start)}. If that date has passed, this computer's clock "
            "is wrong: set it right and try again."
        )
        sas_fault = True
    write_forbidden = sas.can("w") is False and sas.can("c") is False

    marker = sas.blob_name(f"{MARKER_DIR}/{MARKER_FILE}")
    body = (
        f"Written by mdplan check at {now.isoformat(timespec='seconds')} to test that uploading works. "
        "Safe to delete.\n"
    ).encode()
    client = container_client(sas, **client_kw)

    reachable = False
    container_exists: bool | None = None
    can_write: bool | None = False if write_forbidden else None
    can_list: bool | None = None
    can_read: bool | None = None
    marker_there = False
    left_marker = False

    def attempt(fn: Any, doing: str) -> bool:
        """True: allowed. False: the URL lacks this permission. _Stop: nothing else will work either."""
        nonlocal reachable, container_exists
        try:
            fn()
        except HttpResponseError as exc:
            reachable = True
            code = error_code(exc)
            if _is_permission_denied(exc):
                return False
            if code in ("BlobAlreadyExists", "BlobNotFound"):  # authorised; the answer is about the file
                container_exists = True
                return True
            if code == "ContainerNotFound":
                container_exists = False
            raise _Stop(map_azure_error(exc, sas, doing=doing), exc) from None
        except Exception as exc:  # noqa: BLE001 - network failures and anything odd become a verdict
            raise _Stop(map_azure_error(exc, sas, doing=doing), exc) from None
        reachable = True
        container_exists = True
        return True

    stop: _Stop | None = None
    try:
        if not write_forbidden:
            overwrite = sas.can("w") is not False  # with create-only, an old marker answers 409: still allowed
            can_write = attempt(lambda: client.upload_blob(marker, body, overwrite=overwrite), "uploading")
            marker_there = bool(can_write)
        if marker_there:
            can_read = attempt(lambda: client.download_blob(marker).readall(), "reading files back")
        else:
            can_read = attempt(lambda: client.get_blob_client(marker).get_blob_properties(), "reading files back")
        listing_prefix = sas.blob_name(MARKER_DIR) + "/"
        can_list = attempt(
            lambda: list(next(client.list_blobs(name_starts_with=listing_prefix, results_per_page=1).by_page())),
            "listing the container",
        )
        if marker_there:
            if sas.can("d") is False:
                left_marker = True
            else:
                left_marker = not attempt(lambda: client.delete_blob(marker), "deleting the test file")
    except _Stop as s:
        stop = s
    finally:
        client.close()

    network_fault = False
    if stop is not None:
        if isinstance(stop.error, NetworkUnreachable) and not reachable:
            network_fault = True
            problems.append(str(stop.error))
        elif not (expired_locally and _is_auth_failure(stop.exc)):  # the expiry line already explains it
            problems.append(str(stop.error))
            sas_fault = sas_fault or isinstance(stop.error, SasProblem)
            network_fault = network_fault or isinstance(stop.error, NetworkUnreachable)
        if marker_there:
            left_marker = True  # stopped before the delete

    if can_write is False:
        if not sas.permissions:
            why = f"its access policy '{sas.policy_id}' on the server does not include writing"
        elif write_forbidden:
            why = f"it only allows {_permission_words(sas.permissions)}"
        else:
            why = f"the storage service refused a test upload; the URL allows {_permission_words(sas.permissions)}"
        problems.append(
            f"This URL does not allow uploading ({why}). Ask the MegaDetector team for a URL that allows writing."
        )
        sas_fault = True
    if left_marker:
        warnings.append(
            f"This URL does not allow deleting, so mdplan left one small test file, {marker}, in the container. "
            "It is harmless; the MegaDetector team can delete it."
        )
    if can_write and can_list is False:
        warnings.append(
            "This URL does not allow listing the container, so mdplan cannot skip files that are already "
            "there when an upload is restarted; it will send them again."
        )

    if sas_fault:
        exit_code = int(ExitCode.SAS_PROBLEM)
        advice = "Uploading will not work with this URL. Fix the problem above (usually: ask the MegaDetector team for a new URL), then run mdplan check again."
    elif network_fault or not reachable:
        exit_code = int(ExitCode.NETWORK)
        advice = "Uploading cannot start: the storage host cannot be reached. Check the internet connection, then run mdplan check again."
    elif can_write and container_exists is not False:
        exit_code = int(ExitCode.OK)
        advice = "Uploading will work with this URL."
    else:  # e.g. an unexpected answer we could not classify
        exit_code = int(ExitCode.SAS_PROBLEM)
        advice = "Uploading will not work with this URL; send this output to the MegaDetector team."
    return CheckResult(
        destination=sas.display,
        url=sas.redacted,
        verdict="ok" if exit_code == 0 else "not ok",
        exit_code=exit_code,
        reachable=reachable,
        container_exists=container_exists,
        can_write=can_write,
        can_list=can_list,
        can_read=can_read,
        left_marker=left_marker,
        marker=marker,
        expiry=sas.expiry,
        expiry_source="se" if sas.expiry is not None else "policy",
        time_left=time_left,
        permissions=sas.permissions,
        policy_id=sas.policy_id,
        problems=[redact(p) for p in problems],
        warnings=[redact(w) for w in warnings],
        advice=advice,
    )


_PERMISSION_WORDS = {"r": "reading", "a": "adding", "c": "creating", "w": "writing", "d": "deleting", "l": "listing"}


def _permission_words(permissions: str) -> str:
    words = [_PERMISSION_WORDS[p] for p in permissions if p in _PERMISSION_WORDS]
    if not words:
        return f"sp={permissions}"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
