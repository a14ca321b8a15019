"""Container SAS URLs: parse, validate, and keep the signature out of everything we print or store."""

from __future__ import annotations

import re

REDACTED = "REDACTED"

# `sig=` in a query string, also percent-encoded (sig%3D) or as a JSON/log fragment. The value runs to
# the next separator a URL, a shell or a log line could put after it.
_SIG_RE = re.compile(r"(?i)(\bsig(?:=|%3D))[^&\s\"'<>#]*")


def redact(text: object) -> str:
    """`text` with every `sig=` value replaced by REDACTED. Safe on any string, URL or not."""
    return _SIG_RE.sub(lambda m: m.group(1) + REDACTED, str(text))
