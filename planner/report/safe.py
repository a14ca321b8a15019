"""What redaction applies to in a report: text that may quote a URL, never a plain file name.

`planner.sas.redact` hides every `sig=` value. Error messages, notes and pause reasons can quote a
SAS URL, so they always go through it. A file or folder name is the user's own word: `cam_sig=3.jpg`
must show as `cam_sig=3.jpg`, so a name is redacted only when it holds a URL or a query string
(`://`, or `?`/`&` followed by `key=`), which is how a signature could end up in one.
"""

from __future__ import annotations

import re

from planner.redact import may_hold_signature, redact

_MAY_HOLD_SIG = may_hold_signature  # no match, nothing to redact (and redact() is skipped, fast)
_URL_BEARING = re.compile(r"://|[?&][^/?&=\s]*=").search


def redact_text(text: str) -> str:
    """Error text, notes, reasons: every signature hidden (skipped fast when there cannot be one)."""
    return redact(text) if _MAY_HOLD_SIG(text) else text


def redact_name(name: str) -> str:
    """A file, folder or destination name: as it is, unless it holds a URL or a query string."""
    return redact(name) if _MAY_HOLD_SIG(name) and _URL_BEARING(name) else name
