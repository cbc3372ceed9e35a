"""Process tracing between the sandbox's own tasks.

On the seccomp platform a task may trace another task of the sandbox as on Linux:
every request runs natively but the three that make the caller a tracer, which are
checked here and then let through (CONTINUE; their arguments are registers: the pid
and the options, no memory). The tracee's syscalls still meet the sandbox's filter:
Linux runs seccomp after the tracer's syscall-entry stop (4.8+), and again after a
PTRACE_EVENT_SECCOMP stop; a task under a seccomp filter cannot set
PTRACE_O_SUSPEND_SECCOMP. SECURITY.md has the whole argument.

On the ptrace platform the sentry is every task's tracer, and Linux allows one: the
requests are refused (EPERM), as they would fail anyway.
"""
from __future__ import annotations

import errno
import os

from sentry.errors import SyscallError
from sentry.fs.procfs import pidns_of
from sentry.syscalls.result import CONTINUE, Result
from sentry.task import Task

PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_SEIZE = 0, 16, 0x4206
BECOME_TRACER = frozenset({PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_SEIZE})


def _runs_runtime_code(hp: int) -> bool:
    """Whether task hp is still the runtime's own code: an exec'd process between its
    fork into the sandbox and its execve of the workload program, which has the
    spawner's privileges and its sync socket. Its program is the runtime's
    interpreter, which no task of the sandbox runs once it has exec'd."""
    try:
        exe = os.stat(f"/proc/{hp}/exe")
        own = os.stat("/proc/self/exe")
    except OSError:
        return True  # gone, or not to be looked at: not to be traced either
    return (exe.st_dev, exe.st_ino) == (own.st_dev, own.st_ino)


def ptrace(t: Task) -> Result:
    """ptrace implements Linux syscall ptrace(2) for PTRACE_TRACEME, PTRACE_ATTACH and
    PTRACE_SEIZE (every other request acts on the caller's own tracees and runs
    natively): a tracer must be a task of the sandbox and its tracee one of the
    workload's tasks; the kernel then makes its own checks (CONTINUE)."""
    if t.kernel.config.platform == "ptrace":
        t.kernel.log_once("refused ptrace: the sentry traces every task on this platform")
        raise SyscallError(errno.EPERM)
    ns = pidns_of(t.kernel)
    if t.arg_int(0) == PTRACE_TRACEME:
        if not ns.parent_inside(t):  # the sentry would become the tracer
            raise SyscallError(errno.EPERM)
        return CONTINUE
    sp = t.arg_int(1)
    hp = ns.tid_to_host(sp) if sp > 0 else 0
    if not hp:
        raise SyscallError(errno.ESRCH)
    if _runs_runtime_code(hp):
        raise SyscallError(errno.EPERM)
    return CONTINUE
