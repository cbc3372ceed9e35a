"""What a filesystem of the sentry's mount table implements. Each method takes the
calling task and a resolved path; it returns a result or raises SyscallError."""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from sentry.errors import SyscallError

if TYPE_CHECKING:
    from sentry.task import Task
    from sentry.vfs import Path


class Redirect(Exception):
    """Resolution met a symlink that leaves this filesystem: restart at `target`
    (absolute, or relative to `base`)."""

    def __init__(self, target: str, base: str) -> None:
        super().__init__(target)
        self.target = target
        self.base = base


class KernelOpens(Exception):
    """The host kernel is to open this path in the task (CONTINUE): a FIFO opened for
    blocking, whose open waits for its peer, which neither the sentry nor the gofer may
    do. The kernel resolves the path in the workload's mount namespace, which holds only
    the container tree, with the task's own credentials: a path swapped after the
    check can only open another file of the container, as the caller could itself."""


class FileSystem:
    """Defaults: a read-only filesystem without symlinks."""

    name = "none"

    def open(self, t: Task, p: Path, flags: int, mode: int) -> int:
        raise SyscallError(errno.ENOENT)

    def stat(self, t: Task, p: Path, follow: bool) -> bytes:
        raise SyscallError(errno.ENOENT)

    def readlink(self, t: Task, p: Path) -> str:
        raise SyscallError(errno.EINVAL)

    def access(self, t: Task, p: Path, mode: int, follow: bool) -> None:
        self.stat(t, p, follow)
        if mode & 2:
            raise SyscallError(errno.EROFS)

    def prepare_cwd(self, t: Task, p: Path) -> None:
        """Makes the directory exist where the host kernel will chdir (synthetic
        filesystems materialise it in their skeleton)."""

    def prepare_exec(self, t: Task, p: Path) -> None:
        """Makes the path resolvable by the host kernel, which loads an exec'd program
        by its path (synthetic filesystems materialise their part of it)."""

    def read_exec(self, t: Task, p: Path, follow: bool, offset: int,
                  length: int) -> tuple[bytes, bytes]:
        """execve's view of p: its struct stat and up to length bytes from offset, if
        it is a regular file the caller may execute. Refused here: synthetic files
        exist only in the sentry, and the kernel could not load them."""
        self.stat(t, p, follow)
        raise SyscallError(errno.EACCES)

    def statfs(self, t: Task, p: Path) -> bytes:
        raise SyscallError(errno.ENOSYS)

    # mutations: refused on read-only and synthetic filesystems
    def mkdir(self, t: Task, p: Path, mode: int) -> None:
        self.stat(t, p, False)
        raise SyscallError(errno.EEXIST)

    def mknod(self, t: Task, p: Path, mode: int, dev: int) -> None:
        raise SyscallError(errno.EROFS)

    def unlink(self, t: Task, p: Path, rmdir: bool) -> None:
        raise SyscallError(errno.EROFS)

    def rename(self, t: Task, old: Path, new: Path, flags: int) -> None:
        raise SyscallError(errno.EROFS)

    def symlink(self, t: Task, target: str, p: Path) -> None:
        raise SyscallError(errno.EROFS)

    def link(self, t: Task, old: Path, new: Path, follow: bool) -> None:
        raise SyscallError(errno.EROFS)

    def chmod(self, t: Task, p: Path, mode: int, follow: bool) -> None:
        raise SyscallError(errno.EROFS)

    def chown(self, t: Task, p: Path, uid: int, gid: int, follow: bool) -> None:
        raise SyscallError(errno.EROFS)

    def utimens(self, t: Task, p: Path, atime_ns: int, mtime_ns: int, follow: bool) -> None:
        raise SyscallError(errno.EROFS)

    def truncate(self, t: Task, p: Path, length: int) -> None:
        raise SyscallError(errno.EROFS)

    # extended attributes: none on synthetic files
    def getxattr(self, t: Task, p: Path, name: str, size: int, follow: bool) -> tuple[int, bytes]:
        raise SyscallError(errno.EOPNOTSUPP)

    def listxattr(self, t: Task, p: Path, size: int, follow: bool) -> tuple[int, bytes]:
        raise SyscallError(errno.EOPNOTSUPP)

    def setxattr(self, t: Task, p: Path, name: str, value: bytes, flags: int,
                 follow: bool) -> None:
        raise SyscallError(errno.EOPNOTSUPP)

    def removexattr(self, t: Task, p: Path, name: str, follow: bool) -> None:
        raise SyscallError(errno.EOPNOTSUPP)
