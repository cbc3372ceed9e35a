"""Copying arguments in from, and results out to, a task's memory (cffi)."""
from __future__ import annotations

import errno

from sentry._native._notify import ffi, lib
from sentry.errors import SyscallError

PATH_MAX = 4096

_path_buf = ffi.new("char[]", PATH_MAX)


def read_bytes(pid: int, addr: int, length: int) -> bytes:
    if length == 0:
        return b""
    buf = ffi.new("char[]", length)
    n = lib.task_read(pid, addr, buf, length)
    if n < 0:
        raise SyscallError(errno.EFAULT)
    return ffi.buffer(buf, length)[:]


def write_bytes(pid: int, addr: int, data: bytes) -> None:
    if not data:
        return
    if lib.task_write(pid, addr, data, len(data)) < 0:
        raise SyscallError(errno.EFAULT)


def read_string(pid: int, addr: int, limit: int = PATH_MAX) -> bytes:
    """A NUL-terminated string of at most limit bytes (NUL included), as Linux's
    strncpy_from_user: EFAULT for a bad pointer, ENAMETOOLONG when too long."""
    buf = _path_buf if limit <= PATH_MAX else ffi.new("char[]", limit)
    n = lib.task_read_string(pid, addr, buf, limit)
    if n < 0:
        raise SyscallError(-n)
    return ffi.buffer(buf, n)[:]
