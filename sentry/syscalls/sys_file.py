"""Path-based file syscalls: open, create, link, rename, remove, change attributes.

Each handler copies its path arguments in once, resolves them over the sandbox's mount
table and has the filesystem that serves the path (the gofer, or a synthetic one) do the
work; nothing here lets the host kernel see the task's path arguments.
"""
from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import struct

from gofer import fs_native
from sentry.abi import stat_mode
from sentry.errors import SyscallError
from sentry.fs.base import KernelOpens, Redirect
from sentry.fs.node import MEMFD_LINK
from sentry.syscalls.result import CONTINUE, InstallFd, Result
from sentry.task import AT_FDCWD, Task
from sentry.vfs import Path

AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
AT_EACCESS = 0x200
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4


def _path(t: Task, dirfd: int, addr: int, *, empty_ok: bool = False) -> Path:
    return t.kernel.mounts.resolve(t, dirfd, t.read_path(addr), empty_ok=empty_ok)


def _run(t: Task, p: Path, op):  # type: ignore[no-untyped-def]
    return t.kernel.mounts.follow(op, t, p)


# -- open ------------------------------------------------------------------------------
def do_open(t: Task, dirfd: int, addr: int, flags: int, mode: int) -> Result:
    return _open_path(t, _path(t, dirfd, addr), flags, mode)


def _open_path(t: Task, p: Path, flags: int, mode: int, resolve: int = 0) -> Result:
    """p opened; resolve: RESOLVE_* flags that narrow the gofer's resolution."""
    if flags & os.O_PATH and p.fs.name == "gofer" and not resolve:
        # An O_PATH fd gives no access to the file's data or metadata changes, and ADDFD
        # cannot install one: the host kernel opens it (CONTINUE), resolving the path in
        # the workload's mount namespace, which holds only the container tree, so even
        # a path swapped after this point names only a container file.
        return CONTINUE
    if p.fs.name == "devpts" and not flags & (os.O_NOCTTY | os.O_CREAT | os.O_PATH):
        # A terminal opened without O_NOCTTY becomes the controlling terminal of a
        # session leader that has none, which only an open in the task itself does:
        # the host kernel opens it (CONTINUE), by the same path, in the workload's
        # mount namespace, where /dev/pts is the sandbox's own devpts instance. A path
        # swapped meanwhile names another of its terminals or a container file, opened
        # with the task's credentials and flags, as a blocking FIFO's is (KernelOpens).
        p.fs.stat(t, p, True)
        return CONTINUE
    flags = _without_o_path(flags)
    try:
        if resolve:
            try:
                fd = p.fs.open(t, p, flags, mode, resolve)  # type: ignore[call-arg]
            except Redirect:  # a symlink out of the tree: it is one, and crosses a mount
                raise SyscallError(errno.EXDEV if resolve & RESOLVE_NO_XDEV
                                   else errno.ELOOP) from None
        else:
            fd = _run(t, p, lambda q: q.fs.open(t, q, flags, mode))
    except KernelOpens:  # a FIFO opened for blocking (see KernelOpens)
        return CONTINUE
    if not isinstance(fd, int):  # a task's fd opened anew (sentry/fs/reopen.py)
        return fd
    return InstallFd(fd, cloexec=bool(flags & os.O_CLOEXEC))


def _without_o_path(flags: int) -> int:
    """O_PATH on a synthetic file: an O_RDONLY|O_NONBLOCK open instead, since ADDFD
    cannot install an O_PATH file (fget() refuses them) and the kernel cannot open what
    only the sentry has. Enough for what O_PATH fds are for (*at dirfds, fchdir,
    fstat)."""
    if not flags & os.O_PATH:
        return flags
    kept = flags & (os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    return kept | os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY


def open(t: Task) -> Result:  # noqa: A001 - named after the syscall
    """open implements Linux syscall open(2)."""
    return do_open(t, AT_FDCWD, t.args[0], t.arg_int(1), t.args[2])


def openat(t: Task) -> Result:
    """openat implements Linux syscall openat(2)."""
    return do_open(t, t.arg_int(0), t.args[1], t.arg_int(2), t.args[3])


def creat(t: Task) -> Result:
    """creat implements Linux syscall creat(2)."""
    return do_open(t, AT_FDCWD, t.args[0], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, t.args[1])


OPEN_HOW = struct.Struct("<QQQ")
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 0x01, 0x02, 0x04
RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_CACHED = 0x08, 0x10, 0x20
RESOLVE_KNOWN = 0x3F
RESOLVE_SCOPING = RESOLVE_BENEATH | RESOLVE_IN_ROOT  # resolution starts at, stays in, dirfd
RESOLVE_NARROWING = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS  # as resolution goes


def openat2(t: Task) -> Result:
    """openat2 implements Linux syscall openat2(2). In the container tree the gofer
    honours the RESOLVE_* flags (it resolves every path inside the tree, whatever they
    say: they only narrow); on the sentry's synthetic mounts only the scoping ones."""
    size = t.args[3]
    if size < OPEN_HOW.size or size > 4096:
        raise SyscallError(errno.EINVAL)
    raw = t.read_bytes(t.args[2], size)
    if any(raw[OPEN_HOW.size:]):
        raise SyscallError(errno.E2BIG)
    flags, mode, resolve = OPEN_HOW.unpack_from(raw)
    if resolve & ~RESOLVE_KNOWN or flags >> 32 or resolve & RESOLVE_SCOPING == RESOLVE_SCOPING:
        raise SyscallError(errno.EINVAL)
    if mode and not flags & (os.O_CREAT | os.O_TMPFILE):
        raise SyscallError(errno.EINVAL)
    dirfd = t.arg_int(0)
    if resolve & RESOLVE_SCOPING:
        # resolution scoped to the dirfd: the gofer does it with the same flags
        rel = t.read_path(t.args[1])
        base = t.kernel.mounts.resolve(t, dirfd, "", empty_ok=True)
        if base.fs.name == "gofer" and rel:
            flags = _without_o_path(flags)
            try:
                fd = base.fs.open_from(t, base, rel, flags, mode, resolve)  # type: ignore[attr-defined]
            except KernelOpens:
                return CONTINUE
            return InstallFd(fd, cloexec=bool(flags & os.O_CLOEXEC))
    elif resolve & RESOLVE_NARROWING:
        path = t.read_path(t.args[1])
        mounts = t.kernel.mounts
        p = mounts.resolve(t, dirfd, path)
        if resolve & RESOLVE_NO_XDEV:
            start = mounts.path("/") if path.startswith("/") else \
                mounts.resolve(t, dirfd, "", empty_ok=True)
            if p.mount is not start.mount:
                raise SyscallError(errno.EXDEV)
        if p.fs.name == "gofer":
            return _open_path(t, p, flags, mode, resolve & RESOLVE_NARROWING)
    return do_open(t, dirfd, t.args[1], flags, mode)


# -- directories and nodes -------------------------------------------------------------
def mkdir(t: Task) -> int:
    """mkdir implements Linux syscall mkdir(2)."""
    return do_mkdir(t, AT_FDCWD, t.args[0], t.args[1])


def mkdirat(t: Task) -> int:
    """mkdirat implements Linux syscall mkdirat(2)."""
    return do_mkdir(t, t.arg_int(0), t.args[1], t.args[2])


def do_mkdir(t: Task, dirfd: int, addr: int, mode: int) -> int:
    p = _path(t, dirfd, addr)
    _run(t, p, lambda q: q.fs.mkdir(t, q, mode & 0o7777))
    return 0


def mknod(t: Task) -> int:
    """mknod implements Linux syscall mknod(2): regular files, FIFOs and sockets only;
    device nodes are EPERM (a device made here could reach a host device)."""
    return do_mknod(t, AT_FDCWD, t.args[0], t.args[1], t.args[2])


def mknodat(t: Task) -> int:
    """mknodat implements Linux syscall mknodat(2) (see mknod)."""
    return do_mknod(t, t.arg_int(0), t.args[1], t.args[2], t.args[3])


def do_mknod(t: Task, dirfd: int, addr: int, mode: int, dev: int) -> int:
    kind = stat.S_IFMT(mode) or stat.S_IFREG
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        raise SyscallError(errno.EPERM)
    if kind not in (stat.S_IFREG, stat.S_IFIFO, stat.S_IFSOCK):
        raise SyscallError(errno.EINVAL)
    p = _new_name(t, dirfd, addr)
    _run(t, p, lambda q: q.fs.mknod(t, q, kind | (mode & 0o7777), 0))
    return 0


def rmdir(t: Task) -> int:
    """rmdir implements Linux syscall rmdir(2)."""
    p = _path(t, AT_FDCWD, t.args[0])
    _run(t, p, lambda q: q.fs.unlink(t, q, True))
    return 0


def unlink(t: Task) -> int:
    """unlink implements Linux syscall unlink(2)."""
    p = _path(t, AT_FDCWD, t.args[0])
    _run(t, p, lambda q: q.fs.unlink(t, q, False))
    return 0


def unlinkat(t: Task) -> int:
    """unlinkat implements Linux syscall unlinkat(2)."""
    flags = t.arg_int(2)
    if flags & ~AT_REMOVEDIR:
        raise SyscallError(errno.EINVAL)
    p = _path(t, t.arg_int(0), t.args[1])
    _run(t, p, lambda q: q.fs.unlink(t, q, bool(flags & AT_REMOVEDIR)))
    return 0


def do_rename(t: Task, olddirfd: int, oldaddr: int, newdirfd: int, newaddr: int,
              flags: int) -> int:
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT):
        raise SyscallError(errno.EINVAL)
    old_raw, new_raw = t.read_path(oldaddr), t.read_path(newaddr)
    old = t.kernel.mounts.resolve(t, olddirfd, old_raw)
    new = t.kernel.mounts.resolve(t, newdirfd, new_raw)
    if old.mount.fs is not new.mount.fs:
        raise SyscallError(errno.EXDEV)
    # a last component "." or ".." (Linux's LAST_DOT, LAST_DOTDOT) names no entry to
    # move or replace: EBUSY, but "it exists" (EEXIST) for a target under NOREPLACE
    if _last_is_dots(old_raw):
        raise SyscallError(errno.EBUSY)
    if _last_is_dots(new_raw):
        raise SyscallError(errno.EEXIST if flags & RENAME_NOREPLACE else errno.EBUSY)
    old.fs.rename(t, old, new, flags)
    return 0


def _last_is_dots(raw: str) -> bool:
    return raw.rstrip("/").rpartition("/")[2] in (".", "..")


def rename(t: Task) -> int:
    """rename implements Linux syscall rename(2)."""
    return do_rename(t, AT_FDCWD, t.args[0], AT_FDCWD, t.args[1], 0)


def renameat(t: Task) -> int:
    """renameat implements Linux syscall renameat(2)."""
    return do_rename(t, t.arg_int(0), t.args[1], t.arg_int(2), t.args[3], 0)


def renameat2(t: Task) -> int:
    """renameat2 implements Linux syscall renameat2(2)."""
    return do_rename(t, t.arg_int(0), t.args[1], t.arg_int(2), t.args[3], t.arg_int(4))


def do_link(t: Task, olddirfd: int, oldaddr: int, newdirfd: int, newaddr: int,
            flags: int) -> int:
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    old_raw = t.read_path(oldaddr)
    old = t.kernel.mounts.resolve(t, olddirfd, old_raw, empty_ok=bool(flags & AT_EMPTY_PATH))
    new = _new_name(t, newdirfd, newaddr)
    if old.mount.fs is not new.mount.fs:
        raise SyscallError(errno.EXDEV)
    if old_raw.endswith("/"):
        # a trailing slash asks for a directory (ENOTDIR otherwise), which cannot be linked
        packed = _run(t, old, lambda q: q.fs.stat(t, q, True))
        raise SyscallError(errno.EPERM if stat.S_ISDIR(stat_mode(packed)) else errno.ENOTDIR)
    old.fs.link(t, old, new, bool(flags & AT_SYMLINK_FOLLOW))
    return 0


def _new_name(t: Task, dirfd: int, addr: int) -> Path:
    """The path of a non-directory about to be made (link, symlink, mknod). A trailing
    slash asks for a directory: Linux answers EEXIST when the name exists, else ENOENT
    (filename_create's "you had / on the end")."""
    raw = t.read_path(addr)
    p = t.kernel.mounts.resolve(t, dirfd, raw)
    if raw.endswith("/"):
        bare = t.kernel.mounts.resolve(t, dirfd, raw.rstrip("/") or "/")
        _run(t, bare, lambda q: q.fs.stat(t, q, False))  # ENOENT when it does not exist
        raise SyscallError(errno.EEXIST)
    return p


def link(t: Task) -> int:
    """link implements Linux syscall link(2)."""
    return do_link(t, AT_FDCWD, t.args[0], AT_FDCWD, t.args[1], 0)


def linkat(t: Task) -> int:
    """linkat implements Linux syscall linkat(2)."""
    return do_link(t, t.arg_int(0), t.args[1], t.arg_int(2), t.args[3], t.arg_int(4))


def do_symlink(t: Task, targetaddr: int, newdirfd: int, newaddr: int) -> int:
    target = t.read_path(targetaddr)
    if not target:
        raise SyscallError(errno.ENOENT)
    p = _new_name(t, newdirfd, newaddr)
    _run(t, p, lambda q: q.fs.symlink(t, target, q))
    return 0


def symlink(t: Task) -> int:
    """symlink implements Linux syscall symlink(2)."""
    return do_symlink(t, t.args[0], AT_FDCWD, t.args[1])


def symlinkat(t: Task) -> int:
    """symlinkat implements Linux syscall symlinkat(2)."""
    return do_symlink(t, t.args[0], t.arg_int(1), t.args[2])


# -- links and access --------------------------------------------------------------------
def do_readlink(t: Task, dirfd: int, addr: int, buf: int, size: int) -> int:
    if size <= 0 or size > 0x7FFFFFFF:
        raise SyscallError(errno.EINVAL)
    p = _path(t, dirfd, addr, empty_ok=True)
    target = os.fsencode(_run(t, p, lambda q: q.fs.readlink(t, q)))[:size]
    t.write_bytes(buf, target)
    return len(target)


def readlink(t: Task) -> int:
    """readlink implements Linux syscall readlink(2)."""
    return do_readlink(t, AT_FDCWD, t.args[0], t.args[1], t.arg_int(2))


def readlinkat(t: Task) -> int:
    """readlinkat implements Linux syscall readlinkat(2)."""
    return do_readlink(t, t.arg_int(0), t.args[1], t.args[2], t.arg_int(3))


def do_access(t: Task, dirfd: int, addr: int, mode: int, flags: int) -> int:
    if mode & ~7:
        raise SyscallError(errno.EINVAL)
    if flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    p = _path(t, dirfd, addr, empty_ok=bool(flags & AT_EMPTY_PATH))
    follow = not flags & AT_SYMLINK_NOFOLLOW
    _run(t, p, lambda q: q.fs.access(t, q, mode, follow))
    return 0


def access(t: Task) -> int:
    """access implements Linux syscall access(2)."""
    return do_access(t, AT_FDCWD, t.args[0], t.arg_int(1), 0)


def faccessat(t: Task) -> int:
    """faccessat implements Linux syscall faccessat(2) (no flags argument)."""
    return do_access(t, t.arg_int(0), t.args[1], t.arg_int(2), 0)


def faccessat2(t: Task) -> int:
    """faccessat2 implements Linux syscall faccessat2(2)."""
    return do_access(t, t.arg_int(0), t.args[1], t.arg_int(2), t.arg_int(3))


# -- attributes -------------------------------------------------------------------------
def do_chmod(t: Task, dirfd: int, addr: int, mode: int, flags: int) -> int:
    p = _path(t, dirfd, addr, empty_ok=bool(flags & AT_EMPTY_PATH))
    follow = not flags & AT_SYMLINK_NOFOLLOW
    _run(t, p, lambda q: q.fs.chmod(t, q, mode & 0o7777, follow))
    return 0


def chmod(t: Task) -> int:
    """chmod implements Linux syscall chmod(2)."""
    return do_chmod(t, AT_FDCWD, t.args[0], t.args[1], 0)


def fchmodat(t: Task) -> int:
    """fchmodat implements Linux syscall fchmodat(2)."""
    return do_chmod(t, t.arg_int(0), t.args[1], t.args[2], 0)


def fchmodat2(t: Task) -> int:
    """fchmodat2 implements Linux syscall fchmodat2(2)."""
    return do_chmod(t, t.arg_int(0), t.args[1], t.args[2], t.arg_int(3))


def do_chown(t: Task, dirfd: int, addr: int, uid: int, gid: int, flags: int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    p = _path(t, dirfd, addr, empty_ok=bool(flags & AT_EMPTY_PATH))
    follow = not flags & AT_SYMLINK_NOFOLLOW
    _run(t, p, lambda q: q.fs.chown(t, q, uid, gid, follow))
    return 0


def _id(v: int) -> int:
    v &= 0xFFFFFFFF
    return -1 if v == 0xFFFFFFFF else v


def chown(t: Task) -> int:
    """chown implements Linux syscall chown(2)."""
    return do_chown(t, AT_FDCWD, t.args[0], _id(t.args[1]), _id(t.args[2]), 0)


def lchown(t: Task) -> int:
    """lchown implements Linux syscall lchown(2)."""
    return do_chown(t, AT_FDCWD, t.args[0], _id(t.args[1]), _id(t.args[2]),
                    AT_SYMLINK_NOFOLLOW)


def fchownat(t: Task) -> int:
    """fchownat implements Linux syscall fchownat(2)."""
    return do_chown(t, t.arg_int(0), t.args[1], _id(t.args[2]), _id(t.args[3]),
                    t.arg_int(4))


def truncate(t: Task) -> int:
    """truncate implements Linux syscall truncate(2)."""
    length = t.args[1]
    if length >= 1 << 63:
        raise SyscallError(errno.EINVAL)
    p = _path(t, AT_FDCWD, t.args[0])
    limit = resource.prlimit(t.pid, resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and length > limit:
        # the caller's RLIMIT_FSIZE, which the gofer does not run under: a regular file
        # may not grow past it (inode_newsize_ok: SIGXFSZ, then EFBIG)
        packed = _run(t, p, lambda q: q.fs.stat(t, q, True))
        if stat.S_ISREG(stat_mode(packed)):
            os.kill(t.pid, signal.SIGXFSZ)
            raise SyscallError(errno.EFBIG)
    _run(t, p, lambda q: q.fs.truncate(t, q, length))
    return 0


TIMESPEC2 = struct.Struct("<qqqq")
TIMEVAL2 = struct.Struct("<qqqq")
UTIMBUF = struct.Struct("<qq")


def _set_times(t: Task, dirfd: int, addr: int, atime_ns: int, mtime_ns: int,
               flags: int) -> int:
    if addr == 0:  # utimensat(fd, NULL, ...), futimesat(fd, NULL, ...): the fd itself
        if dirfd == AT_FDCWD:
            raise SyscallError(errno.EFAULT)
        if flags:
            raise SyscallError(errno.EINVAL)
        link = t.fd_path(dirfd)
        if link.endswith(_DELETED) and not link.startswith(MEMFD_LINK):
            return _set_unlinked_times(t, dirfd, atime_ns, mtime_ns)
        p = t.kernel.mounts.resolve(t, dirfd, "", empty_ok=True)
    else:
        p = _path(t, dirfd, addr, empty_ok=bool(flags & AT_EMPTY_PATH))
    follow = not flags & AT_SYMLINK_NOFOLLOW
    _run(t, p, lambda q: q.fs.utimens(t, q, atime_ns, mtime_ns, follow))
    return 0


_DELETED = " (deleted)"
CAP_DAC_OVERRIDE, CAP_FOWNER = 1, 3


def _set_unlinked_times(t: Task, fd: int, atime_ns: int, mtime_ns: int) -> int:
    """futimens of a file the task holds but no path names any more (unlinked): the
    sentry sets the times through its own O_PATH fd of that very inode, after Linux's
    checks with the caller's credentials (setattr_prepare): explicit times need the
    owner or CAP_FOWNER (EPERM), "now" for both needs that or write permission
    (EACCES). No path of the container tree is involved, so the gofer has nothing to
    resolve; the check and the change act on the same inode whatever the task's
    threads do to its fd table meanwhile."""
    try:
        mine = os.open(f"/proc/{t.pid}/fd/{fd}", os.O_PATH | os.O_CLOEXEC)
    except OSError:
        raise SyscallError(errno.EBADF) from None
    try:
        st = os.fstat(mine)
        c = t.creds()
        owner = c.fsuid == st.st_uid or c.has_cap(CAP_FOWNER)
        specials = (-UTIME_NOW, -UTIME_OMIT)
        if (atime_ns not in specials or mtime_ns not in specials) and not owner:
            raise SyscallError(errno.EPERM)
        if atime_ns == mtime_ns == -UTIME_NOW and not owner \
                and not c.has_cap(CAP_DAC_OVERRIDE) and not _may_write(c, st):
            raise SyscallError(errno.EACCES)
        me = f"/proc/self/fd/{mine}"
        if os.statvfs(me).f_flag & os.ST_RDONLY:
            raise SyscallError(errno.EROFS)
        try:
            fs_native.utimensat(fs_native.AT_FDCWD, me, atime_ns, mtime_ns, 0)
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO) from None
    finally:
        os.close(mine)
    return 0


def _may_write(c, st: os.stat_result) -> bool:  # type: ignore[no-untyped-def]
    if c.fsuid == st.st_uid:
        return bool(st.st_mode & 0o200)
    if c.fsgid == st.st_gid or st.st_gid in c.groups:
        return bool(st.st_mode & 0o020)
    return bool(st.st_mode & 0o002)


INT64_MAX = (1 << 63) - 1


def _ns(sec: int, nsec: int) -> int:
    if nsec in (UTIME_NOW, UTIME_OMIT):
        return -nsec  # the gofer's encoding of the two specials
    if not 0 <= nsec < 10**9:
        raise SyscallError(errno.EINVAL)
    # filesystems clamp times to their range; the wire carries int64 nanoseconds
    return max(-INT64_MAX + 10**9, min(INT64_MAX, sec * 10**9 + nsec))


def utimensat(t: Task) -> int:
    """utimensat implements Linux syscall utimensat(2)."""
    flags = t.arg_int(3)
    if t.args[2]:
        a_s, a_ns, m_s, m_ns = TIMESPEC2.unpack(t.read_bytes(t.args[2], TIMESPEC2.size))
        if a_ns == m_ns == UTIME_OMIT:
            return 0  # nothing to do: Linux checks neither the flags nor the path
        atime, mtime = _ns(a_s, a_ns), _ns(m_s, m_ns)
    else:
        atime = mtime = -UTIME_NOW
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    return _set_times(t, t.arg_int(0), t.args[1], atime, mtime, flags)


def _utimes(t: Task, dirfd: int, addr: int, tv_addr: int) -> int:
    if tv_addr:
        a_s, a_us, m_s, m_us = TIMEVAL2.unpack(t.read_bytes(tv_addr, TIMEVAL2.size))
        if not (0 <= a_us < 10**6 and 0 <= m_us < 10**6):
            raise SyscallError(errno.EINVAL)
        atime, mtime = a_s * 10**9 + a_us * 1000, m_s * 10**9 + m_us * 1000
    else:
        atime = mtime = -UTIME_NOW
    return _set_times(t, dirfd, addr, atime, mtime, 0)


def utimes(t: Task) -> int:
    """utimes implements Linux syscall utimes(2)."""
    return _utimes(t, AT_FDCWD, t.args[0], t.args[1])


def futimesat(t: Task) -> int:
    """futimesat implements Linux syscall futimesat(2)."""
    return _utimes(t, t.arg_int(0), t.args[1], t.args[2])


def utime(t: Task) -> int:
    """utime implements Linux syscall utime(2)."""
    if t.args[1]:
        a, m = UTIMBUF.unpack(t.read_bytes(t.args[1], UTIMBUF.size))
        atime, mtime = a * 10**9, m * 10**9
    else:
        atime = mtime = -UTIME_NOW
    return _set_times(t, AT_FDCWD, t.args[0], atime, mtime, 0)
