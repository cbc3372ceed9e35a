"""Reads, writes and seeks on fds the task holds: they run natively, but for what a
synthetic file must answer as Linux's file would."""
from __future__ import annotations

import errno
import os
import re
import stat

from sentry.errors import SyscallError
from sentry.fs.node import MEMFD_LINK, sandbox_name
from sentry.fs.procfs import pidns_of
from sentry.platform import linux_native
from sentry.syscalls.result import CONTINUE, Result
from sentry.task import Task

SEEK_END = 2

# /proc files whose llseek is generic (default_llseek, generic_file_llseek: the end is
# their size, 0); every other /proc file is a seq_file, whose llseek refuses SEEK_END
_PROC_SIZE_ZERO = re.compile(
    r"/proc/(sys/.*|\d+(/task/\d+)?/(cmdline|environ|auxv|oom_score_adj|oom_adj))$")


def lseek(t: Task) -> Result:
    """lseek implements Linux syscall lseek(2) for SEEK_END (the others run natively):
    a synthetic /proc file is a sealed memfd holding what it shows, so its end is where
    Linux's is only for the files Linux gives no size either: the sentry answers
    those (EINVAL for a seq_file, offset + 0 otherwise, the position moved on the
    task's own open file), and lets everything else seek natively (CONTINUE: an fd
    and two integers decide nothing the sentry guards)."""
    fd, whence = t.arg_int(0), t.arg_int(2)
    if whence != SEEK_END:
        return CONTINUE
    offset = t.args[1] - (1 << 64) if t.args[1] >> 63 else t.args[1]
    link = t.fd_path(fd)
    if link.startswith(MEMFD_LINK):
        canon = sandbox_name(link)
        if not canon.startswith("/proc/"):
            return CONTINUE
        if not _PROC_SIZE_ZERO.match(canon):
            raise SyscallError(errno.EINVAL)
    elif not (link == "/proc" or link.startswith("/proc/")) or not _skeleton_dir(t, fd):
        return CONTINUE
    # a /proc directory (generic_file_llseek, size 0) or a file of no size
    if offset < 0:
        raise SyscallError(errno.EINVAL)
    return _seek_to(t, fd, offset)


def _skeleton_dir(t: Task, fd: int) -> bool:
    """Whether the task's fd is a directory of the sentry's skeleton (a synthetic
    directory) rather than one of the container tree."""
    st = t.fd_stat(fd)
    return stat.S_ISDIR(st.st_mode) and st.st_dev == os.stat(t.kernel.skeleton).st_dev


def _seek_to(t: Task, fd: int, offset: int) -> int:
    host_tgid = pidns_of(t.kernel).caller_ids(t)[2]
    try:
        mine = linux_native.pidfd_getfd(host_tgid, fd)
    except OSError as e:
        raise SyscallError(e.errno or errno.EBADF) from None
    try:
        return os.lseek(mine, offset, os.SEEK_SET)
    except OSError as e:
        raise SyscallError(e.errno or errno.EINVAL) from None
    finally:
        os.close(mine)
