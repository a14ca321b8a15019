"""The drive route: copy a set onto drives as BagIt bags, check them on arrival, read them back to upload."""

from planner.drive.bag import BagManifest, NotABag, bag_or_none, is_bag, read_bag
from planner.drive.check import CheckResult, check_bag
from planner.drive.names import FsRules, NameProblem, check_paths, rules_for
from planner.drive.options import DriveOptions, DriveResult, Progress
from planner.drive.prepare import copy_to_drive

__all__ = ["BagManifest", "CheckResult", "DriveOptions", "DriveResult", "FsRules", "NameProblem", "NotABag", "bag_or_none",
           "Progress", "check_bag", "check_paths", "copy_to_drive", "is_bag", "read_bag", "rules_for"]
