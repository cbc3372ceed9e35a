"""Program execution and the working directory."""
from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, NoReturn

from sentry.abi import stat_mode
from sentry.errors import SyscallError
from sentry.fs.node import MEMFD_LINK, open_host
from sentry.loader import HEAD, MAX_DEPTH, Elf, ExecFile, Identity, NotLoadable, Script
from sentry.syscalls.result import CONTINUE, Result
from sentry.syscalls.sys_file import AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW
from sentry.task import AT_FDCWD, Task

if TYPE_CHECKING:
    from sentry.vfs import Path


def _check_exec(t: Task, dirfd: int, addr: int, flags: int) -> None:
    """Reads the program as Linux's exec will, before the kernel sees the call: an
    x86_64 ELF whose ELF interpreter is in the sandbox, or a `#!` script whose
    interpreter (at most MAX_DEPTH scripts deep) is one. Raises SyscallError."""
    path = t.read_path(addr)
    if path:
        f = _exec_file(t, dirfd, path, follow=not flags & AT_SYMLINK_NOFOLLOW)
    elif flags & AT_EMPTY_PATH:
        f = _fd_exec_file(t, dirfd)
    else:
        raise SyscallError(errno.ENOENT)
    program = f
    for depth in range(MAX_DEPTH + 1):
        image = _examine(t, f)
        if isinstance(image, Elf):
            if image.interp is not None:
                _check_elf_interpreter(t, f, image.interp)
            return
        if depth == MAX_DEPTH:
            _refuse(t, program, errno.ELOOP, f"more than {MAX_DEPTH} #! scripts in a row")
        f = _interpreter(t, f, "#! interpreter", image.interp)


def _exec_file(t: Task, dirfd: int, path: str, follow: bool) -> ExecFile:
    """The file (dirfd, path) names, checked as exec checks it (a regular file the
    caller may execute) and its first bytes, in one gofer round trip."""
    def first(q: Path) -> ExecFile:
        q.fs.prepare_exec(t, q)
        st, head = q.fs.read_exec(t, q, follow, 0, HEAD)
        return ExecFile(q.raw, Identity.of_stat(st), head,
                        lambda offset, n: q.fs.read_exec(t, q, follow, offset, n)[1])
    return t.kernel.mounts.follow(first, t, t.kernel.mounts.resolve(t, dirfd, path))


def _fd_exec_file(t: Task, fd: int) -> ExecFile:
    """execveat(fd, "", AT_EMPTY_PATH): the file the task's fd names, read through
    /proc/PID/fd/N (an fd the task holds already: as fd_stat reads it)."""
    name = t.fd_path(fd)
    if name.startswith(MEMFD_LINK):
        raise SyscallError(errno.EACCES)  # a synthetic file: it exists only in the sentry
    st, head = _read_task_fd(t, fd, 0, HEAD)
    return ExecFile(name, Identity.of_host(st), head,
                    lambda offset, n: _read_task_fd(t, fd, offset, n)[1])


def _read_task_fd(t: Task, fd: int, offset: int, length: int) -> tuple[os.stat_result, bytes]:
    # The task's fd may be O_PATH (glibc's fexecve passes one) or write-only: an O_PATH
    # open of its link, then a reopen of that for reading, once it is a regular file
    # (so that no FIFO or device is ever opened for real).
    pfd = open_host(f"/proc/{t.pid}/fd/{fd}", os.O_PATH)
    try:
        st = os.fstat(pfd)
        if not stat.S_ISREG(st.st_mode):
            raise SyscallError(errno.EACCES)
        rfd = open_host(f"/proc/self/fd/{pfd}", os.O_RDONLY | os.O_NONBLOCK)
    finally:
        os.close(pfd)
    try:
        return st, os.pread(rfd, length, offset)
    finally:
        os.close(rfd)


def _examine(t: Task, f: ExecFile) -> Elf | Script:
    try:
        return t.kernel.loader.examine(f)
    except NotLoadable as e:
        _refuse(t, f, e.errno, e.why)


def _interpreter(t: Task, f: ExecFile, what: str, interp: str) -> ExecFile:
    """The interpreter f names, opened as the kernel opens it (open_exec: relative to
    the cwd, symlinks followed, a regular file the caller may execute)."""
    try:
        return _exec_file(t, AT_FDCWD, interp, follow=True)
    except SyscallError as e:
        _refuse(t, f, e.errno, f"{what} {interp}: {os.strerror(e.errno)}")


def _check_elf_interpreter(t: Task, f: ExecFile, interp: str) -> None:
    """The ELF interpreter (ld.so) must be an x86_64 ELF in the sandbox; its own
    PT_INTERP, if any, is ignored, as Linux ignores it."""
    g = _interpreter(t, f, "ELF interpreter", interp)
    try:
        image = t.kernel.loader.examine(g)
    except NotLoadable as e:
        _refuse(t, f, errno.ELIBBAD, f"ELF interpreter {interp}: {e.why}")
    if not isinstance(image, Elf):
        _refuse(t, f, errno.ELIBBAD, f"ELF interpreter {interp}: not an ELF")


def _refuse(t: Task, f: ExecFile, err: int, why: str) -> NoReturn:
    """Fails the exec, with a log line: a program that will not load is something
    the operator wants to see (once)."""
    t.kernel.log_once("exec", f"{f.name}: {why} ({errno.errorcode.get(err, err)})")
    raise SyscallError(err, why)


def execve(t: Task) -> Result:
    """execve implements Linux syscall execve(2).

    The sentry reads the target as the kernel will (_check_exec) and refuses what
    would not load, or would load something foreign; the host kernel then loads it
    (CONTINUE), resolving the same path in the workload's mount namespace. That
    namespace holds only the container tree, so a path swapped after the check can
    only name another file of the container, and the kernel makes its own exec
    permission checks on it (and the seccomp filter kills a foreign arch's code)."""
    _check_exec(t, AT_FDCWD, t.args[0], 0)
    t.creds_changing()  # a set-id program, and a thread's exec takes the leader's tid
    return CONTINUE


def execveat(t: Task) -> Result:
    """execveat implements Linux syscall execveat(2) (CONTINUE as for execve)."""
    flags = t.arg_int(4)
    if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW):
        raise SyscallError(errno.EINVAL)
    _check_exec(t, t.arg_int(0), t.args[1], flags)
    t.creds_changing()
    return CONTINUE


def chdir(t: Task) -> Result:
    """chdir implements Linux syscall chdir(2).

    The sentry checks the target is a searchable directory, then lets the kernel change
    the task's real cwd (CONTINUE): it resolves the same path in the workload's mount
    namespace, where a swapped path can only reach another container directory, and it
    re-checks search permission itself. /proc, /dev and /sys there are the sentry's own
    read-only skeletons, so the cwd never leaves the sandbox's tree. A path through a
    magic link (/proc/self/fd/N of a container directory) is prepared along its way:
    the skeleton's /proc shows the link as a symlink to the directory's sandbox path,
    which the kernel resolves in the same workload tree."""
    p = t.kernel.mounts.resolve(t, AT_FDCWD, t.read_path(t.args[0]))
    packed = t.kernel.mounts.follow(lambda q: q.fs.stat(t, q, True), t, p)
    if not stat.S_ISDIR(stat_mode(packed)):
        raise SyscallError(errno.ENOTDIR)
    t.kernel.mounts.follow(lambda q: q.fs.access(t, q, os.X_OK, True), t, p)
    t.kernel.mounts.follow(lambda q: q.fs.prepare_cwd(t, q), t, p)
    return CONTINUE


def getcwd(t: Task) -> int:
    """getcwd implements Linux syscall getcwd(2)."""
    cwd = os.fsencode(t.cwd()) + b"\0"
    if len(cwd) > t.args[1]:
        raise SyscallError(errno.ERANGE)
    t.write_bytes(t.args[0], cwd)
    return len(cwd)
