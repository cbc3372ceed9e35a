"""Opening a task's fd anew through its /proc/PID/fd/N link, as Linux does it.

Linux opens the file the fd refers to again, with the access the caller now asks for,
checked against that file's inode with the caller's credentials (may_open): never
with the access the fd was opened with, and here never with the sentry's own
credentials either. The sentry holds the file through an O_PATH fd (which checks
nothing) and opens that fd's own /proc/self/fd link with the caller's fsuid, fsgid,
groups and capabilities in place of its own (gofer.creds_native, as the gofer does for
every request), so the host kernel makes the same check it makes for the caller.

A FIFO opened for blocking waits for its peer; the sentry never waits on the
workload's behalf, so such an open is answered Later (sentry/kernel.py WaitingCalls):
the file is opened non-blocking, and the answer comes once a peer is there.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from gofer import creds_native
from sentry.errors import SyscallError
from sentry.syscalls.result import InstallFd, Later, Result

from sentry.task import acting_as

if TYPE_CHECKING:
    from sentry.task import Creds, Task

_NEVER = os.O_CREAT | os.O_EXCL | os.O_TMPFILE  # a reopen makes nothing
_SPLICE_F_NONBLOCK = 2
_libc = ctypes.CDLL(None, use_errno=True)
_own: tuple[int, int, tuple[int, ...], int] | None = None  # the sentry's fs ids, groups, caps


def reopen(t: Task, link: str, flags: int) -> Result:
    """Opens what link (/proc/<pid>/fd/<n>) refers to with flags, as t would."""
    try:
        held = os.open(link, os.O_PATH | os.O_CLOEXEC)
    except OSError as e:
        raise SyscallError(e.errno or errno.ENOENT) from None
    try:
        mode = os.fstat(held).st_mode
        if stat.S_ISSOCK(mode):
            raise SyscallError(errno.ENXIO)
        cloexec = bool(flags & os.O_CLOEXEC)  # (the task's fd's; the sentry's has it)
        flags = flags & ~_NEVER & ~os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
        waits = stat.S_ISFIFO(mode) and not flags & os.O_NONBLOCK and \
            flags & os.O_ACCMODE != os.O_RDWR
        if not waits:
            return InstallFd(_open_as(t.creds(), held, flags), cloexec)
        return _fifo_open(t.creds(), held, flags, cloexec)
    finally:
        os.close(held)


def open_as(t: Task, path: str, flags: int) -> int:
    """A host node the sentry serves (path) opened with t's credentials, as Linux would
    open it for t: what it makes (a pty, from the devpts ptmx) belongs to t."""
    try:
        held = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as e:
        raise SyscallError(e.errno or errno.ENOENT) from None
    try:
        return _open_as(t.creds(), held, flags & ~_NEVER | os.O_CLOEXEC | os.O_NOCTTY)
    finally:
        os.close(held)


def _open_as(c: Creds, held: int, flags: int) -> int:
    with _as_caller(c, held):
        try:
            return os.open(f"/proc/self/fd/{held}", flags)
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO) from None


def _fifo_open(c: Creds, held: int, flags: int, cloexec: bool) -> Result:
    """A blocking open of a FIFO: a reader waits for a writer, a writer for a reader.
    Both open non-blocking; a reader's open succeeds at once and is answered when a
    writer has come (or data: it came and went), a writer's is retried until a reader
    is there (ENXIO until then). The permission check is made at the first try."""
    writer = flags & os.O_ACCMODE == os.O_WRONLY
    try:
        fd = _open_as(c, held, flags | os.O_NONBLOCK)
    except SyscallError as e:
        if not (writer and e.errno == errno.ENXIO):
            raise
        fd = -1
    if fd >= 0 and not writer and not _has_writer(fd):
        state = {"fd": fd}

        def reader_ready() -> Result | None:
            if not _has_writer(state["fd"]):
                return None
            return InstallFd(_blocking(state.pop("fd")), cloexec)

        def close_reader() -> None:
            if "fd" in state:
                os.close(state.pop("fd"))

        return Later(reader_ready, close_reader)
    if fd >= 0:
        return InstallFd(_blocking(fd), cloexec)
    # a writer without a reader: the FIFO, held for the retries, names the same file
    kept = os.dup(held)

    def writer_ready() -> Result | None:
        try:
            fd = _open_as(c, kept, flags | os.O_NONBLOCK)
        except SyscallError as e:
            if e.errno == errno.ENXIO:
                return None
            raise
        os.close(kept)
        return InstallFd(_blocking(fd), cloexec)

    return Later(writer_ready, lambda: os.close(kept))


def _blocking(fd: int) -> int:
    """fd in the blocking mode the caller asked for (the file status flags are the
    open file's: the task's fd shares them)."""
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def _has_writer(fd: int) -> bool:
    """Whether a FIFO's read end has a writer, or data (a writer came): tee(2) of one
    byte, without blocking and without consuming it, says 0 when there is neither,
    EAGAIN when a writer is there with nothing written yet."""
    r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        n = _libc.tee(fd, w, 1, _SPLICE_F_NONBLOCK)
        return n > 0 or (n < 0 and ctypes.get_errno() == errno.EAGAIN)
    finally:
        os.close(r)
        os.close(w)


@contextmanager
def _as_caller(c: Creds, held: int) -> Iterator[None]:
    """The caller's fsuid, fsgid, groups and capabilities in place of the sentry's, as
    the host knows them for the file held (sentry.task.acting_as: in a user namespace,
    its capabilities count only on files whose owner that namespace maps)."""
    global _own
    if _own is None:
        _own = (os.geteuid(), os.getegid(), tuple(os.getgroups()), _effective_caps())
    st = os.fstat(held)
    creds_native.switch_to(*acting_as(c, (st.st_uid, st.st_gid)))
    try:
        yield
    finally:
        creds_native.switch_to(*_own)


def _effective_caps() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    raise AssertionError("no CapEff in /proc/self/status")
