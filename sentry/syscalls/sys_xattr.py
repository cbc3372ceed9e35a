"""Extended attributes by path (the fd forms run natively)."""
from __future__ import annotations

import errno

from sentry.errors import SyscallError
from sentry.task import AT_FDCWD, Task
from sentry.vfs import Path

XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_CREATE, XATTR_REPLACE = 1, 2


def _path(t: Task) -> Path:
    return t.kernel.mounts.resolve(t, AT_FDCWD, t.read_path(t.args[0]))


def _name(t: Task) -> str:
    try:
        raw = t.read_string(t.args[1], XATTR_NAME_MAX + 1)
    except SyscallError as e:
        if e.errno != errno.ENAMETOOLONG:
            raise
        raw = b""  # longer than XATTR_NAME_MAX: Linux says ERANGE, as for ""
    if not raw:
        raise SyscallError(errno.ERANGE)
    return raw.decode(errors="surrogateescape")


def _get(t: Task, follow: bool) -> int:
    p, name, size = _path(t), _name(t), t.args[3]
    value, data = t.kernel.mounts.follow(
        lambda q: q.fs.getxattr(t, q, name, min(size, XATTR_SIZE_MAX), follow), t, p)
    if size:
        t.write_bytes(t.args[2], data)
    return value


def getxattr(t: Task) -> int:
    """getxattr implements Linux syscall getxattr(2)."""
    return _get(t, True)


def lgetxattr(t: Task) -> int:
    """lgetxattr implements Linux syscall lgetxattr(2)."""
    return _get(t, False)


def _list(t: Task, follow: bool) -> int:
    p, size = _path(t), t.args[2]
    value, data = t.kernel.mounts.follow(
        lambda q: q.fs.listxattr(t, q, min(size, XATTR_SIZE_MAX), follow), t, p)
    if size:
        t.write_bytes(t.args[1], data)
    return value


def listxattr(t: Task) -> int:
    """listxattr implements Linux syscall listxattr(2)."""
    return _list(t, True)


def llistxattr(t: Task) -> int:
    """llistxattr implements Linux syscall llistxattr(2)."""
    return _list(t, False)


def _set(t: Task, follow: bool) -> int:
    size, flags = t.args[3], t.arg_int(4)
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise SyscallError(errno.EINVAL)
    if size > XATTR_SIZE_MAX:
        raise SyscallError(errno.E2BIG)
    p, name = _path(t), _name(t)
    value = t.read_bytes(t.args[2], size)
    t.kernel.mounts.follow(lambda q: q.fs.setxattr(t, q, name, value, flags, follow), t, p)
    return 0


def setxattr(t: Task) -> int:
    """setxattr implements Linux syscall setxattr(2)."""
    return _set(t, True)


def lsetxattr(t: Task) -> int:
    """lsetxattr implements Linux syscall lsetxattr(2)."""
    return _set(t, False)


def _remove(t: Task, follow: bool) -> int:
    p, name = _path(t), _name(t)
    t.kernel.mounts.follow(lambda q: q.fs.removexattr(t, q, name, follow), t, p)
    return 0


def removexattr(t: Task) -> int:
    """removexattr implements Linux syscall removexattr(2)."""
    return _remove(t, True)


def lremovexattr(t: Task) -> int:
    """lremovexattr implements Linux syscall lremovexattr(2)."""
    return _remove(t, False)
