"""The sandbox's /dev (a few harmless host devices and links) and /dev/pts (the
sentry's private devpts instance)."""
from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Callable

from sentry.errors import SyscallError
from sentry.fs.node import Device, Dir, Node, Symlink, SyntheticFS, open_host
from sentry.fs.reopen import open_as

if TYPE_CHECKING:
    from sentry.task import Task

TMPFS_MAGIC = 0x01021994
DEVPTS_SUPER_MAGIC = 0x1CD1

# name: (host node, major, minor)
HOST_DEVICES = {
    "null": ("/dev/null", 1, 3),
    "zero": ("/dev/zero", 1, 5),
    "full": ("/dev/full", 1, 7),
    "random": ("/dev/random", 1, 8),
    "urandom": ("/dev/urandom", 1, 9),
}


UNIX98_PTY_SLAVE_MAJOR = 136  # to 143: the pts index is (major - 136) * 256 + minor


def open_tty(t: Task, flags: int) -> int:
    """/dev/tty: the task's controlling terminal (tty_nr of its /proc/PID/stat), one of
    the sandbox's devpts terminals; ENXIO without one, as Linux says."""
    try:
        with open(f"/proc/{t.pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        raise SyscallError(errno.ENXIO) from None
    tty_nr = int(raw[raw.rindex(b")") + 2:].split()[4])  # state ppid pgrp session tty_nr
    major, minor = os.major(tty_nr), os.minor(tty_nr)
    if not UNIX98_PTY_SLAVE_MAJOR <= major < UNIX98_PTY_SLAVE_MAJOR + 8:
        raise SyscallError(errno.ENXIO)
    index = (major - UNIX98_PTY_SLAVE_MAJOR) * 256 + minor
    try:
        fd = open_host(_devpts_path(t.kernel, str(index)), flags)
    except SyscallError:
        raise SyscallError(errno.ENXIO) from None  # not one of the sandbox's terminals
    if os.fstat(fd).st_rdev != tty_nr:
        os.close(fd)
        raise SyscallError(errno.ENXIO)
    return fd


def _devpts_path(kernel, name: str) -> str:  # type: ignore[no-untyped-def]
    base = getattr(kernel, "devpts", None)
    if not base:
        raise SyscallError(errno.ENOENT)
    return os.path.join(base, name)


def _pty_node(host: str | Callable[[Task], str], rdev: int | None = None) -> Device:
    """A node of the sentry's devpts instance, opened with the caller's credentials
    (sentry/fs/reopen.py open_as): Linux's checks on a pty, and a new one from ptmx
    belongs to its opener."""
    def opener(t: Task, flags: int) -> int:
        return open_as(t, host if isinstance(host, str) else host(t), flags)

    return Device(host, rdev, opener=opener)


class DevFS(SyntheticFS):
    name = "devfs"
    magic = TMPFS_MAGIC
    dev = os.makedev(0, 0x05)
    statfs_flags = 0x2  # nosuid

    def __init__(self, kernel) -> None:  # type: ignore[no-untyped-def]
        entries: dict[str, Node] = {
            name: Device(host, os.makedev(major, minor))
            for name, (host, major, minor) in HOST_DEVICES.items()
        }
        entries["tty"] = Device("/dev/tty", os.makedev(5, 0), opener=open_tty)
        entries["ptmx"] = _pty_node(lambda t: _devpts_path(kernel, "ptmx"), os.makedev(5, 2))
        entries["fd"] = Symlink("/proc/self/fd")
        entries["stdin"] = Symlink("/proc/self/fd/0")
        entries["stdout"] = Symlink("/proc/self/fd/1")
        entries["stderr"] = Symlink("/proc/self/fd/2")
        entries["core"] = Symlink("/proc/kcore")
        for d in ("shm", "pts", "mqueue"):
            entries[d] = Dir(mode=0o1777 if d in ("shm", "mqueue") else 0o755)
        super().__init__(kernel, Dir(entries, mode=0o755))


class DevptsFS(SyntheticFS):
    """The sentry's private devpts instance (kernel.devpts), node by node."""

    name = "devpts"
    magic = DEVPTS_SUPER_MAGIC
    dev = os.makedev(0, 0x16)
    statfs_flags = 0x2 | 0x8

    def __init__(self, kernel) -> None:  # type: ignore[no-untyped-def]
        def entries(t: Task) -> dict[str, Node]:
            base = getattr(kernel, "devpts", None)
            if not base:
                return {}
            try:
                names = os.listdir(base)
            except OSError:
                return {}
            return {n: _pty_node(os.path.join(base, n)) for n in names
                    if n == "ptmx" or n.isdigit()}

        super().__init__(kernel, Dir(entries, mode=0o755))
