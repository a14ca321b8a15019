"""Importing this registers every scenario, in the order BENCHMARKS.md shows them."""

from benchmarks import (link_bench, polite_bench, scan_bench, upload_bench, probe_bench, outage_bench,  # noqa: F401
                        small_files_bench,
                        drive_bench)
from benchmarks import cost_bench  # noqa: F401,E402 - issue 14 part 3
