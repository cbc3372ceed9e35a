"""The trapped remainder of syscalls that mostly run natively: what their argument
rule kept out of the host kernel is refused here, as Linux would refuse it."""
from __future__ import annotations

import errno

from sentry.errors import SyscallError
from sentry.syscalls.numbers import SYSCALL_NAMES
from sentry.task import Task


def ioctl(t: Task) -> int:
    """ioctl implements Linux syscall ioctl(2) for requests outside the native set:
    refused with ENOTTY, as for a file that does not know the request."""
    t.kernel.log_once("unsupported ioctl", f"0x{t.args[1] & 0xFFFFFFFF:x}")
    raise SyscallError(errno.ENOTTY)


AF_NETLINK = 16


def socket(t: Task) -> int:
    """socket implements Linux syscall socket(2) for what does not run natively: a
    netlink protocol other than route and sock_diag is EPROTONOSUPPORT (as for a
    protocol the kernel lacks), any other family EAFNOSUPPORT."""
    if t.arg_int(0) == AF_NETLINK:
        t.kernel.log_once("unsupported netlink protocol", t.arg_int(2))
        raise SyscallError(errno.EPROTONOSUPPORT)
    t.kernel.log_once("unsupported socket family", t.arg_int(0))
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


def personality(t: Task) -> int:
    """personality implements Linux syscall personality(2) for the values outside the
    native set (Docker's): EPERM, as Docker's default profile answers."""
    t.kernel.log_once("refused personality outside 0x0, 0x8, 0x20000, 0x20008, 0xffffffff")
    raise SyscallError(errno.EPERM)


def _needs_cap_sys_ptrace(t: Task) -> int:
    """Reached only when the spec does not grant CAP_SYS_PTRACE (the filter runs the call
    natively when it does): EPERM, as Docker's default profile answers."""
    t.kernel.log_once(f"refused {SYSCALL_NAMES[t.nr]} without CAP_SYS_PTRACE in the spec")
    raise SyscallError(errno.EPERM)


def process_vm_readv(t: Task) -> int:
    """process_vm_readv implements Linux syscall process_vm_readv(2) without
    CAP_SYS_PTRACE in the spec: EPERM."""
    return _needs_cap_sys_ptrace(t)


def process_vm_writev(t: Task) -> int:
    """process_vm_writev implements Linux syscall process_vm_writev(2) without
    CAP_SYS_PTRACE in the spec: EPERM."""
    return _needs_cap_sys_ptrace(t)


def pidfd_getfd(t: Task) -> int:
    """pidfd_getfd implements Linux syscall pidfd_getfd(2) without CAP_SYS_PTRACE in the
    spec: EPERM."""
    return _needs_cap_sys_ptrace(t)


def kcmp(t: Task) -> int:
    """kcmp implements Linux syscall kcmp(2) without CAP_SYS_PTRACE in the spec: EPERM."""
    return _needs_cap_sys_ptrace(t)
