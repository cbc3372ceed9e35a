"""A small node framework shared by the sentry's synthetic filesystems (/proc, /dev,
/sys, devpts, mqueue, cgroup).

A filesystem is a tree of nodes, built lazily per lookup:
  File(content)         regular file; content(t) -> bytes, served as a sealed memfd
  Dir(entries, lookup)  directory; entries(t) -> {name: Node}; lookup(t, name) optional
  Symlink(target)       target(t) -> str; an absolute target outside the fs redirects
  Device(host, rdev)    a host device node opened on the task's behalf
  MagicFd(hp, n)        /proc/PID/fd/N: a symlink for readlink, the task's fd for open

SyntheticFS walks p.rel over the tree itself, follows symlinks inside the fs, redirects
through the vfs when a symlink leaves it, materialises directories in the sentry's
skeleton (so getdents64 runs natively on the installed fd), and serves files as sealed
memfds named `runsc-py:<sandbox path>`.
"""
from __future__ import annotations

import errno
import fcntl
import os
import posixpath
import shutil
import stat
import time
import zlib
from typing import TYPE_CHECKING, Callable

from gofer.protocol import STAT, pack_statfs
from sentry.errors import SyscallError
from sentry.fs.base import FileSystem, Redirect
from sentry.fs.reopen import reopen
from sentry.syscalls.result import Result

if TYPE_CHECKING:
    from sentry.task import Task
    from sentry.vfs import Path

MEMFD_PREFIX = "runsc-py:"
MEMFD_LINK = "/memfd:" + MEMFD_PREFIX  # how the host names a synthetic file's memfd
_DELETED = " (deleted)"
MAX_HOPS = 40

F_ADD_SEALS = 1033
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8
_ACCMODE = 3


def sandbox_name(host_readlink: str) -> str:
    """The sandbox name of a host fd link: a synthetic file's memfd
    ("/memfd:runsc-py:/proc/1/status (deleted)") reads back as "/proc/1/status"."""
    if host_readlink.startswith(MEMFD_LINK) and host_readlink.endswith(_DELETED):
        return host_readlink[len(MEMFD_LINK):-len(_DELETED)]
    return host_readlink


def _in_task_mounts(hp: int, n: int) -> bool:
    """Whether the task's fd n lies on a mount of the task's own mount namespace (the
    container tree) rather than one of the host's."""
    with open(f"/proc/{hp}/fdinfo/{n}", "rb") as f:
        mnt_id = next((line.split()[1] for line in f if line.startswith(b"mnt_id:")), None)
    if mnt_id is None:
        return False
    with open(f"/proc/{hp}/mountinfo", "rb") as f:
        return any(line.split(b" ", 1)[0] == mnt_id for line in f)


def sealed_memfd(name: str, content: bytes) -> int:
    """A read-only fd of a sealed memfd holding content."""
    fd = os.memfd_create((MEMFD_PREFIX + name)[:249], os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    try:
        view = memoryview(content)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)
        os.lseek(fd, 0, os.SEEK_SET)
        try:  # a read-only open file description: writes fail EBADF, not just EPERM
            ro = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return fd
        os.close(fd)
        return ro
    except BaseException:
        os.close(fd)
        raise


def host_read(path: str, default: bytes | None = None) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        if default is not None:
            return default
        raise SyscallError(errno.ENOENT if e.errno in (errno.ENOENT, errno.ESRCH)
                           else e.errno or errno.EIO) from None


# -- nodes ---------------------------------------------------------------------------
Owner = Callable[[], "tuple[int, int]"]


class Node:
    mode = 0o444
    owner: Owner | None = None

    def ids(self) -> tuple[int, int]:
        return self.owner() if self.owner else (0, 0)


class File(Node):
    def __init__(self, content: Callable[[Task], bytes] | bytes, mode: int = 0o444,
                 owner: Owner | None = None,
                 check: Callable[[Task], None] | None = None,
                 opener: Callable[[Task, int], int | Result | None] | None = None) -> None:
        self._content = content
        self.mode = mode
        self.owner = owner
        self.check = check  # may raise (e.g. EACCES for another user's environ)
        # opener(t, flags): an fd for this open (e.g. the task's own /proc/PID/mem),
        # or None for the sealed snapshot of content; may raise
        self.opener = opener

    def content(self, t: Task) -> bytes:
        c = self._content
        return c if isinstance(c, bytes) else c(t)


def text(s: str) -> File:
    return File(s.encode())


class Dir(Node):
    def __init__(self, entries: Callable[[Task], dict[str, Node]] | dict[str, Node] | None = None,
                 lookup: Callable[[Task, str], Node | None] | None = None,
                 mode: int = 0o555, owner: Owner | None = None) -> None:
        self._entries = entries if entries is not None else {}
        self._lookup = lookup
        self.mode = mode
        self.owner = owner

    def entries(self, t: Task) -> dict[str, Node]:
        e = self._entries
        return e if isinstance(e, dict) else e(t)

    def lookup(self, t: Task, name: str) -> Node | None:
        if self._lookup is not None:
            return self._lookup(t, name)
        return self.entries(t).get(name)


class Symlink(Node):
    mode = 0o777

    def __init__(self, target: Callable[[Task], str] | str, owner: Owner | None = None) -> None:
        self._target = target
        self.owner = owner

    def target(self, t: Task) -> str:
        tg = self._target
        return tg if isinstance(tg, str) else tg(t)


class Device(Node):
    """A character device: open() opens `host` (a host path) with the task's flags."""

    mode = 0o666

    def __init__(self, host: str | Callable[[Task], str], rdev: int | None = None,
                 opener: Callable[[Task, int], int] | None = None) -> None:
        self._host = host
        self.rdev = rdev
        self.opener = opener

    def host(self, t: Task) -> str:
        h = self._host
        return h if isinstance(h, str) else h(t)

    def open(self, t: Task, flags: int) -> int:
        if self.opener is not None:
            return self.opener(t, flags)
        return open_host(self.host(t), flags)

    def host_stat(self, t: Task) -> os.stat_result | None:
        if self.rdev is not None:
            return None
        try:
            return os.stat(self.host(t))
        except OSError:
            raise SyscallError(errno.ENOENT) from None


def skeleton_identity(skeleton: str) -> tuple[int, int]:
    """The skeleton's device, and the inode of its empty file bound over the spec's
    masked paths: what resolves onto the skeleton from the container tree is the
    sentry's to serve (its synthetic mounts), not the gofer's, but for that file."""
    return os.stat(skeleton).st_dev, os.stat(os.path.join(skeleton, "masked")).st_ino


def open_host(path: str, flags: int) -> int:
    """Opens a host node for a task: never as the sentry's controlling terminal, never
    creating anything."""
    flags &= ~(os.O_CREAT | os.O_EXCL | os.O_TMPFILE | os.O_DIRECTORY)
    try:
        return os.open(path, flags | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as e:
        raise SyscallError(e.errno or errno.EIO) from None


class MagicFd(Node):
    """/proc/PID/fd/N of host task `hp`."""

    mode = 0o700

    def __init__(self, hp: int, n: int, owner: Owner | None = None) -> None:
        self.hp = hp
        self.n = n
        self.owner = owner

    @property
    def link(self) -> str:
        return f"/proc/{self.hp}/fd/{self.n}"

    def host_target(self) -> str:
        try:
            target = os.readlink(self.link)
            if target.startswith("/") and not target.startswith("/memfd:") \
                    and not _in_task_mounts(self.hp, self.n):
                # a file from outside the container tree: the sandbox's own pty (from
                # the sentry's devpts instance) or stdio the caller handed over, whose
                # host path must not show
                st = os.stat(self.link)
                major = os.major(st.st_rdev)
                if stat.S_ISCHR(st.st_mode) and 136 <= major <= 143:
                    return f"/dev/pts/{(major - 136) * 256 + os.minor(st.st_rdev)}"
                return f"host:[{st.st_ino}]"
            return target
        except OSError:
            raise SyscallError(errno.ENOENT) from None

    def target(self, t: Task) -> str:
        return sandbox_name(self.host_target())

    def path_target(self) -> str | None:
        """The sandbox path the fd names, if it is a plain path of the sandbox's tree."""
        tg = self.host_target()
        if tg.startswith(MEMFD_LINK) or tg.endswith(_DELETED) or not tg.startswith("/"):
            return None
        return tg

    def open(self, t: Task, flags: int) -> Result:
        """The file the fd refers to, opened anew as t would (sentry/fs/reopen.py)."""
        return reopen(t, self.link, flags)

    def host_stat(self) -> os.stat_result:
        try:
            return os.stat(self.link)
        except OSError:
            raise SyscallError(errno.ENOENT) from None


CAP_DAC_OVERRIDE, CAP_SYS_ADMIN = 1, 21


def xattr_write_permission(t: Task, node: Node, name: str) -> None:
    """Linux's xattr_permission(MAY_WRITE) for a synthetic node, which checks before
    the filesystem says it keeps no attributes (EOPNOTSUPP): trusted.* needs
    CAP_SYS_ADMIN, user.* only regular files and directories (EPERM); then, but for
    security.* and system.*, write permission (EACCES)."""
    if name.startswith(("security.", "system.")):
        return
    c = t.creds()
    if name.startswith("trusted."):
        if not c.has_cap(CAP_SYS_ADMIN):
            raise SyscallError(errno.EPERM)
        return
    if name.startswith("user.") and not isinstance(node, (File, Dir)):
        raise SyscallError(errno.EPERM)
    if c.has_cap(CAP_DAC_OVERRIDE):
        return
    uid, gid = node.ids()
    bit = 0o200 if c.fsuid == uid else 0o020 if gid == c.fsgid or gid in c.groups else 0o002
    if not node.mode & bit:
        raise SyscallError(errno.EACCES)


def pack_host_stat(st: os.stat_result) -> bytes:
    """A host object's stat as the tasks see it (as their own fstat(2) shows it): its
    owner in their user namespace's terms."""
    from gofer.protocol import pack_stat  # noqa: PLC0415
    from sentry.task import host_ids_seen  # noqa: PLC0415

    return pack_stat(st, *host_ids_seen(st.st_uid, st.st_gid))


# -- the filesystem ------------------------------------------------------------------
ST_NOSUID, ST_NODEV, ST_NOEXEC, ST_RELATIME = 0x2, 0x4, 0x8, 0x1000


class SyntheticFS(FileSystem):
    """A read-only filesystem of nodes."""

    name = "synthetic"
    magic = 0x01021994
    dev = os.makedev(0, 0x30)
    statfs_flags = ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME
    # Where the skeleton is reachable in the workload's view; None means
    # /proc/<init_pid>/root (tests point it at "/" or the skeleton's parent).
    view_root: str | None = None

    def __init__(self, kernel, root: Dir) -> None:  # type: ignore[no-untyped-def]
        self.kernel = kernel
        self.root = root
        self.born = time.time_ns()

    # -- resolution ----------------------------------------------------------------
    def _masked(self, canon: str) -> bool:
        cfg = getattr(self.kernel, "config", None)
        return bool(cfg) and canon in cfg.masked_paths

    def walk(self, t: Task, p: Path, follow: bool,
             visited: list[tuple[Dir, str]] | None = None) -> tuple[Node, str]:
        """The node p names and its canonical sandbox path."""
        dest = p.mount.dest
        comps = [c for c in p.rel.split("/") if c and c != "."]
        stack: list[tuple[Node, str]] = [(self.root, dest)]
        hops = 0
        while comps:
            c = comps.pop(0)
            cur, cur_path = stack[-1]
            if not isinstance(cur, Dir):
                raise SyscallError(errno.ENOTDIR)
            if visited is not None:
                visited.append((cur, cur_path))
            if c == "..":
                if len(stack) == 1:
                    raise Redirect(posixpath.dirname(dest) + "/" + "/".join(comps), "/")
                stack.pop()
                continue
            child_path = (cur_path.rstrip("/") + "/" + c)
            node = cur.lookup(t, c)
            if node is None:
                raise SyscallError(errno.ENOENT)
            if self._masked(child_path):
                node = Dir() if isinstance(node, Dir) else File(b"")
            if isinstance(node, MagicFd) and (comps or follow):
                tg = node.path_target()
                if tg is None:
                    if comps:
                        raise SyscallError(errno.ENOTDIR)
                    stack.append((node, child_path))
                    continue
                node = Symlink(tg)
            if isinstance(node, Symlink) and (comps or follow):
                hops += 1
                if hops > MAX_HOPS:
                    raise SyscallError(errno.ELOOP)
                tg = node.target(t)
                if tg.startswith("/"):
                    tn = posixpath.normpath(tg)
                    if tn.startswith("//"):
                        tn = tn[1:]
                    if tn == dest or (dest != "/" and tn.startswith(dest + "/")):
                        stack = stack[:1]
                        comps = [x for x in tn[len(dest):].split("/") if x] + comps
                        continue
                    raise Redirect("/".join([tg.rstrip("/")] + comps) or "/", "/")
                comps = [x for x in tg.split("/") if x and x != "."] + comps
                continue
            stack.append((node, child_path))
        return stack[-1]

    # -- skeleton --------------------------------------------------------------------
    def skeleton_dir(self, canon: str) -> str:
        return self.kernel.skeleton.rstrip("/") + canon

    def view_path(self, canon: str) -> str:
        root = self.view_root
        if root is None:
            if not self.kernel.init_pid:
                raise SyscallError(errno.EAGAIN)
            root = f"/proc/{self.kernel.init_pid}/root"
        return root.rstrip("/") + canon

    def _mountpoints_in(self, canon: str) -> set[str]:
        """Names in directory canon that other mounts of the sandbox sit on or below
        (e.g. the kubelet's /dev/termination-log bind mount)."""
        prefix = canon.rstrip("/") + "/"
        names = set()
        for m in getattr(self.kernel.config, "mounts", ()):
            if m.destination.startswith(prefix):
                names.add(m.destination[len(prefix):].split("/", 1)[0])
        return names

    def materialise(self, t: Task, d: Dir, canon: str) -> None:
        """Makes skeleton/<canon> hold exactly d's entries."""
        host = self.skeleton_dir(canon)
        os.makedirs(host, mode=0o755, exist_ok=True)
        want: dict[str, tuple[str, str]] = {}
        for name, node in d.entries(t).items():
            if self._masked(canon.rstrip("/") + "/" + name):
                node = Dir() if isinstance(node, Dir) else File(b"")
            if isinstance(node, Dir):
                want[name] = ("d", "")
            elif isinstance(node, (Symlink, MagicFd)):
                try:
                    want[name] = ("l", node.target(t))
                except SyscallError:
                    continue
            else:
                want[name] = ("f", "")
        with os.scandir(host) as it:
            existing = {e.name: e for e in it}
        keep = self._mountpoints_in(canon)
        for name, e in existing.items():
            if name in keep and name not in want:
                continue  # a mount of the container tree (made at setup) lands on it
            w = want.get(name)
            ok = False
            if w is not None:
                if w[0] == "d":
                    ok = e.is_dir(follow_symlinks=False)
                elif w[0] == "l":
                    try:
                        ok = e.is_symlink() and os.readlink(e.path) == w[1]
                    except OSError:
                        ok = False
                else:
                    ok = e.is_file(follow_symlinks=False)
            if ok:
                del want[name]
            elif e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                try:
                    os.unlink(e.path)
                except FileNotFoundError:
                    pass
        for name, (kind, target) in want.items():
            path = os.path.join(host, name)
            try:
                if kind == "d":
                    os.mkdir(path, 0o755)  # the workload sees it through a read-only bind
                elif kind == "l":
                    os.symlink(target, path)
                else:
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o444))
            except FileExistsError:
                pass

    def prepare_cwd(self, t: Task, p: Path) -> None:
        visited: list[tuple[Dir, str]] = []
        try:
            node, canon = self.walk(t, p, True, visited)
        except Redirect:
            # the path leaves through a symlink or magic link (/proc/self/fd/N naming
            # a container directory): the kernel's walk passes the same links in the
            # skeleton, then the real target prepares itself (the caller follows)
            self._materialise_all(t, visited)
            raise
        if not isinstance(node, Dir):
            raise SyscallError(errno.ENOTDIR)
        self._materialise_all(t, visited + [(node, canon)])  # type: ignore[list-item]

    def prepare_exec(self, t: Task, p: Path) -> None:
        """The host kernel resolves an exec'd path itself (CONTINUE): the directories
        it walks through here (/proc, /proc/<pid> for /proc/self/exe) are made in the
        skeleton with their symlinks pointing where they point for this caller, so
        that it follows them out to the program's file in the container tree. /proc/self
        in the skeleton is one symlink for every task, as for chdir: a task that
        re-points it (another caller's exec or listing of /proc) between this answer
        and the kernel's walk sends the walk to that task's program, which is also
        one of the container's own files."""
        visited: list[tuple[Dir, str]] = []
        try:
            self.walk(t, p, True, visited)
        except Redirect:
            pass  # the walk left this filesystem: where it went is the next op's
        self._materialise_all(t, visited)

    def _materialise_all(self, t: Task, dirs: list[tuple[Dir, str]]) -> None:
        done: set[str] = set()
        for d, path in dirs:
            if path not in done:
                done.add(path)
                self.materialise(t, d, path)

    # -- FileSystem --------------------------------------------------------------------
    # Changes to a synthetic file are refused, but a path through a magic link
    # (/proc/self/fd/N naming a file of the container tree) leads to that file: the walk
    # redirects there. glibc's lchmod() is chmod("/proc/self/fd/N") of an O_PATH fd.
    def chmod(self, t: Task, p: Path, mode: int, follow: bool) -> None:
        self.walk(t, p, follow)
        super().chmod(t, p, mode, follow)

    def chown(self, t: Task, p: Path, uid: int, gid: int, follow: bool) -> None:
        self.walk(t, p, follow)
        super().chown(t, p, uid, gid, follow)

    def utimens(self, t: Task, p: Path, atime_ns: int, mtime_ns: int, follow: bool) -> None:
        self.walk(t, p, follow)
        super().utimens(t, p, atime_ns, mtime_ns, follow)

    def truncate(self, t: Task, p: Path, length: int) -> None:
        self.walk(t, p, True)
        super().truncate(t, p, length)

    def setxattr(self, t: Task, p: Path, name: str, value: bytes, flags: int,
                 follow: bool) -> None:
        node, _canon = self.walk(t, p, follow)
        xattr_write_permission(t, node, name)
        super().setxattr(t, p, name, value, flags, follow)

    def removexattr(self, t: Task, p: Path, name: str, follow: bool) -> None:
        node, _canon = self.walk(t, p, follow)
        xattr_write_permission(t, node, name)
        super().removexattr(t, p, name, follow)

    def open(self, t: Task, p: Path, flags: int, mode: int) -> int | Result:  # type: ignore[override]
        nofollow = bool(flags & os.O_NOFOLLOW)
        node, canon = self.walk(t, p, not nofollow)
        acc = flags & _ACCMODE
        if flags & os.O_CREAT and flags & os.O_EXCL:
            raise SyscallError(errno.EEXIST)
        if isinstance(node, (Symlink, MagicFd)) and nofollow:
            raise SyscallError(errno.ELOOP)
        if isinstance(node, Dir):
            if acc != os.O_RDONLY or flags & os.O_CREAT:
                raise SyscallError(errno.EISDIR)
            self.materialise(t, node, canon)
            extra = os.O_PATH if flags & os.O_PATH else 0
            try:
                return os.open(self.view_path(canon),
                               os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | extra)
            except OSError as e:
                raise SyscallError(e.errno or errno.EIO) from None
        if flags & os.O_DIRECTORY:
            raise SyscallError(errno.ENOTDIR)
        if isinstance(node, (Device, MagicFd)):
            return node.open(t, flags)
        assert isinstance(node, File)
        if node.opener is not None:
            fd = node.opener(t, flags)
            if fd is not None:
                return fd
        if acc != os.O_RDONLY or flags & os.O_TRUNC:
            raise SyscallError(errno.EACCES)
        if node.check is not None:
            node.check(t)
        return sealed_memfd(canon, node.content(t))

    def _pack(self, mode: int, canon: str, uid: int, gid: int, *, nlink: int = 1,
              rdev: int = 0, size: int = 0) -> bytes:
        ino = zlib.crc32(canon.encode()) | (zlib.adler32(canon.encode()) << 32)
        ino &= 0x7FFFFFFFFFFFFFFF
        s, ns = divmod(self.born, 10**9)
        return STAT.pack(self.dev, ino or 1, nlink, mode, uid, gid, 0, rdev, size, 4096, 0,
                         s, ns, s, ns, s, ns, 0, 0, 0)

    def stat_node(self, t: Task, node: Node, canon: str) -> bytes:
        uid, gid = node.ids()
        if isinstance(node, Dir):
            return self._pack(stat.S_IFDIR | node.mode, canon, uid, gid, nlink=2)
        if isinstance(node, Symlink):
            return self._pack(stat.S_IFLNK | 0o777, canon, uid, gid,
                              size=len(os.fsencode(node.target(t))))
        if isinstance(node, MagicFd):
            return self._pack(stat.S_IFLNK | 0o700, canon, uid, gid, size=64)
        if isinstance(node, Device):
            hs = node.host_stat(t)
            if hs is not None:
                # the node's own identity (pts): ttyname() matches it against fstat(fd)
                return pack_host_stat(hs)
            return self._pack(stat.S_IFCHR | node.mode, canon, uid, gid, rdev=node.rdev or 0)
        return self._pack(stat.S_IFREG | node.mode, canon, uid, gid)

    def stat(self, t: Task, p: Path, follow: bool) -> bytes:
        node, canon = self.walk(t, p, follow)
        if isinstance(node, MagicFd) and follow:  # a pipe, socket, memfd...
            return pack_host_stat(node.host_stat())
        return self.stat_node(t, node, canon)

    def readlink(self, t: Task, p: Path) -> str:
        node, _canon = self.walk(t, p, False)
        if isinstance(node, (Symlink, MagicFd)):
            return node.target(t)
        raise SyscallError(errno.EINVAL)

    def access(self, t: Task, p: Path, mode: int, follow: bool) -> None:
        node, _canon = self.walk(t, p, follow)
        if isinstance(node, (Device, MagicFd)):
            if mode & os.X_OK:
                raise SyscallError(errno.EACCES)
            return
        if isinstance(node, Symlink):
            return
        if mode & os.W_OK:
            raise SyscallError(errno.EACCES)
        if mode & os.X_OK and not isinstance(node, Dir):
            raise SyscallError(errno.EACCES)

    def statfs(self, t: Task, p: Path) -> bytes:
        self.walk(t, p, True)
        st = os.statvfs_result((4096, 4096, 0, 0, 0, 0, 0, 0, self.statfs_flags, 255))
        return pack_statfs(st, self.magic)

    def mkdir(self, t: Task, p: Path, mode: int) -> None:
        try:
            self.walk(t, p, False)
        except SyscallError as e:
            if e.errno == errno.ENOENT:
                raise SyscallError(errno.EROFS) from None
            raise
        raise SyscallError(errno.EEXIST)
