"""A Ctrl-C handler must not import anything: it can land while the main thread is half-way through an
import (seen: `mdplan drive copy` stopped during rich's first import failed with a circular-import error,
'a bug in mdplan', instead of exit 130)."""

from __future__ import annotations

import signal

from planner.cli import output
from planner.cli.ui import install_stop_handlers
from planner.transfer.options import StopFlag


def test_the_consoles_exist_before_the_stop_handler_is_installed(monkeypatch):
    monkeypatch.setattr(output.err, "_console", None)
    monkeypatch.setattr(output.out, "_console", None)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop = StopFlag()
        install_stop_handlers(stop)
        assert output.err._console is not None and output.out._console is not None
        stop.transferring = True
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # the handler, called as Python would
        assert stop.soft.is_set()
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
