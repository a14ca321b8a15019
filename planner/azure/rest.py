"""Put Blob and Put Block, the two requests an upload makes by the thousand, sent without the SDK's pipeline.

Issue 14 (cost per gigabyte): through `BlobClient.upload_blob` one request of an upload cost about 3.5 ms of
CPU here (the SDK's option handling, its pipeline of a dozen policies, requests' Session machinery), rclone's
about a third of that. These two requests are simple and fixed (Azure's REST API: PUT with x-ms-blob-type,
or PUT ?comp=block&blockid=), so they go straight to the connection pool the SDK's own transport uses: the
same requests adapter and session (connections, proxies from the environment, CA bundle), the same
timeouts, about 2 ms less CPU a request. Everything else (listing, block lists, commit, properties,
downloads) still goes through azure-storage-blob.

Failures are raised as the azure-core exceptions the SDK's transport would raise (HttpResponseError with the
status, x-ms-error-code and the service's message; ServiceRequestError / ServiceResponseError for the link),
so `planner.azure.errors.classify` sorts them exactly as before. No URL (it holds the SAS) is put in them.
"""

from __future__ import annotations

import re
import uuid
from base64 import b64encode
from typing import Any
from urllib.parse import quote

from planner.sas import SasUrl

_MESSAGE = re.compile(rb"<Message>(.*?)</Message>", re.S)


class RestPut:
    """Put Blob / Put Block for one container over a requests session (the SDK transport's own)."""

    def __init__(self, sas: SasUrl, session: Any, *, api_version: str, user_agent: str) -> None:
        self._session = session
        self._base = f"{sas.account_url}/{quote(sas.container)}/"
        self._query = sas.query
        self._fixed = {"x-ms-version": api_version, "User-Agent": user_agent}

    def put_blob(self, name: str, data: bytes, *, content_md5: bytes, content_type: str, overwrite: bool,
                 metadata: dict[str, str] | None, timeout: tuple[float, float]) -> None:
        md5 = b64encode(content_md5).decode()
        headers = {"x-ms-blob-type": "BlockBlob", "Content-MD5": md5, "x-ms-blob-content-md5": md5,
                   "x-ms-blob-content-type": content_type}
        if not overwrite:
            headers["If-None-Match"] = "*"
        for key, value in (metadata or {}).items():
            headers[f"x-ms-meta-{key}"] = value
        self._put(self._url(name), data, headers, timeout)

    def put_block(self, name: str, block_id: str, data: bytes, *, md5: bytes, timeout: tuple[float, float]) -> None:
        # the SDK sends base64(the id's text) on the wire and gives the text back from Get Block List
        wire = quote(b64encode(block_id.encode()).decode(), safe="")
        self._put(self._url(name, f"comp=block&blockid={wire}&"), data,
                  {"Content-MD5": b64encode(md5).decode()}, timeout)

    def _url(self, name: str, operation: str = "") -> str:
        return f"{self._base}{quote(name, safe='~/')}?{operation}{self._query}"

    def _put(self, url: str, data: bytes, headers: dict[str, str], timeout: tuple[float, float]) -> None:
        import requests

        headers.update(self._fixed)
        headers["x-ms-client-request-id"] = str(uuid.uuid4())
        headers["Content-Length"] = str(len(data))
        session = self._session
        request = requests.PreparedRequest()
        request.prepare(method="PUT", url=url, headers=headers, data=data)
        try:
            response = session.get_adapter(url).send(request, timeout=timeout, verify=session.verify,
                                                     proxies=session.proxies, stream=False)
        except requests.RequestException as err:
            raise _link_error(err) from None
        if response.status_code != 201:
            raise _answer_error(response)


def _link_error(err: BaseException) -> BaseException:
    """The azure-core exception RequestsTransport raises for the same requests failure (see its send())."""
    import requests
    from azure.core.exceptions import (ServiceRequestError, ServiceRequestTimeoutError, ServiceResponseError,
                                       ServiceResponseTimeoutError)
    from urllib3.exceptions import ProtocolError

    if isinstance(err, requests.exceptions.ConnectTimeout):
        return ServiceRequestTimeoutError(_safe(err), error=err)
    if isinstance(err, requests.exceptions.ReadTimeout):
        return ServiceResponseTimeoutError(_safe(err), error=err)
    if isinstance(err, requests.exceptions.ConnectionError):
        during = bool(err.args) and isinstance(err.args[0], ProtocolError)
        return (ServiceResponseError if during else ServiceRequestError)(_safe(err), error=err)
    return ServiceResponseError(_safe(err), error=err)


def _safe(err: BaseException) -> str:
    """The failure's words without any URL in them (urllib3 names the URL, SAS and all, in some)."""
    from planner.redact import redact

    return redact(re.sub(r"url: \S+", "url: (the blob's URL)", str(err)))


def _answer_error(response: Any) -> BaseException:
    """An HttpResponseError carrying what `classify` reads: status, Azure's error code, the first line of
    the service's message."""
    from azure.core.exceptions import HttpResponseError

    found = _MESSAGE.search(response.content or b"")
    message = found.group(1).decode("utf-8", "replace").strip() if found else (response.reason or "")
    code = response.headers.get("x-ms-error-code")
    error = HttpResponseError(message=f"{message}\nErrorCode:{code}" if code else message)
    error.status_code, error.reason, error.error_code = response.status_code, response.reason, code
    return error
