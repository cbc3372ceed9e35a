"""Linux x86_64 structures the sentry writes into tasks."""
from __future__ import annotations

import os
import struct

from gofer.protocol import STAT

# struct statx (linux/stat.h), 256 bytes
STATX = struct.Struct("<IIQIIIHHQQQQ" + "qIi" * 4 + "IIIIQII" + "96x")
STATX_BASIC_STATS = 0x7FF
STATX_MNT_ID = 0x1000


def stat_to_statx(packed_stat: bytes, mnt_id: int) -> bytes:
    (dev, ino, nlink, mode, uid, gid, _pad, rdev, size, blksize, blocks,
     atime, atime_ns, mtime, mtime_ns, ctime, ctime_ns, *_r) = STAT.unpack(packed_stat)
    return STATX.pack(
        STATX_BASIC_STATS | STATX_MNT_ID, blksize, 0, nlink, uid, gid, mode & 0xFFFF, 0, ino, size,
        blocks, 0,
        atime, atime_ns, 0,
        0, 0, 0,  # btime: not reported (STATX_BTIME is not in the mask)
        ctime, ctime_ns, 0,
        mtime, mtime_ns, 0,
        os.major(rdev), os.minor(rdev), os.major(dev), os.minor(dev), mnt_id, 0, 0,
    )


def stat_mode(packed_stat: bytes) -> int:
    return STAT.unpack(packed_stat)[3]


# struct utsname: six NUL-padded fields of 65 bytes
def pack_utsname(sysname: str, nodename: str, release: str, version: str,
                 machine: str, domainname: str) -> bytes:
    fields = (sysname, nodename, release, version, machine, domainname)
    return b"".join(os.fsencode(f)[:64].ljust(65, b"\0") for f in fields)
