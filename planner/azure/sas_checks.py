"""What a SAS URL says about itself, before any request: expired, not yet valid, cannot write.

One set of pre-checks for every command (upload, bandwidth, check), so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from planner.errors import SasProblem
from planner.sas import SasUrl
from planner.units import format_duration

EXPIRY_WARNING = timedelta(days=3)
NEW_URL = "Ask the MegaDetector team for a new URL."


def when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class UrlFacts:
    """What the URL alone says at `now`: each problem and warning a plain sentence."""

    time_left: float | None  # seconds until expiry (negative: expired); None when a policy decides
    expired: bool
    write_forbidden: bool  # sp= names neither write nor create
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def url_facts(sas: SasUrl, now: datetime) -> UrlFacts:
    now = now.astimezone(timezone.utc)
    time_left = (sas.expiry - now).total_seconds() if sas.expiry is not None else None
    facts = UrlFacts(time_left=time_left, expired=time_left is not None and time_left <= 0,
                     write_forbidden=sas.can("w") is False and sas.can("c") is False)
    if facts.expired:
        assert sas.expiry is not None and time_left is not None
        facts.problems.append(f"This URL expired on {when(sas.expiry)} ({format_duration(-time_left)} ago). {NEW_URL}")
    elif time_left is not None and time_left < EXPIRY_WARNING.total_seconds():
        facts.warnings.append(
            f"This URL expires in {format_duration(time_left)}; an upload still running then will stop. "
            "If the upload will take longer, ask the MegaDetector team for a URL that lasts longer.")
    if sas.start is not None and sas.start > now + timedelta(minutes=5):
        facts.problems.append(
            f"This URL only becomes valid on {when(sas.start)}. If that date has passed, this computer's clock "
            "is wrong: set it right and try again.")
    return facts


def preflight(sas: SasUrl, now: datetime, *, write: bool = True) -> None:
    """Refuse before any byte is sent when the URL itself says the work cannot be done."""
    if sas.expiry is not None and sas.expiry <= now.astimezone(timezone.utc):
        raise SasProblem(f"This SAS URL expired on {when(sas.expiry)}.",
                         hint="Ask the MegaDetector team for a new URL, then run the same command with it.")
    if write and sas.permissions is not None and not ({"w", "c"} & set(sas.permissions)):
        raise SasProblem(f"This SAS URL cannot write (it only allows: {sas.permissions}). Nothing was sent.",
                         hint="Ask the MegaDetector team for an upload (write) URL.")
