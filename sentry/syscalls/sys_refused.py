"""The trapped remainder of syscalls that mostly run natively: what their argument
rule kept out of the host kernel is refused here, as Linux would refuse it."""
from __future__ import annotations

import errno

from sentry.errors import SyscallError
from sentry.task import Task


def ioctl(t: Task) -> int:
    """ioctl implements Linux syscall ioctl(2) for requests outside the native set:
    refused with ENOTTY, as for a file that does not know the request."""
    t.kernel.log_once(f"unsupported ioctl 0x{t.args[1] & 0xFFFFFFFF:x}")
    raise SyscallError(errno.ENOTTY)


def socket(t: Task) -> int:
    """socket implements Linux syscall socket(2) for families other than unix and
    inet, which run natively: refused with EAFNOSUPPORT."""
    t.kernel.log_once(f"unsupported socket family {t.arg_int(0)}")
    raise SyscallError(errno.EAFNOSUPPORT)


def socketpair(t: Task) -> int:
    """socketpair implements Linux syscall socketpair(2) outside AF_UNIX."""
    raise SyscallError(errno.EOPNOTSUPP)


def clone(t: Task) -> int:
    """clone implements Linux syscall clone(2) for namespace-creating flags, which the
    sandbox does not give its tasks: EPERM."""
    t.kernel.log_once("refused clone with namespace flags")
    raise SyscallError(errno.EPERM)


def clone3(t: Task) -> int:
    """clone3 implements Linux syscall clone3(2): ENOSYS, so that libc falls back to
    clone(2), whose flags the filter can see."""
    raise SyscallError(errno.ENOSYS)


def seccomp(t: Task) -> int:
    """seccomp implements Linux syscall seccomp(2) for a filter with a user
    notification listener: a later listener would take the sentry's place, so EPERM."""
    t.kernel.log_once("refused seccomp filter with a notification listener")
    raise SyscallError(errno.EPERM)
