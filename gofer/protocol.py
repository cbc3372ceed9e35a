"""The sentry↔gofer wire protocol: one request, one reply, over a SOCK_SEQPACKET pair.

Request: HEADER (op, number of paths, the caller's fsuid/fsgid/umask, groups count and
effective capabilities,
four integer arguments), the groups, then the paths, NUL-separated. Paths are absolute
sandbox paths; the gofer resolves them inside the container tree.
Reply: REPLY (errno, value) followed by an op-specific payload; an open's fd rides
along with SCM_RIGHTS.
"""
from __future__ import annotations

import array
import enum
import os
import socket
import struct
from dataclasses import dataclass

HEADER = struct.Struct("<HHIIIIQqqqq")
REPLY = struct.Struct("<iq")
# room for an xattr value of XATTR_SIZE_MAX with its header, groups and two paths
MAX_MESSAGE = 80 * 1024
MAX_PATHS = 2
MAX_GROUPS = 256
ALL_CAPS = (1 << 64) - 1
# A reply with errno 0 and this value: the path resolves, through a symlink, to a path
# that is not in the container tree; the payload is that absolute sandbox path (utf-8),
# where the sentry restarts resolution over its mount table.
REDIRECT = -1
FIFO = -2  # an OPEN of a FIFO that must wait for its peer: the kernel opens it
# The open(2) flags an OPEN honours (openat2 accepts them; open(2) ignores unknown bits,
# openat2 refuses them).
OPEN_FLAGS = (
    os.O_ACCMODE | os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC | os.O_APPEND
    | os.O_NONBLOCK | os.O_DSYNC | os.O_SYNC | os.O_DIRECT | os.O_LARGEFILE
    | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NOATIME | os.O_PATH | os.O_TMPFILE
    | 0o20000  # FASYNC
)


class Op(enum.IntEnum):
    ROOT = 1  # the sentry hands the gofer the container root (an fd); sent once
    OPEN = 2  # a0=flags a1=mode → fd; with paths (base, rel): openat2 of rel from
    #           base with a2=RESOLVE_* flags (RESOLVE_IN_ROOT: base is the root)
    STAT = 3  # a0=follow → struct stat
    READLINK = 4  # → target bytes
    ACCESS = 5  # a0=mode (R_OK|W_OK|X_OK or F_OK), a1=follow
    MKDIR = 6  # a0=mode
    UNLINK = 7  # a0=is_rmdir
    RENAME = 8  # paths old,new; a0=renameat2 flags
    SYMLINK = 9  # paths target,link (the target is stored verbatim: may be relative)
    LINK = 10  # paths old,new; a0=follow
    CHMOD = 11  # a0=mode a1=follow
    CHOWN = 12  # a0=uid a1=gid a2=follow (-1 keeps)
    UTIMENS = 13  # a0=atime_ns a1=mtime_ns a2=follow (UTIME_NOW/UTIME_OMIT as in Linux)
    TRUNCATE = 14  # a0=length
    STATFS = 15  # → struct statfs (x86_64, 120 bytes)
    MKNOD = 16  # a0=mode with type bits, a1=dev (regular files, fifos, sockets only)
    SHUTDOWN = 17
    GETXATTR = 18  # paths path,name; a0=follow a1=size (0: the size only) → value
    LISTXATTR = 19  # a0=follow a1=size (0: the size only) → names, NUL-terminated
    SETXATTR = 20  # paths path,name; a0=follow a1=flags; the value is the request's data
    REMOVEXATTR = 21  # paths path,name; a0=follow
    EXEC = 22  # execve's view of a file: a0=follow a1=offset a2=length → struct stat,
    #            then up to a2 bytes of the file from a1 (a regular file the caller may
    #            execute; the bytes are read as the kernel reads a program: even when
    #            the caller may not read it)


@dataclass(frozen=True)
class Request:
    op: Op
    paths: tuple[str, ...] = ()
    fsuid: int = 0
    fsgid: int = 0
    umask: int = 0o022
    groups: tuple[int, ...] = ()
    a: tuple[int, int, int, int] = (0, 0, 0, 0)
    caps: int = ALL_CAPS
    data: bytes = b""  # SETXATTR's value (its length is a3), before the paths

    def encode(self) -> bytes:
        raw = b"\0".join(os.fsencode(p) for p in self.paths)
        return (
            HEADER.pack(
                self.op, len(self.paths), self.fsuid, self.fsgid, self.umask,
                len(self.groups), self.caps, *self.a,
            )
            + struct.pack(f"<{len(self.groups)}I", *self.groups)
            + self.data
            + raw
        )


# How many paths each op takes; a request with another count is malformed (the
# handlers index their paths: a short request must never reach them).
PATH_COUNTS: dict[Op, tuple[int, ...]] = {
    Op.ROOT: (0,), Op.SHUTDOWN: (0,), Op.OPEN: (1, 2), Op.RENAME: (2,), Op.SYMLINK: (2,),
    Op.LINK: (2,), Op.GETXATTR: (2,), Op.SETXATTR: (2,), Op.REMOVEXATTR: (2,),
}
# ops whose second path is a name (or relative, for OPEN), not an absolute path
_SECOND_IS_NAME = (Op.OPEN, Op.GETXATTR, Op.SETXATTR, Op.REMOVEXATTR)
MAX_DATA = 64 * 1024  # XATTR_SIZE_MAX
EXEC_MAX_READ = 32 * 1024  # an EXEC reply's bytes: well inside MAX_MESSAGE with its stat


class ProtocolError(ValueError):
    """A malformed message: the gofer answers it with EINVAL and carries on."""


def decode_request(data: bytes) -> Request:
    if len(data) < HEADER.size:
        raise ProtocolError("short header")
    op, npaths, fsuid, fsgid, umask, ngroups, caps, a0, a1, a2, a3 = HEADER.unpack_from(data)
    try:
        op = Op(op)
    except ValueError:
        raise ProtocolError(f"unknown op {op}") from None
    if npaths > MAX_PATHS or ngroups > MAX_GROUPS:
        raise ProtocolError("too many paths or groups")
    off = HEADER.size
    if len(data) < off + 4 * ngroups:
        raise ProtocolError("short groups")
    groups = struct.unpack_from(f"<{ngroups}I", data, off)
    off += 4 * ngroups
    value = b""
    if op == Op.SETXATTR:
        if not 0 <= a3 <= min(MAX_DATA, len(data) - off):
            raise ProtocolError("bad data length")
        value, off = data[off:off + a3], off + a3
    rest = data[off:]
    paths = tuple(os.fsdecode(p) for p in rest.split(b"\0")) if npaths else ()
    # a symlink target (first) and an xattr name (second) are data; an OPEN's second
    # path is relative to its first
    resolved = paths[1:] if op == Op.SYMLINK else paths[:1] if op in _SECOND_IS_NAME else paths
    if len(paths) != npaths or any(not p.startswith("/") for p in resolved):
        raise ProtocolError("bad paths")
    if npaths not in PATH_COUNTS.get(op, (1,)):
        raise ProtocolError(f"{op.name} takes {PATH_COUNTS.get(op, (1,))} paths")
    if op == Op.ACCESS and not 0 <= a0 <= 7:
        # access(2)'s mode is R_OK|W_OK|X_OK (or F_OK); Linux says EINVAL to anything
        # else, and a huge value would overflow os.access() in the gofer
        raise ProtocolError("bad access mode")
    if op == Op.EXEC and not (a1 >= 0 and 0 <= a2 <= EXEC_MAX_READ):
        raise ProtocolError("bad exec read")
    return Request(op, paths, fsuid, fsgid, umask, groups, (a0, a1, a2, a3), caps, value)


# struct stat on x86_64 (asm/stat.h): the payload of STAT replies, written verbatim
# into the task by the sentry.
STAT = struct.Struct("<QQQIIIiQqqqQQQQQQqqq")


def pack_stat(st: os.stat_result, uid: int | None = None, gid: int | None = None) -> bytes:
    """st as struct stat, with uid and gid in place of its owner if given."""
    return STAT.pack(
        st.st_dev, st.st_ino, st.st_nlink, st.st_mode,
        st.st_uid if uid is None else uid, st.st_gid if gid is None else gid, 0,
        st.st_rdev, st.st_size, st.st_blksize, st.st_blocks,
        st.st_atime_ns // 10**9, st.st_atime_ns % 10**9,
        st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9,
        st.st_ctime_ns // 10**9, st.st_ctime_ns % 10**9,
        0, 0, 0,
    )



# struct statfs (asm/statfs.h, x86_64), 120 bytes: the payload of STATFS replies.
STATFS = struct.Struct("<qqQQQQQ2iqqq4q")


def pack_statfs(st: os.statvfs_result, fs_type: int) -> bytes:
    return STATFS.pack(
        fs_type, st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail, st.f_files,
        st.f_ffree, 0, 0, st.f_namemax, st.f_frsize, st.f_flag, 0, 0, 0, 0,
    )


# What recv_message returns in place of a message longer than MAX_MESSAGE: not empty
# (that means the peer is gone) and shorter than any header, so that decode_request
# rejects it (EINVAL) instead of serving the first MAX_MESSAGE bytes as a request.
TRUNCATED = b"\0"


# plain ints: socket's MsgFlag values are enum members, whose `&` costs a microsecond
_CMSG_SPACE = socket.CMSG_SPACE(4 * 4)
_MSG_CMSG_CLOEXEC = int(socket.MSG_CMSG_CLOEXEC)
_MSG_TRUNC = int(socket.MSG_TRUNC)


def recv_message(sock: socket.socket) -> tuple[bytes, list[int]]:
    data, ancdata, flags, _addr = sock.recvmsg(MAX_MESSAGE, _CMSG_SPACE, _MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
    if flags & _MSG_TRUNC:
        return TRUNCATED, list(fds)
    return data, list(fds)


def send_message(sock: socket.socket, data: bytes, fd: int, *more_fds: int) -> None:
    """data, with fd (none if negative) and more_fds (up to 3) attached."""
    fds = [f for f in (fd, *more_fds) if f >= 0]
    if not fds:
        sock.sendmsg([data])
    else:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
