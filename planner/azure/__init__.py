"""The Azure boundary: the only package in mdplan that imports azure-* (import-linter holds it to that).

- `client`: one client factory, one transport, one set of timeouts.
- `errors`: what a failure means (transient or not, whose fault) and the user's line for it.
- `sas_checks`: what a URL says about itself before any request (expired, cannot write).
- `store`: `AzureBlobStore`, the planner.storage.BlobStore the transfer engine, verify and probe use.
- `check`: `mdplan check`, a dry run of an upload's requests against the real container.

The SDK itself is imported inside functions, so importing this package is cheap (`mdplan --help`).
"""

from planner.azure.check import MARKER_DIR, MARKER_FILE, CheckResult, check, permission_words
from planner.azure.client import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, container_client, make_transport
from planner.azure.errors import (classify, error_code, is_auth_failure, is_permission_denied, is_timeout,
                                  is_transient, map_azure_error)
from planner.azure.sas_checks import UrlFacts, preflight, url_facts
from planner.azure.store import AzureBlobStore

__all__ = [
    "AzureBlobStore", "CONNECT_TIMEOUT_S", "CheckResult", "MARKER_DIR", "MARKER_FILE", "READ_TIMEOUT_S",
    "UrlFacts", "check", "classify", "container_client", "error_code", "is_auth_failure", "is_permission_denied",
    "is_timeout", "is_transient", "make_transport", "map_azure_error", "permission_words", "preflight", "url_facts",
]
