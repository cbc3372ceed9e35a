"""The ptrace platform: the sentry traces every task of the sandbox.

The workload's filter returns SECCOMP_RET_TRACE for every call the table does not run
natively, so such a call stops its task in a PTRACE_EVENT_SECCOMP stop. The C loop
(sentry/_native/ptrace.c) waits for stops, re-injects signals, keeps group stops, and
hands each seccomp stop to sentry_trace below, which runs the same dispatcher as the
seccomp platform: a handler does not know which platform called it. Results go back
through registers (orig_rax -1 skips the call, rax is its result); CONTINUE resumes the
task unchanged, so the host kernel runs the call; RunInstead sets another call in its
registers (clone3 runs as clone); an fd reaches the task through a
socketpair the task itself makes and reads (trace_install_fd): no ADDFD.

Every task is attached with PTRACE_SEIZE and PTRACE_O_EXITKILL (no task outlives the
sentry) and auto-attaches its children, threads and exec'd images. The sentry seizes a
task tree's first task before it may make any trapped call (it waits for START), as
an untraced task's SECCOMP_RET_TRACE call fails with ENOSYS.
"""
from __future__ import annotations

import errno

from sentry._native._notify import ffi, lib
from sentry.kernel import Kernel, answer, log_crash
from sentry.platform import reap_children
from sentry.syscalls.numbers import SYSCALL_NAMES
from sentry.task import Task

_kernel: Kernel | None = None


def _stopped() -> bool:
    # A task in a ptrace stop cannot run, exit or have its tid reused until the sentry
    # resumes it and waits for it: what it points to cannot change under a handler
    # except from its other threads, as on the seccomp platform.
    return True


@ffi.def_extern(onerror=lambda *exc: log_crash(_kernel, "trace handler crashed:", exc[1]))
def sentry_trace(call) -> None:  # type: ignore[no-untyped-def]
    tid = call.tid
    t = Task(_kernel, tid, call.nr, tuple(call.args), _stopped)

    def respond(val: int, error: int, flags: int) -> None:
        lib.trace_respond(tid, val, error, flags)

    def install(fd: int, newfd_flags: int) -> None:
        lib.trace_install_fd(tid, fd, 1 if newfd_flags else 0)

    def run_instead(nr: int, args: tuple[int, ...]) -> None:
        lib.trace_run_instead(tid, nr, ffi.new("uint64_t[6]", list(args)))

    later = answer(_kernel, t, respond, install, run_instead)
    if later is None:
        return
    lib.trace_defer()  # it stays in its seccomp stop meanwhile

    def resumed_respond(val: int, error: int, flags: int) -> None:
        if lib.trace_reselect(tid) == 0:
            respond(val, error, flags)

    def resumed_install(fd: int, newfd_flags: int) -> None:
        if lib.trace_reselect(tid) == 0:
            install(fd, newfd_flags)

    def still_waiting() -> bool:
        """In its stop, with no signal to take: a traced task in a stop cannot take
        one, so the wait ends here with EINTR, as a FIFO open's does on Linux."""
        state = _task_state(tid)
        if state is None or state[0] != "t":
            return False  # (killed: its exit is on the way)
        if state[1]:
            resumed_respond(0, -errno.EINTR, 0)
            return False
        return True

    _kernel.waiting.add(later, still_waiting, resumed_respond, resumed_install,
                        SYSCALL_NAMES.get(call.nr, ""))


# signals whose default action does nothing to a running task (SIGCHLD, SIGCONT,
# SIGURG, SIGWINCH) or stops it, so that the call restarts (SIGSTOP, SIGTSTP, SIGTTIN,
# SIGTTOU): unless caught, none interrupts a wait (a traced task has even ignored
# signals queued: its tracer sees them)
_NOT_INTERRUPTING = sum(1 << (sig - 1) for sig in (17, 18, 23, 28, 19, 20, 21, 22))


def _task_state(tid: int) -> tuple[str, bool] | None:
    """A task's state letter, and whether a signal is pending that would interrupt a
    wait on Linux: not blocked, and caught or of a default action that ends the task."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            fields = dict(line.split(b":\t", 1) for line in f.read().splitlines()
                          if b":\t" in line)
    except OSError:
        return None

    def mask(name: bytes) -> int:
        return int(fields[name], 16)

    pending = (mask(b"SigPnd") | mask(b"ShdPnd")) & ~mask(b"SigBlk") & ~mask(b"SigIgn")
    interrupting = pending & (mask(b"SigCgt") | ~_NOT_INTERRUPTING)
    return fields[b"State"][:1].decode(), bool(interrupting)


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

