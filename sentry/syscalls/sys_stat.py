"""The stat family and statfs."""
from __future__ import annotations

import errno

from sentry.abi import stat_to_statx
from sentry.errors import SyscallError
from sentry.fs.node import pack_host_stat
from sentry.syscalls.sys_file import AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW
from sentry.task import AT_FDCWD, Task

AT_NO_AUTOMOUNT = 0x800
AT_STATX_SYNC_TYPE = 0x6000
_STAT_FLAGS = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT


def stat_of(t: Task, dirfd: int, addr: int, flags: int) -> bytes:
    """struct stat of (dirfd, path) as the sandbox sees it."""
    return _stat_and_mount(t, dirfd, addr, flags)[0]


def _stat_and_mount(t: Task, dirfd: int, addr: int, flags: int) -> tuple[bytes, int]:
    """struct stat of (dirfd, path) and the id of the mount it lies on."""
    table = t.kernel.mounts
    path = t.read_path(addr)
    if not path and flags & AT_EMPTY_PATH:
        # the fd (or cwd) itself: the host's /proc/PID/fd magic link reaches its file
        if dirfd == AT_FDCWD:
            path = t.cwd()
        else:
            packed = pack_host_stat(t.fd_stat(dirfd))
            where = t.fd_path(dirfd)
            return packed, table.mount_id(table.path(where).mount) if where.startswith("/") else 0
    p = table.resolve(t, dirfd, path)
    follow = not flags & AT_SYMLINK_NOFOLLOW
    return table.follow(lambda q: (q.fs.stat(t, q, follow), table.mount_id(q.mount)), t, p)


def stat(t: Task) -> int:
    """stat implements Linux syscall stat(2)."""
    t.write_bytes(t.args[1], stat_of(t, AT_FDCWD, t.args[0], 0))
    return 0


def lstat(t: Task) -> int:
    """lstat implements Linux syscall lstat(2)."""
    t.write_bytes(t.args[1], stat_of(t, AT_FDCWD, t.args[0], AT_SYMLINK_NOFOLLOW))
    return 0


def newfstatat(t: Task) -> int:
    """newfstatat implements Linux syscall fstatat(2)."""
    flags = t.arg_int(3)
    if flags & ~_STAT_FLAGS:
        raise SyscallError(errno.EINVAL)
    t.write_bytes(t.args[2], stat_of(t, t.arg_int(0), t.args[1], flags))
    return 0


def statx(t: Task) -> int:
    """statx implements Linux syscall statx(2): the basic stats (STATX_BASIC_STATS) and
    the mount's id (STATX_MNT_ID, as in /proc/PID/mountinfo)."""
    flags = t.arg_int(2)
    if flags & ~(_STAT_FLAGS | AT_STATX_SYNC_TYPE) or flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE:
        raise SyscallError(errno.EINVAL)
    if t.args[3] & 0x80000000:  # STATX__RESERVED
        raise SyscallError(errno.EINVAL)
    packed, mnt_id = _stat_and_mount(t, t.arg_int(0), t.args[1], flags)
    t.write_bytes(t.args[4], stat_to_statx(packed, mnt_id))
    return 0


def statfs(t: Task) -> int:
    """statfs implements Linux syscall statfs(2)."""
    p = t.kernel.mounts.resolve(t, AT_FDCWD, t.read_path(t.args[0]))
    t.write_bytes(t.args[1], t.kernel.mounts.follow(lambda q: q.fs.statfs(t, q), t, p))
    return 0
