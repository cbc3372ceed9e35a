"""The sandbox kernel: its mount table, identity and policy, and the dispatch of every
trapped syscall through the syscall table."""
from __future__ import annotations

import errno
import logging
import os

from gofer.client import GoferClient
from sentry.config import SandboxConfig
from sentry.errors import SyscallError, TaskGone
from sentry.fs.base import FileSystem
from sentry.fs.gofer_fs import GoferFS
from sentry.loader import Loader
from sentry.syscalls.numbers import SYSCALL_NAMES
from sentry.syscalls.result import CONTINUE, InstallFd, Result
from sentry.syscalls.support import Support
from sentry.syscalls.table import TABLE
from sentry.task import Task
from sentry.vfs import Mount, MountTable

log = logging.getLogger("runsc-py.sentry")


class Kernel:
    def __init__(self, config: SandboxConfig, gofer: GoferClient, init_pid: int = 0,
                 root_fd: int = -1) -> None:
        self.config = config
        self.root_fd = root_fd  # the container tree's root (O_PATH), as the gofer's
        self.hostname = config.hostname
        self.domainname = "(none)"
        self.gofer = gofer
        self.init_pid = init_pid  # host pid of the container's init
        self._logged: set[str] = set()
        self.loader = Loader()  # execve's verdicts on programs, per file identity
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

    def log_once(self, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            log.warning("%s", message)

    def syscall(self, t: Task) -> Result:
        """Runs the trapped syscall's handler; returns the result to answer with."""
        entry = TABLE.get(t.nr)
        if entry is None:
            self.log_once(f"unsupported syscall {SYSCALL_NAMES.get(t.nr, t.nr)}")
            raise SyscallError(errno.ENOSYS)
        if entry.handler is None:
            if entry.support is Support.ERROR:
                self.log_once(f"refused syscall {entry.name}: {entry.note}")
                raise SyscallError(entry.errno)
            # a NATIVE entry reaching the sentry means the filter and table disagree
            log.error("native syscall %s was trapped", entry.name)
            raise SyscallError(errno.ENOSYS)
        return entry.handler(t)


def answer(kernel: Kernel, t: Task, respond, install) -> None:  # type: ignore[no-untyped-def]
    """Computes the result of t's syscall and answers the task with it."""
    try:
        result = kernel.syscall(t)
    except SyscallError as e:
        respond(0, -e.errno, 0)
        return
    except TaskGone:
        return
    except Exception:  # a bug in a handler must not take the sandbox down
        log.exception("handler for syscall %s failed", SYSCALL_NAMES.get(t.nr, t.nr))
        respond(0, -errno.ENOSYS, 0)
        return
    if isinstance(result, InstallFd):
        try:
            install(result.fd, os.O_CLOEXEC if result.cloexec else 0)
        finally:
            os.close(result.fd)
    elif result is CONTINUE:
        respond(0, 0, 1)
    else:
        respond(int(result), 0, 0)
