"""Filesystem calls Python's os module lacks or cannot make on O_PATH fds (ctypes):
renameat2, fstatfs, fchownat(AT_EMPTY_PATH), utimensat with UTIME_NOW/UTIME_OMIT."""
from __future__ import annotations

import ctypes
import os

SYS_renameat2 = 316
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
STATFS_SIZE = 120  # struct statfs, x86_64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.fstatfs.argtypes = (ctypes.c_int, ctypes.c_void_p)
_libc.fchownat.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint,
                           ctypes.c_int)
_libc.utimensat.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _check(rc: int, what: str) -> None:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), what)


def renameat2(olddirfd: int, old: str, newdirfd: int, new: str, flags: int) -> None:
    _check(_libc.syscall(SYS_renameat2, ctypes.c_int(olddirfd), os.fsencode(old),
                         ctypes.c_int(newdirfd), os.fsencode(new), ctypes.c_uint(flags)),
           old)


def fstatfs(fd: int) -> bytes:
    """The raw struct statfs (x86_64 layout, 120 bytes) of fd (O_PATH fds work)."""
    buf = ctypes.create_string_buffer(STATFS_SIZE)
    _check(_libc.fstatfs(fd, buf), "fstatfs")
    return buf.raw


def fchown_empty(fd: int, uid: int, gid: int) -> None:
    """fchownat(fd, "", uid, gid, AT_EMPTY_PATH): chown of what an O_PATH fd names,
    a symlink included; -1 keeps."""
    _check(_libc.fchownat(fd, b"", uid & 0xFFFFFFFF, gid & 0xFFFFFFFF, AT_EMPTY_PATH),
           "fchownat")


def _ts(ns: int) -> _Timespec:
    """Nanoseconds, or the negated UTIME_NOW/UTIME_OMIT of the gofer protocol."""
    if ns in (-UTIME_NOW, -UTIME_OMIT):
        return _Timespec(0, -ns)
    if ns < 0:
        return _Timespec(-((-ns + 10**9 - 1) // 10**9), (ns % 10**9))
    return _Timespec(ns // 10**9, ns % 10**9)


def utimensat(dirfd: int, path: str, atime_ns: int, mtime_ns: int, flags: int) -> None:
    times = (_Timespec * 2)(_ts(atime_ns), _ts(mtime_ns))
    _check(_libc.utimensat(dirfd, os.fsencode(path), times, flags), path)
