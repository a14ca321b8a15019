"""Container SAS URLs: parse, validate, and keep the signature out of everything we print or store.

A SAS URL is the user's password to the MegaDetector team's container. We read it once (argument,
stdin or MDPLAN_SAS), check it is shaped like a container SAS, and from then on only print
`SasUrl.redacted` / `SasUrl.display`. The raw query (with `sig`) goes to the Azure SDK and nowhere else.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TextIO
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit

from planner.errors import BadInput
from planner.redact import REDACTED, decoded_name, redact, redact_query

__all__ = [
    "ENV_VAR", "REDACTED", "SasUrl", "parse_sas_url", "redact", "redact_query", "resolve_sas_argument",
]  # redact and REDACTED stay importable from here: many modules and tests do

ENV_VAR = "MDPLAN_SAS"
# Hosts (exact names or addresses, comma-separated) that may be reached over plain http although they are
# not this computer: the benchmark lab's Azurite sits in a network namespace on a 10.x address. Never
# needed for real uploads; a user who sets it sends the signature unencrypted to those hosts.
INSECURE_HTTP_ENV = "MDPLAN_INSECURE_HTTP_HOSTS"
EMULATOR_ACCOUNT = "devstoreaccount1"
# Azure Blob Storage endpoints of the public, US Government and China clouds, and DNS-zone endpoints
# (acct.z01.blob.storage.azure.net). Private endpoints (acct.privatelink.blob.core.windows.net) end the
# same way. Azure Stack and custom domains do not: they get a warning, not a refusal.
AZURE_BLOB_SUFFIXES = (
    ".blob.core.windows.net",
    ".blob.core.usgovcloudapi.net",
    ".blob.core.chinacloudapi.cn",
    ".blob.storage.azure.net",
)


# What the user is told to do whenever the URL itself is wrong.
_COPY_AGAIN = "Copy the whole URL the MegaDetector team sent you again and put it in double quotes"
_EXAMPLE = "https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=..."  # no "sig=": redact() would eat it
_NO_SAS = (
    f"No SAS URL given. Put it in double quotes after the command (mdplan check \"{_EXAMPLE}\"), "
    f"give - to read it from the next line of input, or set the environment variable {ENV_VAR}."
)


@dataclass(frozen=True)
class SasUrl:
    """A parsed, validated container SAS URL. Never print `query` or `container_url`: they hold `sig`."""

    account_url: str  # https://acct.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1
    account_name: str
    container: str
    prefix: str  # blob-name prefix (destination folder) from the URL path; '' if none; no edge '/'
    query: str = field(repr=False)  # the SAS token, signature included
    expiry: datetime | None  # from se=, UTC; None when a stored access policy (si=) decides
    permissions: str | None  # from sp=, e.g. "racwdl"; None when a stored access policy decides
    policy_id: str | None  # si=
    is_emulator: bool  # path-style URL (Azurite): account name is the first path segment
    start: datetime | None = None  # st=, UTC
    resource: str | None = None  # sr= ("c" container, "d" directory); None for an account SAS
    warnings: tuple[str, ...] = ()  # one line each, for the user (e.g. the host is no Azure storage address)

    @property
    def container_url(self) -> str:
        """The container URL with the SAS, for the Azure SDK only (holds the signature)."""
        return f"{self.account_url}/{quote(self.container)}?{self.query}"

    @property
    def redacted(self) -> str:
        """The whole URL as given (folder included) with sig=REDACTED: safe to print and store."""
        folder = "/" + quote(self.prefix, safe="/") if self.prefix else ""
        return redact(f"{self.account_url}/{quote(self.container)}{folder}?{redact_query(self.query)}")

    @property
    def display(self) -> str:
        """Short human name: "account/container" or "account/container/prefix"."""
        base = f"{self.account_name}/{self.container}"
        return f"{base}/{self.prefix}" if self.prefix else base

    def can(self, letter: str) -> bool | None:
        """Does the URL grant permission `letter` (r, a, c, w, d, l)? None: a stored policy decides."""
        if self.permissions is not None:
            return letter in self.permissions
        return None

    def blob_name(self, relative: str) -> str:
        """The blob name for a '/'-separated path relative to the destination folder."""
        relative = relative.strip("/")
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def __str__(self) -> str:
        return self.redacted


_BLOB_HOST_RE = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.(?:privatelink\.)?blob\.", re.IGNORECASE)
_CONTAINER_RE = re.compile(r"^(?:\$root|\$web|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$")
_PERMISSIONS_RE = re.compile(r"^[a-z]+$")
_QUOTES = "\"'`“”‘’<>"
# Other clouds' signed URLs, by host and by the names of their signature parameters.
_OTHER_CLOUD_HOSTS = (
    ("amazonaws.com", "an Amazon S3"),
    ("googleapis.com", "a Google Cloud Storage"),
    ("storage.cloud.google.com", "a Google Cloud Storage"),
    ("digitaloceanspaces.com", "a DigitalOcean Spaces"),
    ("r2.cloudflarestorage.com", "a Cloudflare R2"),
    ("backblazeb2.com", "a Backblaze B2"),
    ("wasabisys.com", "a Wasabi"),
)
_OTHER_CLOUD_PARAMS = (
    (("x-amz-", "awsaccesskeyid"), "an Amazon S3 (or S3-compatible)"),
    (("x-goog-", "googleaccessid"), "a Google Cloud Storage"),
)


def parse_sas_url(text: str, *, insecure_http_hosts: Collection[str] | None = None) -> SasUrl:
    """Parse and check a container SAS URL; raises BadInput (one line, what to do) if it is not one.

    Plain http is accepted only for this computer (the emulator, the tests) and for the hosts in
    `insecure_http_hosts` (None: the comma-separated list in the environment variable
    MDPLAN_INSECURE_HTTP_HOSTS, which only the benchmark lab sets)."""
    if insecure_http_hosts is None:
        insecure_http_hosts = [h for h in os.environ.get(INSECURE_HTTP_ENV, "").split(",") if h.strip()]
    allowed = frozenset(h.strip().strip("[]").lower() for h in insecure_http_hosts)
    try:
        return _parse(text, allowed)
    except BadInput:
        raise
    except (ValueError, UnicodeError) as e:  # a last guard: odd text must still give one plain line
        raise BadInput(f"That is not a usable SAS URL ({type(e).__name__}). {_COPY_AGAIN}.") from None


def _parse(text: str, insecure_http_hosts: frozenset[str]) -> SasUrl:
    parts = urlsplit(_unwrap(text))
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port  # ValueError on a bad port: caught by parse_sas_url
    _check_address(parts.netloc, scheme, host, parts.query, insecure_http_hosts)

    segments = [unquote(p) for p in parts.path.split("/") if p]
    account, path_style = _account(host, segments)
    container, prefix = _container_and_prefix(segments, 1 if path_style else 0)
    query = parts.query
    params = _query_params(query)
    resource = _check_resource(params)
    permissions = params.get("sp") or None
    if permissions is not None and not _PERMISSIONS_RE.match(permissions):
        raise BadInput(f"The permissions (sp=) in the URL are damaged. {_COPY_AGAIN}.")
    policy_id = params.get("si") or None
    if permissions is None and policy_id is None:
        raise BadInput(
            "The URL has neither permissions (sp=) nor an access policy name (si=), so the storage service "
            f"will refuse it. {_COPY_AGAIN}; if that does not help, ask the MegaDetector team for a new URL."
        )
    expiry = _parse_time(params.get("se"), "expiry date (se=)")
    start = _parse_time(params.get("st"), "start date (st=)")

    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    account_url = f"{scheme}://{netloc}" + (f"/{quote(account)}" if path_style else "")
    return SasUrl(
        account_url=account_url,
        account_name=account,
        container=container,
        prefix=prefix,
        query=query,
        expiry=expiry,
        permissions=permissions,
        policy_id=policy_id,
        is_emulator=path_style,
        start=start,
        resource=resource,
        warnings=_host_warnings(host, insecure_http_hosts),
    )


def _unwrap(text: str) -> str:
    """The URL out of what was pasted (quotes, a sentence's full stop, HTML's &amp;), or BadInput."""
    if not isinstance(text, str):
        raise BadInput(_NO_SAS)
    s = text.strip()
    while len(s) >= 2 and s[0] in _QUOTES and s[-1] in _QUOTES:
        s = s[1:-1].strip()
    s = s.strip(_QUOTES).rstrip(".,;:)]").strip()
    if not s:
        raise BadInput(_NO_SAS)
    if any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in s):
        raise BadInput(f"The URL contains invisible control characters. {_COPY_AGAIN}.")
    s = s.replace("&amp;", "&")  # copied out of an HTML e-mail

    scheme, sep, _ = s.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise BadInput(f"That is not a SAS URL: it should start with https://, like {_EXAMPLE} {_COPY_AGAIN}.")
    if any(ch.isspace() for ch in s):
        raise BadInput(
            "The URL contains a space or a line break, so it was probably split while copying. "
            f"{_COPY_AGAIN}, as one line."
        )
    return s


def _check_address(netloc: str, scheme: str, host: str, query: str, insecure_http_hosts: frozenset[str]) -> None:
    """Refuse, before anything is sent: no host, a user name before '@', another cloud, or plain http
    to anything but this computer."""
    if "@" in netloc:  # https://acct.blob.core.windows.net@evil.example.com/ goes to evil.example.com
        raise BadInput(
            f"The URL has text and an '@' before the storage address, so it would go to {host or 'nowhere'}, "
            f"not to where it seems to. MegaDetector URLs have no '@' in the address. {_COPY_AGAIN}."
        )
    if not host:
        raise BadInput(f"The URL has no storage address after {scheme}://. {_COPY_AGAIN}.")
    other = _other_cloud(host, query)
    if other:
        raise BadInput(
            f"This is not an Azure Blob container URL: it looks like {other} link. mdplan uploads only to the "
            f"MegaDetector team's Azure Blob Storage container; ask them for its URL (it looks like {_EXAMPLE})."
        )
    if scheme == "http" and not (_is_loopback(host) or host.lower() in insecure_http_hosts):
        raise BadInput(
            f"The URL starts with http://, which would send your images and this password unencrypted to {host}. "
            "MegaDetector URLs start with https:// (plain http is only for an emulator on this computer). "
            + _COPY_AGAIN + "."
        )


def _other_cloud(host: str, query: str) -> str | None:
    """'an Amazon S3' and the like when the URL is another cloud's signed link, else None."""
    name = host.lower().rstrip(".")
    for domain, what in _OTHER_CLOUD_HOSTS:
        if name == domain or name.endswith("." + domain):
            return what
    keys = {decoded_name(part.partition("=")[0]) for part in query.split("&") if part}
    for prefixes, what in _OTHER_CLOUD_PARAMS:
        if "sig" not in keys and any(key.startswith(prefixes) for key in keys):
            return what
    return None


def _account(host: str, segments: list[str]) -> tuple[str, bool]:
    """(account name, path_style): acct.blob.core.windows.net, or an emulator's /ACCOUNT/ path."""
    account_match = _BLOB_HOST_RE.match(host)
    if account_match:
        return account_match["account"].lower(), False
    if _is_local_host(host) or (segments and segments[0] == EMULATOR_ACCOUNT):
        account = segments[0] if segments else ""
        if not account:
            raise BadInput(
                f"The URL names no storage account after {host} (an emulator URL looks like "
                f"http://127.0.0.1:10000/{EMULATOR_ACCOUNT}/CONTAINER?sv=...). {_COPY_AGAIN}."
            )
        return account, True
    return host.split(".")[0], False  # a custom domain in front of blob storage: the container comes first


def _container_and_prefix(segments: list[str], container_index: int) -> tuple[str, str]:
    if len(segments) <= container_index:
        raise BadInput(f"The URL has no container name after the address (it should look like {_EXAMPLE}). {_COPY_AGAIN}.")
    container = segments[container_index]
    if not _CONTAINER_RE.match(container):
        raise BadInput(
            f"'{container[:70]}' cannot be a container name (3 to 63 lower-case letters, digits and single "
            f"hyphens), so the URL was changed or cut. {_COPY_AGAIN}."
        )
    folder = segments[container_index + 1 :]
    if any(seg in (".", "..") for seg in folder):
        raise BadInput("The folder path after the container contains '.' or '..'; use a plain folder name like /site-A.")
    return container, "/".join(folder)


def _query_params(query: str) -> dict[str, str]:
    """The SAS parameters by lower-case name. Each name must be written plainly and only once, so what
    mdplan checks (and redacts) is what the service will read."""
    if not query:
        raise BadInput(
            "The URL has no access part (the text after '?' that starts with sv=), so it lets nobody in. "
            f"{_COPY_AGAIN}."
        )
    seen: set[str] = set()
    for part in query.split("&"):
        raw = part.partition("=")[0]
        if raw != unquote_plus(raw):  # %73ig= is sig= to the service; never written by Azure's tools
            raise BadInput(
                "A name in the URL's access part is written in %-codes (like %73ig= for sig=), which Azure's "
                f"own tools never do, so the URL was changed after it was made. {_COPY_AGAIN}."
            )
        if part and raw.lower() in seen:
            raise BadInput(f"The URL has {raw.lower()[:12]}= twice, so it was pasted twice or edited. {_COPY_AGAIN}.")
        seen.add(raw.lower())
    params = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
    if not params.get("sig"):
        if "&" not in query:
            first = query.split("=", 1)[0][:10]
            raise BadInput(
                f"The URL stops right after '{first}=...': the rest was cut off at the first '&', which the "
                "command prompt treats as the end of a command. Put the whole URL in double quotes: "
                f"mdplan check \"{_EXAMPLE}\"."
            )
        raise BadInput(
            "The URL has no signature (the part starting with sig), so it was cut short or edited. "
            f"{_COPY_AGAIN}; if it still ends without one, ask the MegaDetector team for a new URL."
        )
    return params


def _check_resource(params: dict[str, str]) -> str | None:
    """sr= (c container, d directory), None for an account SAS for blobs; BadInput for anything else."""
    resource = params.get("sr")
    if resource is None:
        if "srt" not in params:  # neither a service SAS nor an account SAS
            raise BadInput(f"The URL has no sr= part, so it is incomplete. {_COPY_AGAIN}.")
        if "ss" in params and "b" not in params["ss"]:
            raise BadInput(
                "This URL is for another kind of Azure storage (not blob containers). "
                "Ask the MegaDetector team for a container URL."
            )
    elif resource not in ("c", "d"):
        what = {"b": "a single file", "bs": "a file snapshot", "bv": "a file version"}.get(resource, f"sr={resource[:10]}")
        raise BadInput(
            f"This URL gives access to {what}, not to a container, so images cannot be uploaded with it. "
            "Ask the MegaDetector team for a container URL."
        )
    return resource


def _host_warnings(host: str, insecure_http_hosts: frozenset[str]) -> tuple[str, ...]:
    """A warning when the host is no Azure Blob Storage endpoint (Azure Stack, a private or custom name
    may be right, so it is not refused)."""
    name = host.lower().rstrip(".")
    if _is_loopback(host) or name in insecure_http_hosts or name.endswith(AZURE_BLOB_SUFFIXES):
        return ()
    return (
        f"{host} is not an Azure Blob Storage address (those end in .blob.core.windows.net); go on only if "
        "the MegaDetector team gave you this address, otherwise ask them for their container URL.",
    )


def _parse_time(value: str | None, what: str) -> datetime | None:
    if value is None or value == "":
        return None
    text = value.strip().replace(" ", "+")  # an unencoded '+' in an offset arrives as a space
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"The {what} in the URL is not a date, so the URL was damaged. {_COPY_AGAIN}.") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _is_loopback(host: str) -> bool:
    """This computer: localhost, 127.0.0.0/8, ::1 (also written as an IPv4-mapped address)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _is_local_host(host: str) -> bool:
    """An address an emulator may sit behind: an IP literal, localhost, or a one-word host name."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host.lower() == "localhost" or "." not in host


def resolve_sas_argument(
    arg: str | None,
    *,
    stdin: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    required: bool = True,
    warn: Callable[[str], None] | None = None,
) -> SasUrl | None:
    """The SAS URL from the command line: the argument, '-' (one line of stdin) or env MDPLAN_SAS.

    Reading it from stdin or the environment keeps it out of shell history and out of the process list.
    Returns None only when nothing was given and required is False. The URL's warnings go to `warn`
    (None: one "mdplan: warning:" line each on stderr).
    """
    env = os.environ if environ is None else environ
    hosts = [h for h in env.get(INSECURE_HTTP_ENV, "").split(",") if h.strip()]
    if arg is None:
        value = env.get(ENV_VAR, "")
        if not value.strip():
            if required:
                raise BadInput(_NO_SAS)
            return None
        try:
            sas = parse_sas_url(value, insecure_http_hosts=hosts)
        except BadInput as e:
            raise BadInput(f"In {ENV_VAR}: {e}") from None
    elif arg.strip() == "-":
        sas = parse_sas_url(_read_stdin(sys.stdin if stdin is None else stdin), insecure_http_hosts=hosts)
    else:
        sas = parse_sas_url(arg, insecure_http_hosts=hosts)
    for line in sas.warnings:
        if warn is None:
            print(f"mdplan: warning: {line}", file=sys.stderr, flush=True)
        else:
            warn(line)
    return sas


def _read_stdin(stream: TextIO) -> str:
    for line in stream:
        # A url.txt saved "with BOM" starts with U+FEFF, which a Windows console reading the file as
        # cp1252 sees as 'ï»¿'; a UTF-16 ("Unicode") file comes through with NULs between letters.
        line = line.lstrip("\ufeff").removeprefix("ï»¿")
        if "\x00" in line:
            raise BadInput("The file with the URL is saved as Unicode (UTF-16). Save it as UTF-8 (in Notepad: "
                           "Save as, Encoding: UTF-8), or in PowerShell run: Get-Content url.txt | mdplan check -")
        if line.strip():
            return line
    raise BadInput(
        "Nothing arrived on standard input: with '-', mdplan reads the SAS URL from the next line of input "
        "(for example: mdplan check - < url.txt)."
    )
