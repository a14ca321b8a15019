"""Upload bandwidth: how fast bytes reach *this* container, measured in seconds rather than guessed.

Three probes answer with the same `Measurement` (bits/s, round-trip time, per-file overhead, how it
was measured, how long it took, how many bytes it used, and how far to trust it):

- **destination** (the default when a SAS URL is known, `destination`): uploads random,
  incompressible blocks to the container itself through the BlobStore seam. This is the number that
  matters: a speed test measures the path to a nearby test server, not to the Azure region.
- **speedtest** (`speedtest`): speedtest-cli to a nearby speedtest.net server; rough and generic.
- **manual** (`choose.ManualProbe`): `--bandwidth RATE`, taken as typed.

Modules: `result` (what a probe answers, the lines for a person), `meter` (the pure measuring logic:
block size, acknowledged-byte meter, stream ramp), `streams` (request bodies, the stream pool),
`destination`, `speedtest`, `choose` (which probe, and keeping the figure for the next upload).
"""

from planner.probe.choose import ManualProbe, choose_probe, measure, remember
from planner.probe.destination import DestinationProbe
from planner.probe.meter import FIRST_BLOCK, MAX_BLOCK, MIN_BLOCK, Level, Ramp, RampSettings, Rate, RateMeter, \
    Transfer, choose_block
from planner.probe.result import (DEFAULT_SECONDS, MAX_SECONDS, Measurement, Probe, ProbeProgress, clamp_seconds,
                                  describe)
from planner.probe.speedtest import SpeedtestProbe, speedtest_config

__all__ = [
    "DEFAULT_SECONDS", "FIRST_BLOCK", "MAX_BLOCK", "MAX_SECONDS", "MIN_BLOCK", "DestinationProbe", "Level",
    "ManualProbe", "Measurement", "Probe", "ProbeProgress", "Ramp", "RampSettings", "Rate", "RateMeter",
    "SpeedtestProbe", "Transfer", "choose_block", "choose_probe", "clamp_seconds", "describe", "measure",
    "remember", "speedtest_config",
]
