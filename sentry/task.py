"""The calling task of one trapped syscall, as its handler sees it.

A handler reads its arguments through this object (each read is re-validated with
SECCOMP_IOCTL_NOTIF_ID_VALID, so memory read from a recycled pid is never acted on),
and learns the task's cwd, fds and credentials from the host's /proc/PID: never from
bookkeeping that a missed event could make stale.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from sentry import usermem_native
from sentry.errors import SyscallError, TaskGone

if TYPE_CHECKING:
    from sentry.kernel import Kernel

AT_FDCWD = -100


@dataclass(frozen=True)
class Creds:
    uid: int
    gid: int
    fsuid: int
    fsgid: int
    groups: tuple[int, ...]
    cap_effective: int
    umask: int

    def has_cap(self, cap: int) -> bool:
        return bool(self.cap_effective >> cap & 1)


class Task:
    """One notification's caller: host pid, syscall number and raw arguments."""

    __slots__ = ("kernel", "pid", "nr", "args", "_still_valid", "_creds", "_status")

    def __init__(
        self,
        kernel: Kernel,
        pid: int,
        nr: int,
        args: tuple[int, ...],
        still_valid: Callable[[], bool],
    ) -> None:
        self.kernel = kernel
        self.pid = pid
        self.nr = nr
        self.args = args
        self._still_valid = still_valid
        self._creds: Creds | None = None
        self._status: bytes | None = None

    # -- arguments -------------------------------------------------------------------
    def check_valid(self) -> None:
        if not self._still_valid():
            raise TaskGone()

    def arg_int(self, i: int) -> int:
        """Argument i as a C int (sign-extended from its low 32 bits)."""
        v = self.args[i] & 0xFFFFFFFF
        return v - (1 << 32) if v & 0x80000000 else v

    def read_path(self, addr: int) -> str:
        raw = usermem_native.read_string(self.pid, addr)
        self.check_valid()
        return os.fsdecode(raw)

    def read_string(self, addr: int, limit: int) -> bytes:
        raw = usermem_native.read_string(self.pid, addr, limit)
        self.check_valid()
        return raw

    def read_bytes(self, addr: int, length: int) -> bytes:
        data = usermem_native.read_bytes(self.pid, addr, length)
        self.check_valid()
        return data

    def write_bytes(self, addr: int, data: bytes) -> None:
        usermem_native.write_bytes(self.pid, addr, data)

    # -- state the host knows ----------------------------------------------------------
    def _proc(self, name: str) -> str:
        return f"/proc/{self.pid}/{name}"

    def cwd(self) -> str:
        try:
            path = os.readlink(self._proc("cwd"))
        except OSError:
            raise TaskGone() from None
        if path.endswith(" (deleted)"):
            raise SyscallError(errno.ENOENT)
        return path

    def fd_path(self, fd: int) -> str:
        """The sandbox path of the task's fd (the workload's mount namespace holds only
        the container tree, so the host names it by its sandbox path)."""
        if fd < 0:
            raise SyscallError(errno.EBADF)
        try:
            return os.readlink(self._proc(f"fd/{fd}"))
        except FileNotFoundError:
            raise SyscallError(errno.EBADF) from None

    def fd_stat(self, fd: int) -> os.stat_result:
        try:
            return os.stat(self._proc(f"fd/{fd}"))
        except FileNotFoundError:
            raise SyscallError(errno.EBADF) from None

    def dir_path(self, dirfd: int) -> str:
        """The sandbox path a *at() call's relative path starts from."""
        if dirfd == AT_FDCWD:
            return self.cwd()
        path = self.fd_path(dirfd)
        if not path.startswith("/") or path.endswith(" (deleted)"):
            raise SyscallError(errno.ENOTDIR)
        if not stat.S_ISDIR(self.fd_stat(dirfd).st_mode):
            raise SyscallError(errno.ENOTDIR)
        return path

    def proc_status(self) -> bytes:
        """The caller's /proc/<tid>/status, read once per notification: its credentials
        and /proc/self's answers come from the same read."""
        if self._status is None:
            try:
                with open(self._proc("status"), "rb") as f:
                    self._status = f.read()
            except OSError:
                raise TaskGone() from None
        return self._status

    def creds(self) -> Creds:
        """The caller's credentials. Cached per thread (they are per thread in Linux)
        and keyed by its /proc/<tid> inode, which a recycled tid does not share; every
        call that changes them is trapped and forgets the entry (sys_identity)."""
        if self._creds is None:
            try:
                ino = os.stat(self._proc("")).st_ino
            except OSError:
                raise TaskGone() from None
            cached = self.kernel.creds_cache.get(self.pid)
            if cached is not None and cached[0] == ino:
                self._creds = cached[1]
            else:
                self._creds = _parse_creds(self.proc_status())
                self.kernel.creds_cache[self.pid] = (ino, self._creds)
        return self._creds

    def forget_creds(self) -> None:
        self.kernel.creds_cache.pop(self.pid, None)
        self._status = None


_STATUS_FIELDS = re.compile(rb"^(Umask|Uid|Gid|Groups|CapEff):[ \t]*(.*)$", re.M)


def _parse_creds(raw: bytes) -> Creds:
    fields = {k.decode(): v.decode() for k, v in _STATUS_FIELDS.findall(raw)}
    uids = fields["Uid"].split()
    gids = fields["Gid"].split()
    return Creds(
        uid=int(uids[1]),
        gid=int(gids[1]),
        fsuid=int(uids[3]),
        fsgid=int(gids[3]),
        groups=tuple(int(g) for g in fields.get("Groups", "").split()),
        cap_effective=int(fields["CapEff"], 16),
        umask=int(fields.get("Umask", "0022"), 8),
    )
