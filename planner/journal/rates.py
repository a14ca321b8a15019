"""The last rate measured for a destination (probe or upload), for ETAs before any byte is sent."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from planner.journal.home import journal_home, state_dir


def _rates_file(home: Path | None) -> Path:
    return (home or journal_home()) / "rates.json"


def _key(account_url: str, container: str) -> str:
    return f"{account_url.rstrip('/').lower()}/{container}"


def _entry(account_url: str, container: str, home: Path | None) -> object:
    return json.loads(_rates_file(home).read_text("utf-8")).get(_key(account_url, container))


def remember_rate(account_url: str, container: str, bits_per_second: float, method: str,
                  home: Path | None = None, rtt_ms: float | None = None) -> None:
    _store(home, _key(account_url, container),
           {"bits_per_second": float(bits_per_second), "method": method, "when": time.time(), "rtt_ms": rtt_ms})


def _store(home: Path | None, key: str, entry: dict) -> None:
    """Set one entry of rates.json (private to the user: 0600), written atomically; a failure is ignored,
    since a missing hint for the next ETA is not worth failing a job over."""
    path = _rates_file(home)
    try:
        data = json.loads(path.read_text("utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        data = {}
    data[key] = entry
    try:
        state_dir(home)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1))
        if os.name == "posix":
            os.chmod(tmp, 0o600)  # O_CREAT's mode applies only to a new file; an old .tmp keeps its own
        os.replace(tmp, path)
    except OSError:
        pass


def last_rtt_ms(account_url: str, container: str, home: Path | None = None) -> float | None:
    """The round trip measured with the last probe of this destination, if any."""
    try:
        entry = _entry(account_url, container, home)
        return float(entry["rtt_ms"]) if entry and entry.get("rtt_ms") is not None else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def last_rate(account_url: str, container: str, home: Path | None = None) -> tuple[float, str] | None:
    try:
        entry = _entry(account_url, container, home)
    except (OSError, ValueError, AttributeError):
        return None
    if not entry:
        return None
    return float(entry["bits_per_second"]), str(entry.get("method", "upload"))


DRIVE_KEY = "drive:this-computer"


def remember_drive_rates(copy_bps: float, write_bps: float | None, read_bps: float | None,
                         home: Path | None = None) -> None:
    """The rates of the last `mdplan drive copy` (bytes/s): the whole copy with its read-back, the writes
    and the read-backs alone. `estimate` uses the copy rate for the drive route."""
    _store(home, DRIVE_KEY, {"copy_bytes_per_second": float(copy_bps), "write_bytes_per_second": write_bps,
                             "read_bytes_per_second": read_bps, "when": time.time()})


def last_drive_copy_rate(home: Path | None = None) -> float | None:
    """Bytes/s of the last drive copy on this computer, if one was measured."""
    try:
        entry = json.loads(_rates_file(home).read_text("utf-8")).get(DRIVE_KEY)
        return float(entry["copy_bytes_per_second"]) if entry else None
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return None
