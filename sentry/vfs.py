"""The sandbox's mount table and path resolution.

The sentry decides which filesystem serves a path: the container tree (through the
gofer) or one of its own synthetic filesystems (/proc, /dev, /sys). A relative path
starts from the task's real cwd or dirfd, read from the host's /proc/PID. The path
handed on is the joined, un-normalised one, so that the gofer's in-root resolution
(like the kernel's) follows symlinks before `..`; the lexical form only picks the mount.
"""
from __future__ import annotations

import errno
import posixpath
from dataclasses import dataclass

from sentry.errors import SyscallError
from sentry.fs.base import FileSystem, Redirect
from sentry.task import AT_FDCWD, Task

MAX_SYMLINK_HOPS = 40


@dataclass(frozen=True)
class Mount:
    dest: str  # normalised absolute sandbox path
    fs: FileSystem
    source: str = "none"
    fstype: str = "none"
    options: str = "rw"


@dataclass(frozen=True)
class Path:
    raw: str  # absolute, as the task gave it (joined with its cwd or dirfd)
    norm: str  # lexically normalised
    mount: Mount
    rel: str  # norm, relative to the mount's root, starting with "/"

    @property
    def fs(self) -> FileSystem:
        return self.mount.fs


class MountTable:
    def __init__(self, mounts: list[Mount]) -> None:
        # longest destination first, so the first prefix match is the innermost mount
        self.mounts = sorted(mounts, key=lambda m: len(m.dest), reverse=True)
        self._ids: dict[int, int] | None = None
        if not any(m.dest == "/" for m in mounts):
            raise ValueError("the mount table needs a root")

    def mount_id(self, m: Mount) -> int:
        """m's id, as /proc/PID/mountinfo and statx's stx_mnt_id give it: parents
        (shorter destinations) first, from 100."""
        ids = self._ids
        if ids is None:
            by_len = sorted(self.mounts, key=lambda x: len(x.dest))
            ids = self._ids = {id(x): 100 + i for i, x in enumerate(by_len)}
        return ids[id(m)]

    def mount_for(self, norm: str) -> Mount:
        for m in self.mounts:
            if norm == m.dest or m.dest == "/" or norm.startswith(m.dest + "/"):
                return m
        raise AssertionError("unreachable: the root matches every path")

    def path(self, raw: str) -> Path:
        norm = posixpath.normpath(raw)
        if norm.startswith("//"):
            norm = norm[1:]
        entered = self._synthetic_before_dotdot(raw)
        if entered is not None:
            return entered
        m = self.mount_for(norm)
        rel = "/" if norm == m.dest else norm[len(m.dest):] if m.dest != "/" else norm
        return Path(raw, norm, m, rel)

    def _synthetic_before_dotdot(self, raw: str) -> Path | None:
        """A path that enters a synthetic filesystem and then has a "..": that
        filesystem resolves the rest, since its symlinks (/proc/self/cwd) decide where
        ".." leads, which the lexical form cannot know."""
        if ".." not in raw:  # (the common case, without splitting)
            return None
        comps = [c for c in raw.split("/") if c and c != "."]
        if ".." not in comps:
            return None
        cur = "/"
        for i, c in enumerate(comps):
            cur = posixpath.dirname(cur) if c == ".." else cur.rstrip("/") + "/" + c
            m = self.mount_for(cur)
            rest = comps[i + 1:]
            if m.fs.name != "gofer" and m.dest != "/" and ".." in rest:
                inside = cur[len(m.dest):] or "/"
                rel = inside.rstrip("/") + "/" + "/".join(rest)
                return Path(raw, cur, m, rel)
        return None

    def resolve(self, t: Task, dirfd: int, path: str, *, empty_ok: bool = False) -> Path:
        """The Path a task's (dirfd, path) argument names."""
        if not path:
            if not empty_ok:
                raise SyscallError(errno.ENOENT)
            return self.path(t.fd_path(dirfd) if dirfd != AT_FDCWD else t.cwd())
        if path.startswith("/"):
            return self.path(path)
        base = t.dir_path(dirfd)
        return self.path(base.rstrip("/") + "/" + path)

    def follow(self, op, t: Task, p: Path):  # type: ignore[no-untyped-def]
        """Runs op(path) and restarts it wherever a filesystem redirects resolution."""
        for _ in range(MAX_SYMLINK_HOPS):
            try:
                return op(p)
            except Redirect as r:
                target = r.target if r.target.startswith("/") else r.base + "/" + r.target
                p = self.path(target)
        raise SyscallError(errno.ELOOP)
