"""The sandbox kernel's identity: uname, sethostname, setdomainname."""
from __future__ import annotations

import errno

from sentry.abi import pack_utsname
from sentry.errors import SyscallError
from sentry.task import Task

CAP_SYS_ADMIN = 21
HOST_NAME_MAX = 64


def uname(t: Task) -> int:
    """uname implements Linux syscall uname(2): the sandbox's own kernel identity,
    never the host's."""
    k = t.kernel
    t.write_bytes(t.args[0], pack_utsname(
        "Linux", k.hostname, k.config.kernel_release, k.config.kernel_version,
        "x86_64", k.domainname,
    ))
    return 0


def _read_name(t: Task) -> str:
    length = t.args[1]
    if length > HOST_NAME_MAX:
        raise SyscallError(errno.EINVAL)
    if not t.creds().has_cap(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    return t.read_bytes(t.args[0], length).split(b"\0")[0].decode(errors="replace")


def sethostname(t: Task) -> int:
    """sethostname implements Linux syscall sethostname(2) for the sandbox's UTS."""
    t.kernel.hostname = _read_name(t)
    return 0


def setdomainname(t: Task) -> int:
    """setdomainname implements Linux syscall setdomainname(2)."""
    t.kernel.domainname = _read_name(t)
    return 0
