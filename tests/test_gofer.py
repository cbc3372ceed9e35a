"""The gofer, for real: a forked gofer process serving a tmp dir as the container root,
driven through GoferClient over a SOCK_SEQPACKET pair."""
from __future__ import annotations

import errno
import os
import signal
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from gofer.client import GoferError, GoferFifo, GoferRedirect  # noqa: E402
from helpers import start_gofer  # noqa: E402
from gofer.protocol import (  # noqa: E402
    HEADER,
    REPLY,
    STAT,
    STATFS,
    Op,
    Request,
    recv_message,
    send_message,
)

UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the gofer switches fs ids: root")


class Gofer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pid, self.sock, self.client = start_gofer(root)

    def call(self, op: Op, *paths: str, a: tuple[int, ...] = (), **kw) -> tuple[int, bytes, int]:
        args = (tuple(a) + (0, 0, 0, 0))[:4]
        return self.client.call(Request(op, paths, a=args, **kw))  # type: ignore[arg-type]

    def err(self, op: Op, *paths: str, a: tuple[int, ...] = (), **kw) -> int:
        with pytest.raises(GoferError) as ei:
            self.call(op, *paths, a=a, **kw)
        return ei.value.errno

    def raw(self, data: bytes) -> tuple[int, int]:
        send_message(self.sock, data, -1)
        reply, fds = recv_message(self.sock)
        for fd in fds:
            os.close(fd)
        return REPLY.unpack_from(reply)

    def read(self, path: str) -> bytes:
        _, _, fd = self.call(Op.OPEN, path, a=(os.O_RDONLY,))
        try:
            return os.read(fd, 1 << 16)
        finally:
            os.close(fd)

    def follow_err(self, op: Op, path: str, a: tuple[int, ...] = ()) -> int:
        """The errno of op on path, following redirects as the sentry would (here every
        path is the gofer's)."""
        for _ in range(40):
            try:
                self.call(op, path, a=a)
            except GoferRedirect as r:
                assert r.path.startswith("/")
                path = r.path
                continue
            except GoferError as e:
                return e.errno
            raise AssertionError(f"{op.name} {path} succeeded")
        return errno.ELOOP

    def stat(self, path: str, follow: bool = True) -> os.stat_result:
        payload = self.call(Op.STAT, path, a=(int(follow),))[1]
        f = STAT.unpack(payload)
        # dev ino nlink mode uid gid pad rdev size blksize blocks at atn mt mtn ct ctn
        return os.stat_result((f[3], f[1], f[0], f[2], f[4], f[5], f[8],
                               f[11], f[13], f[15], f[11] * 10**9 + f[12],
                               f[13] * 10**9 + f[14], f[15] * 10**9 + f[16]))

    def close(self) -> None:
        self.client.shutdown()
        self.sock.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("sandbox\n")
    (root / "proc").mkdir()
    (root / "dev").mkdir()
    (root / "file").write_text("hello")
    (root / "dir").mkdir()
    (root / "dir" / "inner").write_text("inner")
    os.symlink("file", root / "rel")
    os.symlink("/etc/hostname", root / "abs")
    os.symlink("/etc", root / "esc")
    os.symlink("../../..", root / "up")
    os.symlink("/proc/self/mounts", root / "mtab")
    os.symlink("/dev/shm", root / "shm")
    return root


@pytest.fixture
def gofer(tree):
    g = Gofer(tree)
    yield g
    g.close()


HOST_HOSTNAME = Path("/etc/hostname").read_bytes() if Path("/etc/hostname").exists() else None


# -- lookups -------------------------------------------------------------------------------
def test_open_stat_readlink_access(gofer, tree):
    assert gofer.read("/file") == b"hello"
    assert gofer.read("/rel") == b"hello"
    assert gofer.read("/abs") == b"sandbox\n"
    st = gofer.stat("/file")
    assert stat.S_ISREG(st.st_mode) and st.st_size == 5
    assert st.st_ino == os.stat(tree / "file").st_ino
    assert stat.S_ISLNK(gofer.stat("/rel", follow=False).st_mode)
    assert stat.S_ISREG(gofer.stat("/rel").st_mode)
    assert gofer.call(Op.READLINK, "/abs")[1] == b"/etc/hostname"
    assert gofer.err(Op.READLINK, "/file") == errno.EINVAL
    gofer.call(Op.ACCESS, "/file", a=(os.R_OK | os.W_OK, 1))
    assert gofer.err(Op.ACCESS, "/missing", a=(0, 1)) == errno.ENOENT
    assert gofer.err(Op.STAT, "/missing", a=(1,)) == errno.ENOENT


def test_fast_path_answers_as_python(gofer, tree):
    """STAT, OPEN and EXEC of one path are served in C once the gofer runs with the
    caller's credentials (gofer/_native/fast.c): each request here goes twice, first
    with new credentials (so Python serves it), then with the same (C, when built).
    Same answers."""
    os.mkfifo(tree / "fifo")
    (tree / "secret").write_text("s")
    os.chmod(tree / "secret", 0o600)
    (tree / "w").mkdir(mode=0o777)
    os.chmod(tree / "w", 0o777)
    (tree / "prog").write_bytes(b"\x7fELF" + bytes(range(256)) * 8)
    os.chmod(tree / "prog", 0o755)
    (tree / "xonly").write_bytes(b"#!/bin/sh\n" + b"x" * 100)
    os.chmod(tree / "xonly", 0o111)  # executable, not readable: Python reads it
    (tree / "mine").write_bytes(b"#!/bin/sh\n")
    os.chmod(tree / "mine", 0o700)  # root's: not executable by the callers here
    os.symlink("prog", tree / "plink")
    cases = [
        (Op.STAT, "/file", (1,)), (Op.STAT, "/rel", (0,)), (Op.STAT, "/rel", (1,)),
        (Op.STAT, "/up/etc/hostname", (1,)), (Op.STAT, "/missing", (1,)),
        (Op.STAT, "/file/x", (1,)), (Op.STAT, "/mtab", (1,)), (Op.STAT, "/", (1,)),
        (Op.OPEN, "/file", (os.O_RDONLY,)), (Op.OPEN, "/esc/hostname", (os.O_RDONLY,)),
        (Op.OPEN, "/dir", (os.O_RDONLY | os.O_DIRECTORY, 0o755)),
        (Op.OPEN, "/file", (os.O_RDONLY | os.O_DIRECTORY,)),
        (Op.OPEN, "/rel", (os.O_RDONLY | os.O_NOFOLLOW,)), (Op.OPEN, "/rel", (os.O_PATH,)),
        (Op.OPEN, "/fifo", (os.O_RDONLY,)), (Op.OPEN, "/fifo", (os.O_RDONLY | os.O_NONBLOCK,)),
        (Op.OPEN, "/missing", (os.O_RDONLY,)), (Op.OPEN, "/abs", (os.O_RDONLY,)),
        (Op.OPEN, "/secret", (os.O_RDONLY,)),
        (Op.OPEN, "/w/made", (os.O_WRONLY | os.O_CREAT, 0o666)),
        (Op.EXEC, "/prog", (1, 0, 1024)), (Op.EXEC, "/prog", (1, 1000, 4096)),
        (Op.EXEC, "/prog", (1, 5000, 64)), (Op.EXEC, "/prog", (1, 0, 0)),
        (Op.EXEC, "/plink", (1, 0, 64)), (Op.EXEC, "/plink", (0, 0, 64)),
        (Op.EXEC, "/xonly", (1, 0, 1024)), (Op.EXEC, "/mine", (1, 0, 64)),
        (Op.EXEC, "/file", (1, 0, 64)), (Op.EXEC, "/dir", (1, 0, 64)),
        (Op.EXEC, "/fifo", (1, 0, 64)), (Op.EXEC, "/missing", (1, 0, 64)),
        (Op.EXEC, "/abs", (1, 0, 64)), (Op.EXEC, "/prog", (1, 0, 64 * 1024)),
        (Op.EXEC, "/prog", (1, -1, 64)),
    ]

    def answer(op: Op, path: str, a: tuple[int, ...], uid: int, groups: tuple[int, ...]):
        try:
            value, payload, fd = gofer.call(op, path, a=a, fsuid=uid, fsgid=uid, umask=0o027,
                                            groups=groups, caps=0)
        except GoferError as e:
            return ("errno", e.errno)
        except (GoferRedirect, GoferFifo) as e:
            return (type(e).__name__, str(e))
        if fd < 0:
            if op == Op.EXEC:  # (the first read may have moved the atime)
                st = list(STAT.unpack_from(payload))
                st[11] = st[12] = 0
                payload = (STAT.pack(*st), payload[STAT.size:])
            return ("value", value, payload)
        try:
            st = os.fstat(fd)
            return ("fd", st.st_ino, os.get_blocking(fd), fcntl_flags(fd) & os.O_ACCMODE)
        finally:
            os.close(fd)

    for i, (op, path, a) in enumerate(cases):
        uid = 1000 + i % 2  # 1001 may not read /secret (root's, 0600) without caps
        first = answer(op, path, a, uid, (i + 7,))
        again = answer(op, path, a, uid, (i + 7,))
        assert first == again, (op.name, path, a)
    assert stat.S_IMODE(os.stat(tree / "w" / "made").st_mode) == 0o640  # umask 027 applied


def fcntl_flags(fd: int) -> int:
    import fcntl  # noqa: PLC0415

    return fcntl.fcntl(fd, fcntl.F_GETFL)


def test_escapes_stay_in_root(gofer, tree):
    for path in ("/../../etc/hostname", "/esc/hostname", "/up/etc/hostname",
                 "/up/up/etc/hostname", "/dir/../../../etc/hostname"):
        assert gofer.read(path) == b"sandbox\n", path
    # nothing named passwd in the tree: ENOENT, not the host's
    for path in ("/../../etc/passwd", "/esc/passwd", "/up/etc/passwd"):
        assert gofer.follow_err(Op.OPEN, path, a=(os.O_RDONLY,)) == errno.ENOENT, path
    (tree / "etc" / "hostname").unlink()
    for path in ("/../../etc/hostname", "/esc/hostname", "/up/etc/hostname", "/abs"):
        assert gofer.follow_err(Op.OPEN, path, a=(os.O_RDONLY,)) == errno.ENOENT, path
    # a mutation through an escaping symlink lands in the tree too
    gofer.call(Op.MKDIR, "/up/made", a=(0o755,))
    assert (tree / "made").is_dir()
    # ".." of the root as a last component is the root
    assert gofer.err(Op.MKDIR, "/..", a=(0o755,)) == errno.EEXIST
    assert gofer.err(Op.UNLINK, "/..", a=(1,)) == errno.ENOTEMPTY
    assert gofer.err(Op.LINK, "/..", "/newlink", a=(0,)) == errno.EPERM
    assert not (tree / "newlink").exists()


def test_never_host_hostname(gofer, tree):
    if HOST_HOSTNAME is None:
        pytest.skip("no /etc/hostname on the host")
    (tree / "etc" / "hostname").write_text("x")
    for path in ("/../etc/hostname", "/esc/hostname", "/up/etc/hostname", "/abs"):
        assert gofer.read(path) == b"x"


# -- directories and nodes -------------------------------------------------------------------
def test_mkdir_umask(gofer, tree):
    gofer.call(Op.MKDIR, "/d1", a=(0o777,), umask=0o027)
    st = os.stat(tree / "d1")
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750
    assert gofer.err(Op.MKDIR, "/d1", a=(0o777,)) == errno.EEXIST
    assert gofer.err(Op.MKDIR, "/d1/.", a=(0o777,)) == errno.EEXIST
    assert gofer.err(Op.MKDIR, "/", a=(0o777,)) == errno.EEXIST
    assert gofer.err(Op.MKDIR, "/nope/x", a=(0o777,)) == errno.ENOENT


def test_unlink_rmdir(gofer, tree):
    gofer.call(Op.UNLINK, "/rel", a=(0,))
    assert not os.path.lexists(tree / "rel") and (tree / "file").exists()
    assert gofer.err(Op.UNLINK, "/dir", a=(0,)) == errno.EISDIR
    assert gofer.err(Op.UNLINK, "/dir", a=(1,)) == errno.ENOTEMPTY
    assert gofer.err(Op.UNLINK, "/file", a=(1,)) == errno.ENOTDIR
    assert gofer.err(Op.UNLINK, "/dir/.", a=(1,)) == errno.EINVAL
    assert gofer.err(Op.UNLINK, "/dir/..", a=(1,)) == errno.ENOTEMPTY
    assert gofer.err(Op.UNLINK, "/", a=(1,)) == errno.EBUSY
    gofer.call(Op.UNLINK, "/dir/inner", a=(0,))
    gofer.call(Op.UNLINK, "/dir", a=(1,))
    assert not (tree / "dir").exists()
    assert gofer.err(Op.UNLINK, "/missing", a=(0,)) == errno.ENOENT


def test_rename(gofer, tree):
    gofer.call(Op.RENAME, "/file", "/dir/moved", a=(0,))
    assert (tree / "dir" / "moved").read_text() == "hello"
    (tree / "other").write_text("other")
    assert gofer.err(Op.RENAME, "/other", "/dir/moved", a=(RENAME_NOREPLACE,)) == errno.EEXIST
    gofer.call(Op.RENAME, "/other", "/dir/moved", a=(RENAME_EXCHANGE,))
    assert (tree / "dir" / "moved").read_text() == "other"
    assert (tree / "other").read_text() == "hello"
    gofer.call(Op.RENAME, "/other", "/fresh", a=(RENAME_NOREPLACE,))
    assert (tree / "fresh").read_text() == "hello"
    assert gofer.err(Op.RENAME, "/dir/.", "/x", a=(0,)) == errno.EBUSY
    assert gofer.err(Op.RENAME, "/fresh", "/dir/..", a=(0,)) == errno.EBUSY
    assert gofer.err(Op.RENAME, "/missing", "/x", a=(0,)) == errno.ENOENT


def test_symlink_and_link(gofer, tree):
    gofer.call(Op.SYMLINK, "../some/where", "/dir/s")
    assert os.readlink(tree / "dir" / "s") == "../some/where"
    gofer.call(Op.SYMLINK, "/etc/hostname", "/s2")
    assert gofer.read("/s2") == b"sandbox\n"
    assert gofer.err(Op.SYMLINK, "x", "/file") == errno.EEXIST
    # hard links: nofollow links the symlink itself, follow its target (in the root)
    gofer.call(Op.LINK, "/abs", "/l_nofollow", a=(0,))
    assert os.path.islink(tree / "l_nofollow")
    gofer.call(Op.LINK, "/abs", "/l_follow", a=(1,))
    assert os.stat(tree / "l_follow").st_ino == os.stat(tree / "etc" / "hostname").st_ino
    assert not os.path.islink(tree / "l_follow")
    gofer.call(Op.LINK, "/file", "/dir/hard", a=(0,))
    assert os.stat(tree / "dir" / "hard").st_nlink == 2
    assert gofer.err(Op.LINK, "/file", "/dir/hard", a=(0,)) == errno.EEXIST


def test_chmod_chown(gofer, tree):
    gofer.call(Op.CHMOD, "/rel", a=(0o600, 1))
    assert stat.S_IMODE(os.stat(tree / "file").st_mode) == 0o600
    assert gofer.err(Op.CHMOD, "/rel", a=(0o600, 0)) == errno.EOPNOTSUPP
    gofer.call(Op.CHMOD, "/dir", a=(0o4711, 0))
    assert stat.S_IMODE(os.stat(tree / "dir").st_mode) == 0o4711
    gofer.call(Op.CHOWN, "/rel", a=(1234, -1, 1))
    st = os.stat(tree / "file")
    assert (st.st_uid, st.st_gid) == (1234, 0)
    gofer.call(Op.CHOWN, "/rel", a=(-1, 4321, 0))
    lst = os.lstat(tree / "rel")
    assert (lst.st_uid, lst.st_gid) == (0, 4321)
    assert os.stat(tree / "file").st_gid == 0
    # escaping symlinks are followed inside the root only
    gofer.call(Op.CHMOD, "/abs", a=(0o640, 1))
    assert stat.S_IMODE(os.stat(tree / "etc" / "hostname").st_mode) == 0o640


def test_utimens(gofer, tree):
    gofer.call(Op.UTIMENS, "/file", a=(1_000_000_001, 2_000_000_002, 1))
    st = os.stat(tree / "file")
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_001, 2_000_000_002)
    gofer.call(Op.UTIMENS, "/file", a=(-UTIME_OMIT, -UTIME_NOW, 1))
    st = os.stat(tree / "file")
    assert st.st_atime_ns == 1_000_000_001 and st.st_mtime_ns > 2_000_000_002 * 100
    gofer.call(Op.UTIMENS, "/rel", a=(5 * 10**9, 6 * 10**9, 0))
    assert os.lstat(tree / "rel").st_mtime_ns == 6 * 10**9
    assert os.stat(tree / "file").st_mtime_ns != 6 * 10**9


def test_truncate_statfs(gofer, tree):
    gofer.call(Op.TRUNCATE, "/rel", a=(2,))
    assert (tree / "file").read_text() == "he"
    gofer.call(Op.TRUNCATE, "/file", a=(10,))
    assert os.stat(tree / "file").st_size == 10
    assert gofer.err(Op.TRUNCATE, "/dir", a=(0,)) == errno.EISDIR
    payload = gofer.call(Op.STATFS, "/dir")[1]
    assert len(payload) == STATFS.size == 120
    f = STATFS.unpack(payload)
    host = os.statvfs(tree)
    assert f[1] == host.f_bsize and f[2] == host.f_blocks and f[9] == host.f_namemax
    assert f[0] != 0  # f_type


def test_mknod(gofer, tree):
    gofer.call(Op.MKNOD, "/fifo", a=(stat.S_IFIFO | 0o666, 0), umask=0o022)
    st = os.stat(tree / "fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    # opening a FIFO never blocks the gofer: a blocking open is the kernel's to do in
    # the task (the FIFO marker); a non-blocking one the gofer does itself
    with pytest.raises(GoferFifo):
        gofer.call(Op.OPEN, "/fifo", a=(os.O_RDONLY,))
    _, _, fd = gofer.call(Op.OPEN, "/fifo", a=(os.O_RDONLY | os.O_NONBLOCK,))
    os.close(fd)
    gofer.call(Op.MKNOD, "/reg", a=(stat.S_IFREG | 0o600, 0))
    assert stat.S_ISREG(os.stat(tree / "reg").st_mode)
    assert gofer.err(Op.MKNOD, "/reg", a=(stat.S_IFREG | 0o600, 0)) == errno.EEXIST
    gofer.call(Op.MKNOD, "/sock", a=(stat.S_IFSOCK | 0o600, 0))
    assert stat.S_ISSOCK(os.stat(tree / "sock").st_mode)
    assert gofer.err(Op.MKNOD, "/null", a=(stat.S_IFCHR | 0o666, os.makedev(1, 3))) == errno.EPERM
    assert gofer.err(Op.MKNOD, "/blk", a=(stat.S_IFBLK | 0o666, os.makedev(8, 0))) == errno.EPERM
    assert not os.path.lexists(tree / "null")


def test_exec_checks_and_reads_in_one_request(gofer, tree):
    """EXEC: execve's check (a regular file the caller may execute), the file's stat
    and the bytes asked for, read even when the caller may only execute it."""
    prog = tree / "prog"
    prog.write_bytes(b"#!/bin/sh\n" + bytes(range(256)) * 200)
    os.chmod(prog, 0o111)  # execute-only: the kernel still reads it, so must the gofer
    nobody = dict(fsuid=65534, fsgid=65534, caps=0)
    _v, payload, fd = gofer.call(Op.EXEC, "/prog", a=(1, 0, 1024), **nobody)
    assert fd == -1 and payload[STAT.size:] == prog.read_bytes()[:1024]
    st = STAT.unpack(payload[:STAT.size])
    assert (st[1], st[8]) == (os.stat(prog).st_ino, os.stat(prog).st_size)
    # from an offset, and past the end
    assert gofer.call(Op.EXEC, "/prog", a=(1, 50000, 4096))[1][STAT.size:] == \
        prog.read_bytes()[50000:]
    assert gofer.err(Op.EXEC, "/file", a=(1, 0, 64)) == errno.EACCES  # not executable
    assert gofer.err(Op.EXEC, "/dir", a=(1, 0, 64)) == errno.EACCES  # not a regular file
    assert gofer.err(Op.EXEC, "/missing", a=(1, 0, 64)) == errno.ENOENT
    os.symlink("prog", tree / "link")
    assert gofer.call(Op.EXEC, "/link", a=(1, 0, 2))[1][STAT.size:] == b"#!"
    assert gofer.err(Op.EXEC, "/link", a=(0, 0, 2)) == errno.ELOOP  # AT_SYMLINK_NOFOLLOW
    os.chmod(prog, 0o700)  # now only its owner may execute it
    assert gofer.err(Op.EXEC, "/prog", a=(1, 0, 64), **nobody) == errno.EACCES
    assert gofer.err(Op.EXEC, "/prog", a=(1, 0, 64 * 1024)) == errno.EINVAL  # too long


# -- permissions ---------------------------------------------------------------------------
def test_creds(gofer, tree):
    secret = tree / "secret"
    secret.write_text("s")
    os.chmod(secret, 0o600)
    nobody = dict(fsuid=65534, fsgid=65534, caps=0)  # what a uid-65534 task holds
    assert gofer.err(Op.OPEN, "/secret", a=(os.O_RDONLY,), **nobody) == errno.EACCES
    assert gofer.err(Op.ACCESS, "/secret", a=(os.R_OK, 1), **nobody) == errno.EACCES
    assert gofer.err(Op.CHMOD, "/secret", a=(0o777, 1), **nobody) == errno.EPERM
    assert gofer.err(Op.MKDIR, "/dir/x", a=(0o777,), **nobody) == errno.EACCES
    # the group grants it
    os.chown(secret, 0, 4242)
    os.chmod(secret, 0o640)
    assert gofer.call(Op.OPEN, "/secret", a=(os.O_RDONLY,), groups=(4242,), **nobody)[2] >= 0
    # and root again afterwards
    assert gofer.read("/secret") == b"s"


@pytest.fixture
def ro_tree(tree):
    mnt = tree / "ro"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.strip()}")
    yield tree
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_readonly_mount(ro_tree):
    g = Gofer(ro_tree)
    try:
        assert g.err(Op.MKDIR, "/ro/x", a=(0o755,)) == errno.EROFS
        assert g.err(Op.OPEN, "/ro/f", a=(os.O_CREAT | os.O_WRONLY, 0o644)) == errno.EROFS
        assert g.err(Op.MKNOD, "/ro/p", a=(stat.S_IFIFO | 0o644, 0)) == errno.EROFS
        assert g.err(Op.CHMOD, "/ro", a=(0o700, 1)) == errno.EROFS
        assert g.err(Op.UTIMENS, "/ro", a=(-UTIME_NOW, -UTIME_NOW, 1)) == errno.EROFS
    finally:
        g.close()


# -- redirects -----------------------------------------------------------------------------
def test_redirect_into_synthetic_mounts(gofer, tree):
    with pytest.raises(GoferRedirect) as ei:
        gofer.call(Op.OPEN, "/mtab", a=(os.O_RDONLY,))
    assert ei.value.path == "/proc/self/mounts"
    with pytest.raises(GoferRedirect) as ei:
        gofer.call(Op.STAT, "/mtab", a=(1,))
    assert ei.value.path == "/proc/self/mounts"
    # not following the last symlink: no redirect
    assert stat.S_ISLNK(gofer.stat("/mtab", follow=False).st_mode)
    assert gofer.call(Op.READLINK, "/mtab")[1] == b"/proc/self/mounts"
    # through a directory symlink, with the rest of the path kept
    with pytest.raises(GoferRedirect) as ei:
        gofer.call(Op.OPEN, "/shm/../shm/x", a=(os.O_CREAT | os.O_RDWR, 0o600))
    assert ei.value.path == "/dev/shm/x"
    with pytest.raises(GoferRedirect) as ei:
        gofer.call(Op.MKDIR, "/shm/newdir", a=(0o755,))
    assert ei.value.path == "/dev/shm/newdir"
    # no ping-pong: the redirected path itself is a plain ENOENT
    assert gofer.err(Op.OPEN, "/proc/self/mounts", a=(os.O_RDONLY,)) == errno.ENOENT
    assert gofer.err(Op.OPEN, "/dev/shm/x", a=(os.O_RDONLY,)) == errno.ENOENT
    # plain missing paths do not redirect
    assert gofer.err(Op.OPEN, "/missing", a=(os.O_RDONLY,)) == errno.ENOENT
    assert gofer.err(Op.STAT, "/dir/../missing", a=(1,)) == errno.ENOENT
    # the gofer keeps serving
    assert gofer.read("/file") == b"hello"


def test_symlink_loop_is_eloop(gofer, tree):
    os.symlink("loop2", tree / "loop1")
    os.symlink("loop1", tree / "loop2")
    assert gofer.err(Op.OPEN, "/loop1", a=(os.O_RDONLY,)) == errno.ELOOP


# -- malformed messages --------------------------------------------------------------------
def test_malformed_messages(gofer):
    def hdr(op: int, npaths: int, ngroups: int = 0) -> bytes:
        return HEADER.pack(op, npaths, 0, 0, 0o22, ngroups, 0, 0, 0, 0, 0)

    assert gofer.raw(b"\x01\x02")[0] == errno.EINVAL  # short header
    assert gofer.raw(hdr(999, 0))[0] == errno.EINVAL  # unknown op
    assert gofer.raw(hdr(Op.STAT, 3) + b"/a\0/b\0/c")[0] == errno.EINVAL  # too many paths
    assert gofer.raw(hdr(Op.STAT, 1) + b"file")[0] == errno.EINVAL  # relative path
    assert gofer.raw(hdr(Op.STAT, 2) + b"/file")[0] == errno.EINVAL  # path count
    assert gofer.raw(hdr(Op.STAT, 1, 300) + b"/file")[0] == errno.EINVAL  # groups
    assert gofer.raw(hdr(Op.STAT, 1, 4) + b"/file")[0] == errno.EINVAL  # short groups
    assert gofer.raw(hdr(Op.ROOT, 0))[0] == errno.EINVAL  # ROOT again
    assert gofer.raw(hdr(Op.SYMLINK, 2) + b"target\0relative")[0] == errno.EINVAL
    assert gofer.read("/file") == b"hello"
    assert struct.calcsize("<iq") == REPLY.size


def test_xattrs(gofer, tree):
    (tree / "f").write_text("x")
    os.symlink("f", tree / "link")
    value = b"\x00binary\xffvalue"
    gofer.call(Op.SETXATTR, "/f", "user.test", a=(1, 0, 0, len(value)), data=value)
    assert os.getxattr(tree / "f", "user.test") == value
    size, payload, _ = gofer.call(Op.GETXATTR, "/link", "user.test", a=(1, 0))
    assert size == len(value) and payload == b""  # size 0: the size only
    size, payload, _ = gofer.call(Op.GETXATTR, "/link", "user.test", a=(1, 64))
    assert payload == value
    assert gofer.err(Op.GETXATTR, "/f", "user.test", a=(1, 2)) == errno.ERANGE
    # without following, the symlink itself has no user attributes
    assert gofer.err(Op.GETXATTR, "/link", "user.test", a=(0, 64)) in (errno.ENODATA,
                                                                       errno.EPERM)
    _, names, _ = gofer.call(Op.LISTXATTR, "/f", a=(1, 256))
    assert b"user.test\0" in names
    assert gofer.err(Op.SETXATTR, "/f", "user.test", a=(1, 1, 0, 1), data=b"y") == errno.EEXIST
    gofer.call(Op.REMOVEXATTR, "/f", "user.test", a=(1,))
    assert gofer.err(Op.GETXATTR, "/f", "user.test", a=(1, 64)) == errno.ENODATA
    assert gofer.err(Op.SETXATTR, "/../../etc/passwd", "user.x", a=(1, 0, 0, 1),
                     data=b"y") == errno.ENOENT  # in-root like every path
