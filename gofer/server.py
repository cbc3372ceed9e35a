"""The gofer: the only process of a sandbox that touches the container's files.

It holds one fd, the container root as the workload sees it (its mount namespace holds
the rootfs plus the spec's bind and tmpfs mounts, so the host kernel and the gofer
resolve the same tree), and serves requests from the sentry. Every path is resolved
with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) against that fd, so neither `..`
nor a symlink, absolute or relative, can leave it. Each request runs with the caller's
fsuid/fsgid/groups, so the host kernel makes the permission checks.
"""
from __future__ import annotations

import errno
import os
import posixpath
import socket
import stat
from typing import Callable

from gofer import creds_native, fs_native
from gofer.confine import confine_gofer
from gofer.fast_native import FastPath
from gofer.openat2_native import (
    RESOLVE_BENEATH,
    RESOLVE_CACHED,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    openat2,
)
from gofer.protocol import (
    ALL_CAPS,
    FIFO,
    OPEN_FLAGS,
    REDIRECT,
    REPLY,
    Op,
    ProtocolError,
    Request,
    decode_request,
    pack_stat,
    recv_message,
    send_message,
)
from sentry.platform.confine_native import forbidden_syscall

IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
# what a caller's RESOLVE_* flags may add: each only narrows resolution further
NARROWING = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_CACHED


def scoped(resolve: int) -> int:
    """The RESOLVE_* flags of an openat2 of a caller's path, whatever the caller asked:
    resolution never leaves the fd it starts from (RESOLVE_BENEATH if asked, else
    RESOLVE_IN_ROOT, which also makes an absolute path start there) and never follows
    a magic link; the caller's other flags only narrow it."""
    scope = resolve & RESOLVE_BENEATH or RESOLVE_IN_ROOT
    return scope | resolve & NARROWING | RESOLVE_NO_MAGICLINKS


class Reply(Exception):
    """Raised by an op to answer early (errno is in OSError instead)."""


class FifoOpen(Exception):
    """Answered with the FIFO marker: the kernel, in the task, is to open it."""


class Gofer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.root = -1
        self.hidden = (0, 0)  # the sentry's skeleton: its device, its masking file's inode
        self.readonly_roots: tuple[str, ...] = ()

    # -- path resolution -----------------------------------------------------------
    def _open(self, path: str, flags: int, mode: int = 0) -> int:
        return self._openat2(self.root, path, flags | os.O_CLOEXEC, mode, IN_ROOT)

    def _openat2(self, start: int, path: str, flags: int, mode: int, resolve: int) -> int:
        """openat2 of a caller's path in the tree. The sentry's synthetic mounts (/proc,
        /dev, /sys) are skeleton directories in the tree that only the sentry fills:
        what resolves onto them is not the gofer's to serve, and reads as absent (a
        symlink to /proc/self/status is then followed by the sentry, REDIRECT). The
        skeleton's empty file bound over the spec's masked paths is the exception."""
        fd = openat2(start, path, flags, mode, resolve)
        dev, shown = self.hidden
        if dev and (st := os.fstat(fd)).st_dev == dev and st.st_ino != shown:
            os.close(fd)
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return fd

    def _parent(self, path: str) -> tuple[int, str]:
        """An O_PATH fd of path's parent directory, and its last component."""
        head, _, name = path.rstrip("/").rpartition("/")
        if not name:  # the root itself
            return self._open("/", os.O_PATH | os.O_DIRECTORY), "."
        return self._open(head or "/", os.O_PATH | os.O_DIRECTORY), name

    # -- ops: each returns (value, payload, fd-or--1) -------------------------------
    def op_open(self, r: Request) -> tuple[int, bytes, int]:
        flags = r.a[0] & OPEN_FLAGS
        # (O_TMPFILE includes O_DIRECTORY: a directory open makes nothing)
        creates = flags & os.O_CREAT or (flags & os.O_TMPFILE) == os.O_TMPFILE
        mode = r.a[1] & 0o7777 & ~r.umask if creates else 0
        if len(r.paths) == 2:
            return 0, b"", self._open_from(r.paths[0], r.paths[1], flags, mode, r.a[2])
        fd = self._open_nonblocking_safe(r.paths[0], flags, mode, resolve=r.a[2])
        return 0, b"", fd

    def _open_from(self, base: str, rel: str, flags: int, mode: int, resolve: int) -> int:
        """openat2(2) of rel from base (itself resolved inside the root), with the
        workload's RESOLVE_BENEATH or RESOLVE_IN_ROOT scoping it to base."""
        base_fd = self._open(base, os.O_PATH | os.O_DIRECTORY)
        try:
            return self._open_nonblocking_safe(rel, flags, mode, base_fd, resolve)
        finally:
            os.close(base_fd)

    def _open_nonblocking_safe(self, path: str, flags: int, mode: int,
                               dirfd: int | None = None, resolve: int = 0) -> int:
        # A FIFO opened without O_NONBLOCK waits for its peer, and the gofer must never
        # wait on the workload: open it non-blocking, then restore the caller's mode.
        # A blocking open of a FIFO is not the gofer's to wait in: FifoOpen tells the
        # sentry to let the host kernel open it in the task.
        # The probe is an O_PATH open: opening a FIFO for real, even non-blocking, is a
        # peer that would wake (and then fail) the task's other end.
        start = self.root if dirfd is None else dirfd
        resolve = scoped(resolve)
        if flags & os.O_NONBLOCK or flags & os.O_PATH:
            return self._openat2(start, path, flags | os.O_CLOEXEC, mode, resolve)
        if self._is_fifo(start, path, flags, resolve):
            raise FifoOpen()
        # still non-blocking: the path may have become a FIFO since the probe
        fd = self._openat2(start, path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode, resolve)
        os.set_blocking(fd, True)
        return fd

    def _is_fifo(self, start: int, path: str, flags: int, resolve: int) -> bool:
        try:
            fd = self._openat2(start, path, os.O_PATH | os.O_CLOEXEC | (flags & os.O_NOFOLLOW),
                         0, resolve)
        except OSError:
            return False  # the real open reports (or creates) it
        try:
            return stat.S_ISFIFO(os.fstat(fd).st_mode)
        finally:
            os.close(fd)

    def op_stat(self, r: Request) -> tuple[int, bytes, int]:
        nofollow = 0 if r.a[0] else os.O_NOFOLLOW
        fd = self._open(r.paths[0], os.O_PATH | nofollow)
        try:
            return 0, pack_stat(os.fstat(fd)), -1
        finally:
            os.close(fd)

    def op_readlink(self, r: Request) -> tuple[int, bytes, int]:
        pfd, name = self._parent(r.paths[0])
        try:
            return 0, os.fsencode(os.readlink(name, dir_fd=pfd)), -1
        finally:
            os.close(pfd)

    def op_access(self, r: Request) -> tuple[int, bytes, int]:
        nofollow = 0 if r.a[1] else os.O_NOFOLLOW
        fd = self._open(r.paths[0], os.O_PATH | nofollow)
        try:
            # access() is checked with the real ids; the fs ids set for this request
            # are the caller's, and faccessat(AT_EACCESS) checks with them.
            link = f"/proc/self/fd/{fd}"
            if r.a[0] & os.W_OK and os.statvfs(link).f_flag & os.ST_RDONLY:
                mode = os.fstat(fd).st_mode
                if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
                    raise OSError(errno.EROFS, "access")  # Linux checks this first
            if r.a[0] and not os.access(link, r.a[0], effective_ids=True):
                raise OSError(errno.EACCES, "access")
            return 0, b"", -1
        finally:
            os.close(fd)

    def op_exec(self, r: Request) -> tuple[int, bytes, int]:
        """execve's view of a file in one round trip: a regular file the caller may
        execute, its stat (its identity, for the sentry's cache) and the bytes the
        sentry asked for (its headers)."""
        follow, offset, length = bool(r.a[0]), r.a[1], r.a[2]
        fd = self._open(r.paths[0], os.O_PATH | (0 if follow else os.O_NOFOLLOW))
        try:
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):  # not followed: execveat(AT_SYMLINK_NOFOLLOW)
                raise OSError(errno.ELOOP, "exec")
            if not stat.S_ISREG(st.st_mode):  # nothing else loads
                raise OSError(errno.EACCES, "exec")
            link = f"/proc/self/fd/{fd}"
            if not os.access(link, os.X_OK, effective_ids=True):
                raise OSError(errno.EACCES, "exec")
            if not length:
                return 0, pack_stat(st), -1
            # The kernel reads a program the caller may execute but not read (mode
            # 0111), so the gofer reads it as itself. The O_PATH fd, reopened, is the
            # file just checked: no second resolution of the path.
            creds_native.switch_to(0, 0, (), ALL_CAPS)
            try:
                rfd = openat2(fs_native.AT_FDCWD, link,
                              os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            finally:  # back to the caller's: the next request may find them in place
                creds_native.switch_to(r.fsuid, r.fsgid, r.groups, r.caps)
        finally:
            os.close(fd)
        try:
            return 0, pack_stat(st) + _read_at(rfd, offset, length), -1
        finally:
            os.close(rfd)

    # -- mutations ---------------------------------------------------------------------
    # Each acts on the last component relative to an O_PATH fd of its parent (which
    # openat2 resolved in the root); "." and ".." never reach the host kernel as a last
    # component relative to such an fd (".." of the root's fd would leave the root).
    def op_mkdir(self, r: Request) -> tuple[int, bytes, int]:
        pfd, name = self._parent(r.paths[0])
        try:
            if name in (".", ".."):
                raise OSError(errno.EEXIST, "mkdir")
            os.mkdir(name, r.a[0] & 0o7777 & ~r.umask, dir_fd=pfd)
            return 0, b"", -1
        finally:
            os.close(pfd)

    def op_mknod(self, r: Request) -> tuple[int, bytes, int]:
        mode = r.a[0]
        kind = stat.S_IFMT(mode) or stat.S_IFREG
        perm = mode & 0o7777 & ~r.umask
        if kind not in (stat.S_IFREG, stat.S_IFIFO, stat.S_IFSOCK):
            raise OSError(errno.EPERM, "mknod")
        pfd, name = self._parent(r.paths[0])
        try:
            if name in (".", ".."):
                raise OSError(errno.EEXIST, "mknod")
            if kind == stat.S_IFIFO:
                os.mkfifo(name, perm, dir_fd=pfd)
            else:  # a regular file too: an open would add inotify's OPEN and CLOSE
                os.mknod(name, kind | perm, dir_fd=pfd)
            return 0, b"", -1
        finally:
            os.close(pfd)

    def op_unlink(self, r: Request) -> tuple[int, bytes, int]:
        rmdir = bool(r.a[0])
        path = r.paths[0]
        pfd, name = self._parent(path)
        try:
            if name == "." and path.rstrip("/") == "":  # the root
                raise OSError(errno.EBUSY if rmdir else errno.EISDIR, "unlink")
            if name == ".":
                raise OSError(errno.EINVAL if rmdir else errno.EISDIR, "unlink")
            if name == "..":
                raise OSError(errno.ENOTEMPTY if rmdir else errno.EISDIR, "unlink")
            if rmdir:
                os.rmdir(name, dir_fd=pfd)
            else:
                if path.endswith("/"):  # unlink("x/"): the kernel's answers
                    st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                    raise OSError(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.ENOTDIR,
                                  "unlink")
                os.unlink(name, dir_fd=pfd)
            return 0, b"", -1
        finally:
            os.close(pfd)

    def op_rename(self, r: Request) -> tuple[int, bytes, int]:
        flags = r.a[0]
        opfd, oname = self._parent(r.paths[0])
        try:
            npfd, nname = self._parent(r.paths[1])
            try:
                if oname in (".", "..") or nname in (".", ".."):
                    raise OSError(errno.EBUSY, "rename")
                if flags:
                    fs_native.renameat2(opfd, oname, npfd, nname, flags)
                else:
                    os.rename(oname, nname, src_dir_fd=opfd, dst_dir_fd=npfd)
                return 0, b"", -1
            finally:
                os.close(npfd)
        finally:
            os.close(opfd)

    def op_symlink(self, r: Request) -> tuple[int, bytes, int]:
        target, link = r.paths
        if not target:
            raise OSError(errno.ENOENT, "symlink")
        pfd, name = self._parent(link)
        try:
            if name in (".", ".."):
                raise OSError(errno.EEXIST, "symlink")
            os.symlink(target, name, dir_fd=pfd)  # the target is stored, not resolved
            return 0, b"", -1
        finally:
            os.close(pfd)

    def op_link(self, r: Request) -> tuple[int, bytes, int]:
        old, new = r.paths
        follow = bool(r.a[0])
        npfd, nname = self._parent(new)
        try:
            if nname in (".", ".."):
                raise OSError(errno.EEXIST, "link")
            if follow:
                # the target as resolved in the root, linked through the gofer's own fd
                fd = self._open(old, os.O_PATH)
                try:
                    os.link(f"/proc/self/fd/{fd}", nname, dst_dir_fd=npfd,
                            follow_symlinks=True)
                finally:
                    os.close(fd)
            else:
                opfd, oname = self._parent(old)
                try:
                    if oname in (".", ".."):
                        raise OSError(errno.EPERM, "link")  # a directory
                    os.link(oname, nname, src_dir_fd=opfd, dst_dir_fd=npfd,
                            follow_symlinks=False)
                finally:
                    os.close(opfd)
            return 0, b"", -1
        finally:
            os.close(npfd)

    # attributes: the object is opened O_PATH in the root (following or not), then
    # changed through that fd, so no symlink is ever followed outside the root.
    def _object(self, path: str, follow: bool) -> int:
        return self._open(path, os.O_PATH | (0 if follow else os.O_NOFOLLOW))

    def op_chmod(self, r: Request) -> tuple[int, bytes, int]:
        fd = self._object(r.paths[0], bool(r.a[1]))
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.EOPNOTSUPP, "chmod")  # as Linux: no symlink modes
            os.chmod(f"/proc/self/fd/{fd}", r.a[0] & 0o7777)
            return 0, b"", -1
        finally:
            os.close(fd)

    # -- extended attributes: the follow forms act through the resolved object's fd,
    # the nofollow ones on the last component under its parent's fd
    def _xattr_target(self, path: str, follow: bool) -> tuple[int, str, bool]:
        if follow:
            fd = self._object(path, True)
            return fd, f"/proc/self/fd/{fd}", True
        pfd, name = self._parent(path)
        return pfd, f"/proc/self/fd/{pfd}/{name}", False

    def op_getxattr(self, r: Request) -> tuple[int, bytes, int]:
        fd, target, follow = self._xattr_target(r.paths[0], bool(r.a[0]))
        try:
            value = os.getxattr(target, r.paths[1], follow_symlinks=follow)
        finally:
            os.close(fd)
        if r.a[1] and len(value) > r.a[1]:
            raise OSError(errno.ERANGE, "getxattr")
        return len(value), value if r.a[1] else b"", -1

    def op_listxattr(self, r: Request) -> tuple[int, bytes, int]:
        fd, target, follow = self._xattr_target(r.paths[0], bool(r.a[0]))
        try:
            names = b"".join(os.fsencode(n) + b"\0"
                             for n in os.listxattr(target, follow_symlinks=follow))
        finally:
            os.close(fd)
        if r.a[1] and len(names) > r.a[1]:
            raise OSError(errno.ERANGE, "listxattr")
        return len(names), names if r.a[1] else b"", -1

    def op_setxattr(self, r: Request) -> tuple[int, bytes, int]:
        fd, target, follow = self._xattr_target(r.paths[0], bool(r.a[0]))
        try:
            os.setxattr(target, r.paths[1], r.data, r.a[1], follow_symlinks=follow)
            return 0, b"", -1
        finally:
            os.close(fd)

    def op_removexattr(self, r: Request) -> tuple[int, bytes, int]:
        fd, target, follow = self._xattr_target(r.paths[0], bool(r.a[0]))
        try:
            os.removexattr(target, r.paths[1], follow_symlinks=follow)
            return 0, b"", -1
        finally:
            os.close(fd)

    def op_chown(self, r: Request) -> tuple[int, bytes, int]:
        fd = self._object(r.paths[0], bool(r.a[2]))
        try:
            fs_native.fchown_empty(fd, r.a[0], r.a[1])
            return 0, b"", -1
        finally:
            os.close(fd)

    def op_utimens(self, r: Request) -> tuple[int, bytes, int]:
        follow = bool(r.a[2])
        fd = self._object(r.paths[0], follow)
        try:
            try:
                fs_native.utimensat(fd, "", r.a[0], r.a[1],
                                    fs_native.AT_EMPTY_PATH | fs_native.AT_SYMLINK_NOFOLLOW)
            except OSError as e:
                if e.errno != errno.EINVAL or not follow:
                    raise
                # kernels before AT_EMPTY_PATH in utimensat: the O_PATH idiom
                fs_native.utimensat(fs_native.AT_FDCWD, f"/proc/self/fd/{fd}",
                                    r.a[0], r.a[1], 0)
            return 0, b"", -1
        finally:
            os.close(fd)

    def op_truncate(self, r: Request) -> tuple[int, bytes, int]:
        if r.a[0] < 0:
            raise OSError(errno.EINVAL, "truncate")
        # truncate(2) of the resolved file through its O_PATH fd, as Linux's truncate:
        # no open (no inotify OPEN/CLOSE_WRITE, no wait on a FIFO: EINVAL), EISDIR for
        # a directory, and the kernel's write-permission and read-only-mount checks
        fd = self._open(r.paths[0], os.O_PATH)
        try:
            os.truncate(f"/proc/self/fd/{fd}", r.a[0])
            return 0, b"", -1
        finally:
            os.close(fd)

    def op_statfs(self, r: Request) -> tuple[int, bytes, int]:
        fd = self._open(r.paths[0], os.O_PATH)
        try:
            return 0, fs_native.fstatfs(fd), -1
        finally:
            os.close(fd)

    # -- redirects into the sentry's synthetic mounts -------------------------------------
    def _follows_last(self, r: Request) -> bool | None:
        """Whether r follows a trailing symlink; None: r never redirects."""
        op = r.op
        if op == Op.OPEN:
            return not r.a[0] & os.O_NOFOLLOW
        if op == Op.STAT:
            return bool(r.a[0])
        if op == Op.EXEC:
            return bool(r.a[0])
        if op in (Op.ACCESS, Op.CHMOD):
            return bool(r.a[1])
        if op in (Op.CHOWN, Op.UTIMENS):
            return bool(r.a[2])
        if op in (Op.TRUNCATE, Op.STATFS):
            return True
        if op in (Op.READLINK, Op.MKDIR, Op.MKNOD, Op.UNLINK):
            return False
        if op == Op.SYMLINK:
            return False
        return None  # RENAME, LINK: two paths, one filesystem

    def redirect_for(self, r: Request) -> str | None:
        """After ENOENT/ENOTDIR: the absolute sandbox path r's path really names, when
        a symlink on the way leads to a path missing from the tree (most likely in one
        of the sentry's synthetic mounts, which are empty directories here)."""
        follow = self._follows_last(r)
        if follow is None:
            return None
        path = r.paths[-1]  # SYMLINK's resolved path is its second
        resolved = self.walk(path, follow)
        if resolved is None or resolved == _lexical(path):
            return None
        return resolved

    def walk(self, path: str, follow_last: bool) -> str | None:
        """Resolves path one component at a time, inside the root. Returns the absolute
        path it names if some component is missing (the rest joined lexically), None if
        it all exists or resolution fails otherwise (ELOOP, ENOTDIR, EACCES)."""
        todo = [c for c in path.split("/") if c]
        trailing_slash = path.endswith("/")
        done: list[str] = []  # components of a real (symlink-free) existing directory
        hops = 0
        while todo:
            name = todo.pop(0)
            if name == ".":
                continue
            if name == "..":
                if done:
                    done.pop()
                continue
            last = not todo
            try:
                fd = self._open("/" + "/".join(done + [name]), os.O_PATH | os.O_NOFOLLOW)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    return _lexical("/" + "/".join(done + [name] + todo))
                return None
            try:
                mode = os.fstat(fd).st_mode
                if stat.S_ISLNK(mode) and (not last or follow_last or trailing_slash):
                    hops += 1
                    if hops > 40:
                        return None
                    target = os.readlink("", dir_fd=fd)
                    if target.startswith("/"):
                        done = []
                    todo = [c for c in target.split("/") if c] + todo
                    continue
                if not last and not stat.S_ISDIR(mode):
                    return None
                done.append(name)
            finally:
                os.close(fd)
        return None

    def op_root(self, r: Request) -> tuple[int, bytes, int]:
        raise ProtocolError("ROOT is sent once, at start")

    # -- serving ---------------------------------------------------------------------
    def serve(self) -> None:
        self.root, userns = self._receive_root()
        confine_gofer(self.root, userns)
        # TEST HOOK (tests/security/test_self_confinement.py): a forbidden syscall
        # after the first request must kill the gofer, and so stop the sandbox.
        test_forbidden = os.environ.get("RUNSC_PY_TEST_FORBIDDEN") == "gofer"
        handlers: dict[Op, Callable[[Request], tuple[int, bytes, int]]] = {
            op: getattr(self, f"op_{op.name.lower()}") for op in Op
            if hasattr(self, f"op_{op.name.lower()}")
        }
        # STAT, OPEN and EXEC of one path in C, when the gofer runs with the caller's
        # credentials already (gofer/fast_native.py); everything else here
        fast = FastPath(self.sock, self.root, OPEN_FLAGS, IN_ROOT, self.hidden) \
            if FastPath.available() and not test_forbidden else None
        while True:
            try:
                if fast is not None:
                    data = fast.next()
                else:
                    data, fds = recv_message(self.sock)
                    for fd in fds:
                        os.close(fd)
            except ConnectionError:
                return
            if not data:
                return  # the sentry is gone: so is the sandbox
            value, payload, fd = 0, b"", -1
            err = 0
            req = None
            try:
                req = decode_request(data)
                if req.op == Op.SHUTDOWN:
                    return
                handler = handlers.get(req.op)
                if handler is None:
                    raise ProtocolError(f"unsupported op {req.op}")
                if fast is not None:
                    fast.forget_creds()  # (a switch that fails part-way leaves others)
                creds_native.switch_to(req.fsuid, req.fsgid, req.groups, req.caps)
                try:
                    value, payload, fd = handler(req)
                except OSError as e:
                    if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                        raise
                    target = self.redirect_for(req)
                    if target is None:
                        raise
                    value, payload, fd = REDIRECT, os.fsencode(target), -1
            except FifoOpen:
                value = FIFO
            except ProtocolError:
                err = errno.EINVAL
            except OSError as e:
                err = e.errno or errno.EIO
            if fast is not None and req is not None and \
                    creds_native.running_as(req.fsuid, req.fsgid, req.groups, req.caps):
                # the C path answers the next request itself only if it comes with the
                # credentials the gofer really holds now (a handler may switch; EXEC does)
                fast.set_creds(req.fsuid, req.fsgid, req.groups, req.caps)
            send_message(self.sock, REPLY.pack(err, value) + payload, fd)
            if fd >= 0:
                os.close(fd)
            if test_forbidden:
                forbidden_syscall()  # TEST HOOK: killed here by the allowlist

    def _receive_root(self) -> tuple[int, int]:
        """The container root's fd, and the tasks' user namespace's or -1."""
        data, fds = recv_message(self.sock)
        req = decode_request(data)
        if req.op != Op.ROOT or len(fds) not in (1, 2):
            raise SystemExit("gofer: expected the container root first")
        fd = fds[0]
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise SystemExit("gofer: the container root is not a directory")
        self.hidden = (req.a[0], req.a[1])
        return fd, fds[1] if len(fds) == 2 else -1


def _read_at(fd: int, offset: int, length: int) -> bytes:
    """Up to length bytes from offset (fewer at the end of the file). lseek and read:
    the gofer's allowlist has no pread64."""
    if offset:
        os.lseek(fd, offset, os.SEEK_SET)
    chunks = []
    while length > 0:
        chunk = os.read(fd, length)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
    return b"".join(chunks)


def _lexical(path: str) -> str:
    norm = posixpath.normpath("/" + path)
    return "/" + norm.lstrip("/")


def serve(sock: socket.socket) -> None:
    """The gofer process's main loop; returns when the sentry hangs up."""
    os.umask(0)  # creation modes arrive with the caller's umask already applied
    Gofer(sock).serve()
