"""The sandbox kernel: its mount table, identity and policy, and the dispatch of every
trapped syscall through the syscall table."""
from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from typing import Callable

from gofer.client import GoferClient
from sentry.config import SandboxConfig
from sentry.errors import SyscallError, TaskGone
from sentry.fs.base import FileSystem
from sentry.fs.gofer_fs import GoferFS
from sentry.loader import Loader
from sentry.syscalls.numbers import SYSCALL_NAMES
from sentry.syscalls.result import CONTINUE, InstallFd, Later, Result, RunInstead
from sentry.syscalls.support import Support
from sentry.syscalls.table import TABLE
from sentry.task import Task
from sentry.vfs import Mount, MountTable

log = logging.getLogger("runsc-py.sentry")
LOG_DETAILS_MAX = 16  # lines per kind of message whose detail the workload chooses


class Kernel:
    def __init__(self, config: SandboxConfig, gofer: GoferClient, init_pid: int = 0,
                 root_fd: int = -1) -> None:
        self.config = config
        self.root_fd = root_fd  # the container tree's root (O_PATH), as the gofer's
        self.hostname = config.hostname
        self.domainname = "(none)"
        self.gofer = gofer
        self.init_pid = init_pid  # host pid of the container's init
        self._logged: set[object] = set()  # what log_once logged
        self._details: dict[str, int] = {}  # details logged per `what`
        self.loader = Loader()  # execve's verdicts on programs, per file identity
        self.waiting = WaitingCalls(self.log_once)
        self.mounts = MountTable(self._build_mounts())

    def _build_mounts(self) -> list[Mount]:
        from sentry.fs import synthetic  # noqa: PLC0415 - the synthetic fs are large

        gofer_fs = GoferFS(self.gofer)
        mounts = []
        for m in self.config.mounts:
            fs: FileSystem = gofer_fs if m.kind == "gofer" else synthetic.make(m.kind, self)
            opts = "ro" if m.readonly else "rw"
            mounts.append(Mount(os.path.normpath(m.destination), fs, m.source, m.fstype, opts))
        return mounts

    def log_once(self, what: str, detail: object = None, exc_info: bool = False) -> None:
        """Logs `what` (the code's own text, or a table entry's) once per sandbox. With
        a `detail` the workload chooses (a path, a number), each detail once, for the
        first LOG_DETAILS_MAX details of that `what`, then once that more are left out:
        whatever a workload does, its log lines are bounded (as gVisor's `missing`
        handler logs each unsupported syscall once)."""
        if detail is None:
            key, message = what, what
        else:
            key, message = (what, detail), f"{what} {detail}"
            seen = self._details.get(what, 0)
            if key in self._logged or seen > LOG_DETAILS_MAX:
                return
            self._details[what] = seen + 1
            if seen == LOG_DETAILS_MAX:
                log.warning("%s: more than %d, no more logged", what, LOG_DETAILS_MAX)
                return
        if key not in self._logged:
            self._logged.add(key)
            # (a traceback is the sentry's own bug: an error, as the shim shows those)
            (log.error if exc_info else log.warning)("%s", message, exc_info=exc_info)

    def syscall(self, t: Task) -> Result:
        """Runs the trapped syscall's handler; returns the result to answer with."""
        entry = TABLE.get(t.nr)
        if entry is None:
            self.log_once("unsupported syscall", SYSCALL_NAMES.get(t.nr, t.nr))
            raise SyscallError(errno.ENOSYS)
        if entry.handler is None:
            if entry.support is Support.ERROR:
                self.log_once(f"refused syscall {entry.name}: {entry.note}")
                raise SyscallError(entry.errno)
            # A NATIVE entry reaches the sentry when the workload's own filter asks for
            # a tracer (SECCOMP_RET_TRACE outranks our ALLOW) on the ptrace platform,
            # where the sentry is that tracer: ENOSYS, as Linux answers without one.
            self.log_once(f"native syscall {entry.name} trapped by the workload's own filter")
            raise SyscallError(errno.ENOSYS)
        return entry.handler(t)


def log_crash(kernel: Kernel | None, what: str, exc: BaseException) -> None:
    """A platform's handler raised past answer(): logged once per kind of exception
    (the workload may make it happen again and again)."""
    if kernel is not None:
        kernel.log_once(what, type(exc).__name__)


def answer(kernel: Kernel, t: Task, respond, install,  # type: ignore[no-untyped-def]
           run_instead=None) -> Later | None:
    """Computes the result of t's syscall and answers the task with it; returns the
    Later instead when the answer must wait (the platform hands it to kernel.wait).
    run_instead is the platform's way to run another call in its place, if it has one."""
    try:
        result = kernel.syscall(t)
    except SyscallError as e:
        respond(0, -e.errno, 0)
        return None
    except TaskGone:
        return None
    except Exception:  # a bug in a handler must not take the sandbox down
        kernel.log_once(f"handler for syscall {SYSCALL_NAMES.get(t.nr, t.nr)} failed",
                        exc_info=True)
        respond(0, -errno.ENOSYS, 0)
        return None
    if isinstance(result, Later):
        return result
    deliver(result, respond, install, run_instead)
    return None


def deliver(result: Result, respond, install,  # type: ignore[no-untyped-def]
            run_instead=None) -> None:
    if isinstance(result, InstallFd):
        try:
            install(result.fd, os.O_CLOEXEC if result.cloexec else 0)
        finally:
            os.close(result.fd)
    elif isinstance(result, RunInstead):
        if run_instead is None:
            respond(0, -errno.ENOSYS, 0)
        else:
            run_instead(result.nr, result.args)
    elif result is CONTINUE:
        respond(0, 0, 1)
    else:
        respond(int(result), 0, 0)


@dataclass
class _Waiting:
    later: Later
    still_waiting: Callable[[], bool]  # the task is still in its call
    respond: Callable[[int, int, int], None]
    install: Callable[[int, int], None]
    name: str


class WaitingCalls:
    """The calls whose answer is a Later: asked again on every tick of the serve loop
    (every POLL_MS while there are any), dropped when their task stops waiting."""

    POLL_MS = 10

    def __init__(self, log_once: Callable[..., None]) -> None:
        self.calls: list[_Waiting] = []
        self._log_once = log_once  # (the kernel's: a workload may fail a call again and again)
        # readable once a call waits: the serve loop, asleep with no timeout, returns
        # and comes back with one
        self.wake_fd, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def add(self, later: Later, still_waiting: Callable[[], bool], respond, install,  # type: ignore[no-untyped-def]
            name: str) -> None:
        self.calls.append(_Waiting(later, still_waiting, respond, install, name))
        try:
            os.write(self._wake_w, b"w")
        except BlockingIOError:
            pass  # (already readable)

    def woken(self) -> None:
        """The serve loop returned for wake_fd."""
        try:
            while os.read(self.wake_fd, 64):
                pass
        except BlockingIOError:
            pass

    def timeout_ms(self) -> int:
        """How long the serve loop may sleep: -1 (until woken) when nothing waits."""
        return self.POLL_MS if self.calls else -1

    def poll(self) -> None:
        for w in list(self.calls):
            try:
                if not w.still_waiting():
                    self._drop(w)
                    continue
                result = w.later.poll()
            except SyscallError as e:
                self._drop(w)
                w.respond(0, -e.errno, 0)
                continue
            except Exception:  # as in answer(): a bug must not take the sandbox down
                self._log_once(f"waiting syscall {w.name} failed", exc_info=True)
                self._drop(w)
                w.respond(0, -errno.ENOSYS, 0)
                continue
            if result is not None:
                self.calls.remove(w)
                deliver(result, w.respond, w.install)

    def _drop(self, w: _Waiting) -> None:
        self.calls.remove(w)
        w.later.cancel()
