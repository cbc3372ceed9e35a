"""CPython's own regression tests (Debian's libpython3.11-testsuite) as a compatibility
check: `python3 -m test <module>` in the Debian rootfs, under runc and under runsc-py.

MODULES maps a test module to its per-run timeout (seconds, generous: the measured
time under runc and under runsc-py is in docs/compatibility.md). Chosen to exercise
files, processes, threads, signals, ttys, sockets, clocks and users; modules that take
minutes (test_multiprocessing_*, test_asyncio, test_concurrent_futures) are left out to
keep CI short, and test_sqlite3 is not shipped by Debian's libpython3.11-testsuite (the
sqlite3 CLI and module are covered by programs.py).
"""
from __future__ import annotations

import re

MODULES: dict[str, int] = {
    # files
    "test_os": 300, "test_fileio": 120, "test_file": 120, "test_shutil": 300,
    "test_tempfile": 300, "test_glob": 120, "test_pathlib": 300, "test_stat": 120,
    "test_posixpath": 120, "test_genericpath": 120, "test_fnmatch": 60,
    "test_filecmp": 60, "test_largefile": 300, "test_tarfile": 300, "test_zipfile": 400,
    "test_mailbox": 300, "test_compileall": 300, "test_io": 600,
    # processes, threads, signals
    "test_subprocess": 600, "test_signal": 300, "test_threading": 400,
    "test_thread": 300, "test_threadsignals": 120, "test_threading_local": 120,
    "test_fork1": 120, "test_wait3": 120, "test_wait4": 120, "test_eintr": 300,
    "test_posix": 300, "test_resource": 120, "test_faulthandler": 300, "test_sched": 120,
    "test_queue": 300,
    # ttys
    "test_pty": 120, "test_openpty": 60, "test_ioctl": 60, "test_getpass": 60,
    # sockets and I/O multiplexing
    "test_socket": 600, "test_socketserver": 300, "test_selectors": 300,
    "test_epoll": 120, "test_poll": 120, "test_select": 120, "test_timeout": 120,
    # memory, locks
    "test_mmap": 300, "test_fcntl": 120,
    # clocks, users, system
    "test_time": 300, "test_pwd": 60, "test_grp": 60, "test_platform": 120,
    "test_sysconfig": 120, "test_locale": 60, "test_uuid": 120,
}

# runs sequentially and verbosely (the failing tests' names and tracebacks); --timeout makes a hung test dump its traceback and
# fail instead of eating the whole budget
# Test cases that cannot pass in a sandbox by design, each listed with its reason in
# docs/compatibility.md ("What cannot pass"). They are left out under BOTH runtimes, so
# the comparison stays like for like.
CANNOT_PASS: dict[str, tuple[str, ...]] = {
    # a /proc/PID directory fd used as a pidfd: the sandbox's /proc is the sentry's own
    "test_signal": ("test_pidfd_send_signal",),
}


def args_for(module: str, timeout: int) -> list[str]:
    ignored = [arg for case in CANNOT_PASS.get(module, ()) for arg in ("-i", case)]
    return ["python3", "-m", "test", "-v", "--timeout", str(max(30, timeout - 20)),
            *ignored, module]


_RESULT_RE = re.compile(r"== Tests result: (.+?) ==")
_FAILED_RE = re.compile(r"^(FAIL|ERROR): (\S+) \(([\w.]+)\)", re.M)


def verdict(rc: int | None, out: str) -> str:
    """PASS, FAIL, SKIP (whole module skipped: resource or platform), TIMEOUT, or ERROR."""
    if rc is None:
        return "TIMEOUT"
    m = _RESULT_RE.findall(out)
    res = m[-1] if m else ""
    if rc == 0 and ("SUCCESS" in res or res == ""):
        if re.search(r"\b1 test skipped|test_\w+ skipped", out) and "1 test OK" not in out:
            return "SKIP"
        return "PASS"
    if "NO TESTS RAN" in res:
        return "SKIP"
    if "FAILURE" in res or rc != 0:
        return "FAIL"
    return "ERROR"


def failed_tests(out: str) -> list[str]:
    """The unittest ids of the failing tests in regrtest's output."""
    seen: list[str] = []
    for kind, name, cls in _FAILED_RE.findall(out):
        tid = f"{kind} {'.'.join(cls.split('.')[-2:])}"
        if tid not in seen:
            seen.append(tid)
    return seen


def error_lines(out: str, limit: int = 30) -> list[str]:
    """The last line of each traceback (the exception), deduplicated."""
    lines = out.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if re.match(r"^(FAIL|ERROR): ", line):
            # the exception line is the last non-empty line before the next separator
            for j in range(i + 1, min(i + 200, len(lines))):
                if lines[j].startswith(("=====", "-----")) and j > i + 2:
                    k = j - 1
                    while k > i and not lines[k].strip():
                        k -= 1
                    exc = lines[k].strip()
                    entry = f"{line.strip()}: {exc}"
                    if entry not in found:
                        found.append(entry)
                    break
    if not found:
        found = [ln for ln in lines if "Timeout" in ln or "Fatal Python error" in ln][:5]
    return found[:limit]
