"""`ceiling`: is the lab's link what it says? tbf rate vs one raw TCP stream through link and proxy."""

from __future__ import annotations

from benchmarks.lab import Link
from benchmarks.runner import Context, Table, scenario

# TCP payload per Ethernet frame at MTU 1500 with timestamps: 1448 of the 1514 bytes tbf counts.
PAYLOAD_SHARE = 1448 / 1514

LINKS = [(10, 0), (50, 0), (200, 0), (50, 300)]


@scenario("ceiling", title="Lab sanity: tbf rate vs raw TCP through the link and proxy", budget_s=60,
          about="Every utilisation figure is divided by this raw-TCP ceiling, so it must match the "
                "shaped rate: expected ratio 1448/1514 = 95.6% (tbf counts whole Ethernet frames).")
def ceiling(ctx: Context) -> Table:
    table = Table("Lab sanity: tbf rate vs raw TCP through the link and proxy",
                  ["Link (tbf rate x added RTT)", "Raw TCP ceiling", "Ratio to tbf rate", "Expected"])
    ctx.table = table
    seconds = 3 if ctx.quick else 4
    for rate, rtt in LINKS:
        ctx.budget.timeout(seconds + 10)
        with Link(rate, rtt_ms=rtt) as link:
            result = link.ceiling(seconds)
        ctx.log(f"{rate} Mbit/s x {rtt} ms: {result.bits_per_second / 1e6:.2f} Mbit/s")
        table.add(f"{rate} Mbit/s x {rtt} ms", f"{result.bits_per_second / 1e6:.2f} Mbit/s",
                  f"{result.bits_per_second / (rate * 1e6):.1%}", f"{PAYLOAD_SHARE:.1%}")
    table.notes.append(f"One TCP stream for {seconds} s per link, counted where the bytes arrive: the median "
                       "of 0.5 s windows after the first 1.5 s (slow start, the tbf bucket's initial burst).")
    return table
