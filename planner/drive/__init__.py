"""The drive route: copy a set onto drives as BagIt bags, check them on arrival, read them back to upload."""

from planner.drive.bag import BagManifest, NotABag, UploadSource, bag_or_none, is_bag, read_bag, upload_source
from planner.drive.check import CheckResult, check_bag
from planner.drive.names import FsRules, NameProblem, check_paths, rules_for
from planner.drive.options import DriveOptions, DriveResult, Progress
from planner.drive.prepare import copy_to_drive

__all__ = ["BagManifest", "CheckResult", "DriveOptions", "DriveResult", "FsRules", "NameProblem", "NotABag", "UploadSource", "bag_or_none", "upload_source",
           "Progress", "check_bag", "check_paths", "copy_to_drive", "is_bag", "read_bag", "rules_for"]
