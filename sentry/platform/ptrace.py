"""The ptrace platform: the sentry traces every task of the sandbox.

The workload's filter returns SECCOMP_RET_TRACE for every call the table does not run
natively, so such a call stops its task in a PTRACE_EVENT_SECCOMP stop. The C loop
(sentry/_native/ptrace.c) waits for stops, re-injects signals, keeps group stops, and
hands each seccomp stop to sentry_trace below, which runs the same dispatcher as the
seccomp platform: a handler does not know which platform called it. Results go back
through registers (orig_rax -1 skips the call, rax is its result); CONTINUE resumes the
task unchanged, so the host kernel runs the call; an fd reaches the task through a
socketpair the task itself makes and reads (trace_install_fd): no ADDFD.

Every task is attached with PTRACE_SEIZE and PTRACE_O_EXITKILL (no task outlives the
sentry) and auto-attaches its children, threads and exec'd images. The sentry seizes a
task tree's first task before it may make any trapped call (it waits for START), as
an untraced task's SECCOMP_RET_TRACE call fails with ENOSYS.
"""
from __future__ import annotations

import errno
import logging

from sentry._native._notify import ffi, lib
from sentry.kernel import Kernel, answer
from sentry.platform import reap_children
from sentry.task import Task

log = logging.getLogger("runsc-py.sentry")
_kernel: Kernel | None = None


def _stopped() -> bool:
    # A task in a ptrace stop cannot run, exit or have its tid reused until the sentry
    # resumes it and waits for it: what it points to cannot change under a handler
    # except from its other threads, as on the seccomp platform.
    return True


@ffi.def_extern(onerror=lambda *exc: log.error("trace handler crashed: %s", exc[1]))
def sentry_trace(call) -> None:  # type: ignore[no-untyped-def]
    tid = call.tid
    t = Task(_kernel, tid, call.nr, tuple(call.args), _stopped)

    def respond(val: int, error: int, flags: int) -> None:
        lib.trace_respond(tid, val, error, flags)

    def install(fd: int, newfd_flags: int) -> None:
        lib.trace_install_fd(tid, fd, 1 if newfd_flags else 0)

    answer(_kernel, t, respond, install)


class PtracePlatform:
    needs_listener = False

    def attach(self, kernel: Kernel) -> None:
        """The kernel whose table answers the calls (built once the init is READY)."""
        global _kernel
        _kernel = kernel

    def add_task(self, pid: int, listener: int | None) -> None:
        """Traces a new task tree's first task (the init, an exec'd process)."""
        ret = lib.trace_seize(pid)
        if ret < 0:
            raise OSError(-ret, f"ptrace(PTRACE_SEIZE, {pid}): {errno.errorcode.get(-ret)}")

    def serve(self, wake_fds: list[int], timeout_ms: int = -1) -> int:
        """Serves stops until a wake fd is readable (returns its index). wake_fds[0]
        must be the signal wakeup pipe: SIGCHLD, which every stop raises, is consumed
        here; any other signal, or an exit to reap, returns 0."""
        ws = ffi.new("int[]", wake_fds)
        ret = lib.trace_serve(ws, len(wake_fds), 0, timeout_ms)
        if ret >= 0:
            return ret
        if ret == -errno.ETIMEDOUT:
            return -2
        raise OSError(-ret, "trace_serve")

    def reap(self) -> list[tuple[int, int]]:
        """Handles the stops that are ready; returns the exits (pid, wait status)."""
        return reap_children()

