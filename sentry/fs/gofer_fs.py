"""The container tree (rootfs, bind mounts, tmpfs), served by the gofer."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gofer.client import GoferClient, GoferFifo, GoferRedirect
from gofer.protocol import EXEC_MAX_READ, STAT, Op, Request
from sentry.errors import SyscallError
from sentry.fs.base import FileSystem, KernelOpens, Redirect

if TYPE_CHECKING:
    from sentry.task import Task
    from sentry.vfs import Path


class GoferFS(FileSystem):
    name = "gofer"

    def __init__(self, client: GoferClient) -> None:
        self.client = client

    def call(self, t: Task, op: Op, *paths: str, a: tuple[int, ...] = (),
             data: bytes = b"") -> tuple[int, bytes, int]:
        c = t.creds()
        args = (tuple(a) + (0, 0, 0, 0))[:4]
        req = Request(op, paths, c.fsuid, c.fsgid, c.umask, c.groups, args,  # type: ignore[arg-type]
                      c.cap_effective, data)
        try:
            return self.client.call(req)
        except GoferFifo:
            raise KernelOpens() from None
        except GoferRedirect as r:
            # a symlink leads out of the tree: MountTable.follow restarts there
            raise Redirect(r.path, base="/") from None
        except OSError as e:
            raise SyscallError(e.errno or 5) from None

    def open(self, t: Task, p: Path, flags: int, mode: int, resolve: int = 0) -> int:
        """resolve: RESOLVE_* flags of the caller's that narrow the gofer's resolution."""
        return self.call(t, Op.OPEN, p.raw, a=(flags, mode, resolve))[2]

    def open_from(self, t: Task, base: Path, rel: str, flags: int, mode: int,
                  resolve: int) -> int:
        """openat2(2) with RESOLVE_* flags, relative to the directory base."""
        return self.call(t, Op.OPEN, base.raw, rel, a=(flags, mode, resolve))[2]

    def stat(self, t: Task, p: Path, follow: bool) -> bytes:
        return self.call(t, Op.STAT, p.raw, a=(int(follow),))[1]

    def readlink(self, t: Task, p: Path) -> str:
        return os.fsdecode(self.call(t, Op.READLINK, p.raw)[1])

    def access(self, t: Task, p: Path, mode: int, follow: bool) -> None:
        self.call(t, Op.ACCESS, p.raw, a=(mode, int(follow)))

    def read_exec(self, t: Task, p: Path, follow: bool, offset: int,
                  length: int) -> tuple[bytes, bytes]:
        """One round trip: the gofer checks and reads in the same request (reads
        longer than a reply holds take one more each)."""
        chunks: list[bytes] = []
        while True:
            n = min(length, EXEC_MAX_READ)
            payload = self.call(t, Op.EXEC, p.raw, a=(int(follow), offset, n))[1]
            chunks.append(payload[STAT.size:])
            offset, length = offset + n, length - n
            if length <= 0 or len(payload) - STAT.size < n:
                return payload[:STAT.size], b"".join(chunks)

    def statfs(self, t: Task, p: Path) -> bytes:
        return self.call(t, Op.STATFS, p.raw)[1]

    # -- mutations -------------------------------------------------------------------------
    def mkdir(self, t: Task, p: Path, mode: int) -> None:
        self.call(t, Op.MKDIR, p.raw, a=(mode,))

    def mknod(self, t: Task, p: Path, mode: int, dev: int) -> None:
        self.call(t, Op.MKNOD, p.raw, a=(mode, dev))

    def unlink(self, t: Task, p: Path, rmdir: bool) -> None:
        self.call(t, Op.UNLINK, p.raw, a=(int(rmdir),))

    def rename(self, t: Task, old: Path, new: Path, flags: int) -> None:
        self.call(t, Op.RENAME, old.raw, new.raw, a=(flags,))

    def symlink(self, t: Task, target: str, p: Path) -> None:
        self.call(t, Op.SYMLINK, target, p.raw)

    def link(self, t: Task, old: Path, new: Path, follow: bool) -> None:
        self.call(t, Op.LINK, old.raw, new.raw, a=(int(follow),))

    def chmod(self, t: Task, p: Path, mode: int, follow: bool) -> None:
        self.call(t, Op.CHMOD, p.raw, a=(mode, int(follow)))

    def chown(self, t: Task, p: Path, uid: int, gid: int, follow: bool) -> None:
        self.call(t, Op.CHOWN, p.raw, a=(uid, gid, int(follow)))

    def utimens(self, t: Task, p: Path, atime_ns: int, mtime_ns: int, follow: bool) -> None:
        self.call(t, Op.UTIMENS, p.raw, a=(atime_ns, mtime_ns, int(follow)))

    def truncate(self, t: Task, p: Path, length: int) -> None:
        self.call(t, Op.TRUNCATE, p.raw, a=(length,))

    def getxattr(self, t: Task, p: Path, name: str, size: int, follow: bool) -> tuple[int, bytes]:
        value, payload, _fd = self.call(t, Op.GETXATTR, p.raw, name, a=(int(follow), size))
        return value, payload

    def listxattr(self, t: Task, p: Path, size: int, follow: bool) -> tuple[int, bytes]:
        value, payload, _fd = self.call(t, Op.LISTXATTR, p.raw, a=(int(follow), size))
        return value, payload

    def setxattr(self, t: Task, p: Path, name: str, value: bytes, flags: int,
                 follow: bool) -> None:
        self.call(t, Op.SETXATTR, p.raw, name, a=(int(follow), flags, 0, len(value)), data=value)

    def removexattr(self, t: Task, p: Path, name: str, follow: bool) -> None:
        self.call(t, Op.REMOVEXATTR, p.raw, name, a=(int(follow),))
