"""Put Blob and Put Block, the two requests an upload makes by the thousand, sent without the SDK's pipeline.

Issue 14 (cost per gigabyte): through `BlobClient.upload_blob` one request of an upload cost about 3.5 ms of
CPU here (the SDK's option handling, its pipeline of a dozen policies, requests' Session machinery), rclone's
about a third of that. These two requests are simple and fixed (Azure's REST API: PUT with x-ms-blob-type,
or PUT ?comp=block&blockid=), so they go straight to the connection pool the SDK's own transport uses: the
urllib3 pool of the same requests adapter and session (connections, proxies from the environment, CA
bundle), the same timeouts, without requests' per-request machinery (preparing, cookies, hooks, the
Response object): about 2.5 ms less CPU a request. Everything else (listing, block lists, commit, properties,
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
        self._pools: tuple[Any, bool] | None = None

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
        from urllib3 import Timeout

        headers.update(self._fixed)
        headers["x-ms-client-request-id"] = str(uuid.uuid4())
        headers["Content-Length"] = str(len(data))
        pool, target = self._pool(url)
        try:
            try:
                response = pool.urlopen("PUT", target, body=data, headers=headers, redirect=False,
                                        assert_same_host=False, preload_content=False, decode_content=False,
                                        retries=False, timeout=Timeout(connect=timeout[0], read=timeout[1]),
                                        chunked=False)
            except Exception as err:  # noqa: BLE001 - sorted into requests' kinds, as its adapter would
                raise _as_requests_error(err) from None
            try:
                body = response.read()
            except Exception as err:  # noqa: BLE001 - the answer cut off: as requests would say it
                raise _as_requests_error(err) from None
            finally:
                response.release_conn()
        except requests.RequestException as err:
            if isinstance(err, requests.ConnectionError):
                self._pools = None  # a closed pool or a proxy problem: look it up again next time
            raise _link_error(err) from None
        if response.status != 201:
            raise _answer_error(response.status, response.reason, response.headers, body)

    def _pool(self, url: str) -> tuple[Any, str]:
        """The connection pool requests' adapter keeps for this host (its proxy and TLS settings applied),
        and what to ask it for: the path, or the whole URL through a plain-HTTP proxy. Looked up once."""
        if self._pools is None:
            import requests

            session = self._session
            adapter = session.get_adapter(url)
            probe = requests.PreparedRequest()
            probe.prepare(method="PUT", url=url)
            pool = adapter.get_connection_with_tls_context(probe, session.verify, proxies=session.proxies)
            adapter.cert_verify(pool, url, session.verify, None)
            self._pools = (pool, adapter.request_url(probe, session.proxies) != probe.path_url)
        pool, whole_url = self._pools
        return pool, url if whole_url else url[url.index("/", url.index("//") + 2):]


def _as_requests_error(err: BaseException) -> BaseException:
    """What requests' HTTPAdapter.send raises for the same urllib3 failure (so the mapping below, the
    azure-core transport's, applies unchanged)."""
    import requests
    from urllib3.exceptions import (ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError,
                                    ReadTimeoutError, SSLError)
    from urllib3.exceptions import ProxyError as Urllib3ProxyError

    reason = err.reason if isinstance(err, MaxRetryError) and err.reason is not None else err
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return requests.exceptions.ConnectTimeout(reason)
    if isinstance(reason, ReadTimeoutError):
        return requests.exceptions.ReadTimeout(reason)
    if isinstance(reason, Urllib3ProxyError):
        return requests.exceptions.ProxyError(reason)
    if isinstance(reason, SSLError):
        return requests.exceptions.SSLError(reason)
    if isinstance(reason, (ProtocolError, OSError, NewConnectionError)) or isinstance(err, MaxRetryError):
        return requests.exceptions.ConnectionError(reason)
    return requests.exceptions.RequestException(reason)


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


def _answer_error(status: int, reason: str | None, headers: Any, body: bytes) -> BaseException:
    """An HttpResponseError carrying what `classify` reads: status, Azure's error code, the first line of
    the service's message."""
    from azure.core.exceptions import HttpResponseError

    found = _MESSAGE.search(body or b"")
    message = found.group(1).decode("utf-8", "replace").strip() if found else (reason or "")
    code = headers.get("x-ms-error-code")
    error = HttpResponseError(message=f"{message}\nErrorCode:{code}" if code else message)
    error.status_code, error.reason, error.error_code = status, reason, code
    return error
