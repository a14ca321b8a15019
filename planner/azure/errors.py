"""What an Azure failure means: for the job (transient or not, the file's fault or the URL's) and for the
user (one line saying what to do). The only place that knows azure-core's exception types.

Rule (field links black out without a word): a failure is transient unless the service answered
something about the URL or the file. An answer we cannot parse, a stalled or reset connection, an
exception type we have never seen: all transient, so an outage pauses the job instead of failing files.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from planner.errors import MdplanError, NetworkUnreachable, PartialFailure, SasProblem
from planner.redact import redact
from planner.sas import SasUrl
from planner.storage import StoreError

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})

EXPIRY_SKEW = timedelta(minutes=15)
_NEW_URL = "Ask the MegaDetector team for a new URL."


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


def is_auth_failure(exc: BaseException) -> bool:
    """The signature itself was refused (expired, edited, revoked policy): see _is_auth_failure."""
    return _is_auth_failure(exc)


def is_permission_denied(exc: BaseException) -> bool:
    """The URL works but lacks the permission this request needs (403 AuthorizationPermissionMismatch)."""
    return _is_permission_denied(exc)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the link or the service failed, or we cannot tell that it did not.

    Only an HTTP answer with a status that is about the URL or the blob is permanent; so is a local
    OSError that is not a network one (a file that cannot be read will not get better by waiting).
    A 200 whose body does not parse (a black-holed link cut mid-answer: azure-core's DecodeError has
    no usable status) and exception types never seen before are transient.
    """
    from azure.core.exceptions import HttpResponseError

    if isinstance(exc, MdplanError):
        return isinstance(exc, NetworkUnreachable)
    if isinstance(exc, HttpResponseError):
        status = _status(exc)
        if status is None or status < 400:
            return True
        return status in TRANSIENT_STATUS or _is_checksum_mismatch(exc)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError):
        return _network_kind(exc) != "other"
    return True


def is_timeout(exc: BaseException) -> bool:
    return _network_kind(exc) == "timeout" or "timeout" in type(exc).__name__.lower()


def classify(exc: BaseException, sas: SasUrl | None, *, doing: str | None = None) -> StoreError:
    """The StoreError for any failure of one request (see planner.storage for the kinds)."""
    if isinstance(exc, StoreError):
        return exc
    status, code = _status(exc), error_code(exc)
    timeout = is_timeout(exc)
    if status is not None and status >= 400 and not isinstance(exc, MdplanError):
        if status in (409, 412):
            return StoreError("exists", map_azure_error(exc, sas, doing=doing), status=status, code=code)
        if _is_checksum_mismatch(exc):
            return StoreError("checksum", map_azure_error(exc, sas, doing=doing), status=status, code=code)
        if status == 404 and code != "ContainerNotFound":
            return StoreError("not_found", map_azure_error(exc, sas, doing=doing), status=status, code=code)
    if is_transient(exc):
        return StoreError("transient", map_azure_error(exc, sas, doing=doing), status=status, code=code,
                          timeout=timeout)
    mapped = map_azure_error(exc, sas, doing=doing)
    kind = "sas" if isinstance(mapped, SasProblem) else "refused"
    return StoreError(kind, mapped, status=status, code=code, timeout=timeout)


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
    if isinstance(exc, HttpResponseError) and status is not None and status >= 400:
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
            # the service's clock and this computer's may differ by minutes: a refusal right around
            # the expiry is the expiry, not a URL damaged while copying
            if sas is not None and sas.expiry is not None and sas.expiry <= now + EXPIRY_SKEW:
                return SasProblem(f"This URL expired on {_when(sas.expiry)}.",
                                  hint=_NEW_URL + " Everything sent so far is saved; run the same command "
                                  "with the new URL to carry on.")
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


