"""Tie a helper process's life to mdplan's: when mdplan dies, even by `kill -9`, the helper goes too.

Used for the local Azure emulator (planner/emulator.py), which `mdplan demo --serve` keeps running until
Ctrl-C: without a tether, killing mdplan hard left Azurite listening on its port. Ctrl-C, SIGTERM,
closing the window and a normal exit stop the emulator anyway (emulator.stop, atexit, the demo's
signal handlers); the tether covers what those cannot: SIGKILL, a crash of the interpreter, the OOM
killer. What each system gets:

- Linux: the kernel sends the child SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG, set between
  fork and exec). "Parent" is the *thread* that started the child, so the tether is set only when the
  child is started from the main thread; from another thread it would die when that thread ends.
- Windows: the child is put in a job object that kills its processes when the job's last handle
  closes, which Windows does when mdplan's process ends however it ends. The child is assigned right
  after it starts; a process it spawned in those few microseconds would be outside the job.
- macOS and others: no tether; only the ways above that need mdplan alive to stop the emulator.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9
_JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
_PROCESS_SET_QUOTA_AND_TERMINATE = 0x0100 | 0x0001

_job: list[int] = []  # Windows: the one job handle, kept open for as long as this process lives


def before_exec() -> Callable[[], None] | None:
    """A `preexec_fn` for subprocess.Popen that tethers the child (Linux, main thread), else None."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now: the child should only call it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    term = int(signal.SIGTERM)

    def tether() -> None:
        prctl(_PR_SET_PDEATHSIG, term, 0, 0, 0)
        if os.getppid() != parent:  # mdplan died before the line above: nobody would ever signal us
            os._exit(1)

    return tether


def after_start(pid: int) -> bool:
    """Tether the started process `pid` where that is done after the start (Windows). True if tethered."""
    if os.name != "nt":
        return False
    try:
        return _assign_to_job(pid)
    except Exception:  # noqa: BLE001 - best effort: without a tether the emulator still stops the usual ways
        return False


def _assign_to_job(pid: int) -> bool:
    import ctypes
    from ctypes import wintypes

    class Basic(ctypes.Structure):
        _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                    ("LimitFlags", wintypes.DWORD), ("MinimumWorkingSetSize", ctypes.c_size_t),
                    ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", wintypes.DWORD),
                    ("Affinity", ctypes.c_size_t), ("PriorityClass", wintypes.DWORD),
                    ("SchedulingClass", wintypes.DWORD)]

    class Extended(ctypes.Structure):
        _fields_ = [("BasicLimitInformation", Basic), ("IoInfo", ctypes.c_ulonglong * 6),
                    ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                    ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    k32.CreateJobObjectW.restype = wintypes.HANDLE
    k32.CreateJobObjectW.argtypes = [ctypes.c_void_p, wintypes.LPCWSTR]
    k32.SetInformationJobObject.argtypes = [wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD]
    k32.OpenProcess.restype = wintypes.HANDLE
    k32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    k32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
    k32.CloseHandle.argtypes = [wintypes.HANDLE]
    if not _job:
        job = k32.CreateJobObjectW(None, None)
        if not job:
            return False
        info = Extended()
        info.BasicLimitInformation.LimitFlags = _JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        if not k32.SetInformationJobObject(job, _JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(info),
                                           ctypes.sizeof(info)):
            k32.CloseHandle(job)
            return False
        _job.append(job)
    process = k32.OpenProcess(_PROCESS_SET_QUOTA_AND_TERMINATE, False, pid)
    if not process:
        return False
    try:
        return bool(k32.AssignProcessToJobObject(_job[0], process))
    finally:
        k32.CloseHandle(process)
