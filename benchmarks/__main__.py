"""`python -m benchmarks [NAME ...|all]`: run benchmark scenarios and update BENCHMARKS.md (as root)."""

import sys

from benchmarks.runner import main

sys.exit(main())
