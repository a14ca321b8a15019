"""`mdplan verify`: is every file there, whole, and how was it proved (see planner.verify.compare)."""

from planner.verify.compare import LEVELS, PROVED_BY, Difference, FileCheck, Level, VerifyResult, verify
from planner.verify.proofs import Proof, by_blocks, by_download

__all__ = ["LEVELS", "PROVED_BY", "Difference", "FileCheck", "Level", "Proof", "VerifyResult", "by_blocks",
           "by_download", "verify"]
