"""`mdplan upload` as a library call: the public face of the transfer engine (planner.transfer).

    from planner.upload import UploadOptions, run
    result, plan = run(UploadOptions(source=Path("E:/camera-traps"), sas=parse_sas_url(url)))
"""

from planner.transfer import (BLOCK_SIZE, MAX_WORKERS, MIN_WORKERS, SINGLE_PUT_MAX, Overwrite, Plan, QuietUI,
                              Selector, StopFlag, Tuner, UploadOptions, UploadResult, UploadUI, WorkerGate,
                              auto_workers, build_timetable, md5_file, prepare, resume_command, run)

__all__ = [
    "BLOCK_SIZE", "MAX_WORKERS", "MIN_WORKERS", "Overwrite", "Plan", "QuietUI", "SINGLE_PUT_MAX", "Selector",
    "StopFlag", "Tuner", "UploadOptions", "UploadResult", "UploadUI", "WorkerGate", "auto_workers",
    "build_timetable", "md5_file", "prepare", "resume_command", "run",
]
