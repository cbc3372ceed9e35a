"""The calling task of one trapped syscall, as its handler sees it.

A handler reads its arguments through this object (each read is re-validated with
SECCOMP_IOCTL_NOTIF_ID_VALID, so memory read from a recycled pid is never acted on),
and learns the task's cwd, fds and credentials from the host's /proc/PID: never from
bookkeeping that a missed event could make stale.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from sentry import usermem_native
from sentry._native._notify import ffi, lib
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
        """The caller's credentials, from the sentry's one credentials cache (C's
        task_creds: per thread, as Linux keeps them, and keyed by the /proc/<tid>
        inode, which a recycled tid does not share). Every call that changes them is
        trapped and tells the cache first (creds_changing)."""
        if self._creds is None:
            out = _creds_buf
            err = lib.task_creds(self.pid, out)
            if err == -errno.ESRCH:
                raise TaskGone()
            if err == -errno.EPERM:  # ids its user namespace does not map: no one's
                raise SyscallError(errno.EPERM)
            if err < 0:  # more supplementary groups than the gofer protocol carries
                raise SyscallError(errno.EINVAL)
            self._creds = Creds(
                uid=out.uid, gid=out.gid, fsuid=out.fsuid, fsgid=out.fsgid,
                groups=tuple(out.groups[0:out.ngroups]), cap_effective=out.cap_effective,
                umask=out.umask,
            )
        return self._creds

    def creds_changing(self) -> None:
        """This call (a set*id, setgroups, capset, umask or exec) changes credentials
        once the host kernel runs it: the cache forgets what it will change (creds.c's
        task_creds_changing, which knows who else an exec or umask reaches)."""
        lib.task_creds_changing(self.pid, self.nr)
        self._status = None


_creds_buf = ffi.new("struct task_creds *")


def translate_ids(uid_map: tuple[tuple[int, int, int], ...],
                  gid_map: tuple[tuple[int, int, int], ...]) -> None:
    """The tasks live in a user namespace of their own with these maps ("inside outside
    count", as the sentry reads them): their credentials are read in its terms from now
    on (creds.c), and the C path leaves their files to the gofer (fastpath.c)."""
    uids = ffi.new("uint32_t[]", [n for line in uid_map for n in line] or [0])
    gids = ffi.new("uint32_t[]", [n for line in gid_map for n in line] or [0])
    if lib.creds_set_id_maps(uids, len(uid_map), gids, len(gid_map)) < 0:
        raise ValueError("more user namespace id map lines than the kernel allows")


OVERFLOW_ID = 65534  # what Linux shows for an id a user namespace does not map


def host_ids_seen(uid: int, gid: int) -> tuple[int, int]:
    """A host uid and gid as the tasks see them (their user namespace's, if they have
    one: translate_ids; the overflow id where it maps none)."""
    inside_uid, inside_gid = lib.creds_uid_inside(uid), lib.creds_gid_inside(gid)
    return (OVERFLOW_ID if inside_uid < 0 else inside_uid,
            OVERFLOW_ID if inside_gid < 0 else inside_gid)


def acting_as(c: Creds, owner: tuple[int, int]) -> tuple[int, int, tuple[int, ...], int]:
    """(fsuid, fsgid, groups, capabilities) with which the sentry acts on the host for a
    task with credentials c, on a file whose host owner and group are owner: c's ids
    as the host numbers them, and its capabilities only where its user namespace maps
    the file's owner and group (Linux's privileged_wrt_inode_uidgid): a capability
    held in a child user namespace is no host capability."""
    if not lib.creds_in_user_ns():
        return c.fsuid, c.fsgid, c.groups, c.cap_effective
    fsuid, fsgid = lib.creds_uid_outside(c.fsuid), lib.creds_gid_outside(c.fsgid)
    groups = tuple(g for g in map(lib.creds_gid_outside, c.groups) if g >= 0)
    if fsuid < 0 or fsgid < 0:  # (creds.c gives no such task credentials)
        raise SyscallError(errno.EPERM)
    mapped = lib.creds_uid_inside(owner[0]) >= 0 and lib.creds_gid_inside(owner[1]) >= 0
    return fsuid, fsgid, groups, c.cap_effective if mapped else 0
