"""Keep a SAS signature (`sig=`) out of every text mdplan prints or stores.

A leaf module: it imports nothing from planner, so `errors` (which redacts every message) and `sas`
(which parses URLs and raises errors) can both use it without importing each other.

What counts as a signature, and what does not:
- In a query string, the parameter whose *decoded* name is `sig`, whatever case or percent-encoding
  the name is written in (`sig=`, `SIG=`, `%73ig=`, `s%69g%3D`, `%2573ig%253D` in a URL inside a URL).
  A name starts a parameter only right after `?` or `&` (or `&amp;` from HTML), or after their
  percent-encoded forms (`%3F`, `%26`, any depth): `cam_sig=3` is the parameter `cam_sig`, not `sig`,
  and `/sig=3/` in a path is no parameter at all. The value is replaced up to the next separator.
  (A file name that itself reads like a query, `a&sig=b.jpg`, is redacted: it cannot be told apart.)
- A loose `sig=VALUE` at the start of a text or after a space or quote (a URL split while copying, a
  log line) when VALUE is made of the characters a signature is made of (base64, percent-encoded) up
  to the end of the word. In a file name such as `sig=3_IMG0001.jpg` the word goes on (`_`, `.jpg`).
- A key/value pair in a dumped dict or JSON: `"sig": "..."`, `('sig', '...')`.
File names therefore survive: `cam_sig=3_IMG0001.jpg` stays as it is in a manifest or a message.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

__all__ = ["REDACTED", "may_hold_signature", "redact", "redact_query", "decoded_name"]

REDACTED = "REDACTED"


def _letter(ch: str) -> str:
    """`ch` as is or percent-encoded any number of times (%73, %2573, ...), either case."""
    alternatives = {f"{ord(ch.lower()):02X}", f"{ord(ch.upper()):02X}"}
    return f"(?:{re.escape(ch)}|%(?:25)*(?:{'|'.join(sorted(alternatives))}))"


_PCT = "%(?:25)*"  # one '%', itself encoded as %25 any number of times
_NAME = _letter("s") + _letter("i") + _letter("g")
_EQUALS = f"(?:=|{_PCT}3D)"
# Where a query parameter's name begins: after ? or & (or &amp; from HTML), plain or percent-encoded.
_PARAM_START = f"(?:&amp;|[?&]|{_PCT}(?:3F|26))"
_IN_QUERY_RE = re.compile(f"(?i)({_PARAM_START}{_NAME}{_EQUALS})[^&\\s\"'<>#]*")
# A loose sig=VALUE (start of text, or after a space, quote or bracket): the value is the run of characters
# a signature is made of (base64, percent-encoded), redacted when the run ends the word (end of text, a
# space, a separator, or a full stop that ends a sentence). A run the word goes on after (`_IMG0001`,
# `.jpg`) is part of a file name, and a signature never has those characters.
_LOOSE_RE = re.compile(
    f"(?i)((?:^|(?<=[\\s\"'(<\\[{{,])){_NAME}{_EQUALS})[A-Za-z0-9+/%=]+"
    "(?=$|[\\s&\"'<>#,;)\\]}]|[.:!?]+(?:$|\\s))"
)
# A dumped dict, JSON or tuple: "sig": "...", 'sig': '...', ('sig', '...').
_PAIR_RE = re.compile(r"(?i)([\"']sig[\"']\s*[:,]\s*[\"'])[^\"']*")
# Cheap pre-filter: text without these letters (plain or encoded) cannot hold a signature.
_MAY_HOLD_RE = re.compile(f"(?i){_NAME}")


def may_hold_signature(text: str) -> bool:
    """False only when `text` cannot hold a signature in any form redact() knows (a fast pre-check)."""
    return _MAY_HOLD_RE.search(text) is not None


def redact(text: object) -> str:
    """`text` with every signature value replaced by REDACTED. Safe on any text, URL or not."""
    out = str(text)
    if not may_hold_signature(out):
        return out
    out = _IN_QUERY_RE.sub(lambda m: m.group(1) + REDACTED, out)
    out = _LOOSE_RE.sub(lambda m: m.group(1) + REDACTED, out)
    return _PAIR_RE.sub(lambda m: m.group(1) + REDACTED, out)


def decoded_name(raw: str, *, rounds: int = 4) -> str:
    """A query parameter's name as the service would read it: percent-decoded (up to `rounds` times,
    for a URL inside a URL), surrounding spaces dropped, lower case."""
    name = raw
    for _ in range(rounds):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.strip().lower()


def redact_query(query: str) -> str:
    """A query string (the part after '?') with the value of every parameter whose decoded name is
    `sig` replaced by REDACTED; every other parameter kept exactly as written."""
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        if eq and decoded_name(name) == "sig":
            parts.append(f"{name}={REDACTED}")
        elif not eq and decoded_name(part).startswith("sig="):  # the '=' itself encoded: %73ig%3D...
            parts.append(f"sig={REDACTED}")
        else:
            parts.append(part)
    return redact("&".join(parts))
