"""Program execution and the working directory."""
from __future__ import annotations

import errno
import os
import stat as st

from sentry.abi import stat_mode
from sentry.errors import SyscallError
from sentry.syscalls.result import CONTINUE, Result
from sentry.syscalls.sys_file import AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW
from sentry.task import AT_FDCWD, Task


def _check_exec(t: Task, dirfd: int, addr: int, flags: int) -> None:
    path = t.read_path(addr)
    if not path:
        if not flags & AT_EMPTY_PATH:
            raise SyscallError(errno.ENOENT)
        mode = t.fd_stat(dirfd).st_mode
        if not st.S_ISREG(mode):
            raise SyscallError(errno.EACCES)
        return
    p = t.kernel.mounts.resolve(t, dirfd, path)
    follow = not flags & AT_SYMLINK_NOFOLLOW
    t.kernel.mounts.follow(lambda q: q.fs.check_exec(t, q, follow), t, p)


def execve(t: Task) -> Result:
    """execve implements Linux syscall execve(2).

    The sentry checks the target; the host kernel then loads it (CONTINUE), resolving
    the same path in the workload's mount namespace. That namespace holds only the
    container tree, so a path swapped after the check can only name another file of
    the container, and the kernel makes its own exec permission checks on it."""
    _check_exec(t, AT_FDCWD, t.args[0], 0)
    t.forget_creds()  # a set-id program changes them
    return CONTINUE


def execveat(t: Task) -> Result:
    """execveat implements Linux syscall execveat(2) (CONTINUE as for execve)."""
    flags = t.arg_int(4)
    if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW):
        raise SyscallError(errno.EINVAL)
    _check_exec(t, t.arg_int(0), t.args[1], flags)
    t.forget_creds()
    return CONTINUE


def chdir(t: Task) -> Result:
    """chdir implements Linux syscall chdir(2).

    The sentry checks the target is a searchable directory, then lets the kernel change
    the task's real cwd (CONTINUE): it resolves the same path in the workload's mount
    namespace, where a swapped path can only reach another container directory, and it
    re-checks search permission itself. /proc, /dev and /sys there are the sentry's own
    read-only skeletons, so the cwd never leaves the sandbox's tree."""
    p = t.kernel.mounts.resolve(t, AT_FDCWD, t.read_path(t.args[0]))
    packed = t.kernel.mounts.follow(lambda q: q.fs.stat(t, q, True), t, p)
    if not st.S_ISDIR(stat_mode(packed)):
        raise SyscallError(errno.ENOTDIR)
    t.kernel.mounts.follow(lambda q: q.fs.access(t, q, os.X_OK, True), t, p)
    p.fs.prepare_cwd(t, p)
    return CONTINUE


def getcwd(t: Task) -> int:
    """getcwd implements Linux syscall getcwd(2)."""
    cwd = os.fsencode(t.cwd()) + b"\0"
    if len(cwd) > t.args[1]:
        raise SyscallError(errno.ERANGE)
    t.write_bytes(t.args[0], cwd)
    return len(cwd)
