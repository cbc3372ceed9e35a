"""The trapped remainder of syscalls that mostly run natively: what their argument
rule kept out of the host kernel is refused here, as Linux would refuse it."""
from __future__ import annotations

import errno
import struct

from sentry.errors import SyscallError
from sentry.syscalls.numbers import SYSCALL_NAMES, SYSCALL_NUMBERS
from sentry.syscalls.result import RunInstead
from sentry.task import Task

CLONE_NAMESPACES = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
    | 0x40000000 | 0x00000080  # NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET NEWTIME
)
CSIGNAL = 0xFF
CLONE_VM, CLONE_PIDFD, CLONE_PARENT_SETTID, CLONE_UNTRACED = (0x100, 0x1000, 0x100000,
                                                              0x800000)
# struct clone_args: flags pidfd child_tid parent_tid exit_signal stack stack_size tls
# (64 bytes, CLONE_ARGS_SIZE_VER0), set_tid set_tid_size (VER1), cgroup (VER2)
CLONE_ARGS = struct.Struct("<11Q")
CLONE_ARGS_SIZE_VER0 = 64
PAGE_SIZE = 4096


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


def clone3(t: Task) -> RunInstead:
    """clone3 implements Linux syscall clone3(2) as the clone(2) it amounts to.

    Its flags are in memory, where the filter cannot look, and a native pass would let
    another thread change them after any check. So the sentry reads struct clone_args
    once, refuses namespace flags (EPERM) as for clone, and has the platform run the
    equivalent clone(2) with register arguments (RunInstead): the ptrace platform does;
    the seccomp platform cannot change the call a task makes and answers ENOSYS, so that
    libc falls back to clone(2) (Docker's default profile answers clone3 so too). What
    clone(2) cannot carry, set_tid, CLONE_INTO_CGROUP, CLONE_CLEAR_SIGHAND and a pidfd
    with CLONE_PARENT_SETTID, is ENOSYS as well; CLONE_UNTRACED (a child the ptrace
    platform would not trace) is EPERM. So is CLONE_VM ENOSYS: clone(2) takes its
    arguments in registers that glibc's clone3 wrapper keeps its thread function and
    argument in across the call (rdx, r8), for the parent and the child both; only
    libc's wrapper shares memory that way, and it falls back to clone(2)."""
    size = t.args[1]
    if size < CLONE_ARGS_SIZE_VER0 or size > PAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    raw = t.read_bytes(t.args[0], size)
    if any(raw[CLONE_ARGS.size:]):
        raise SyscallError(errno.E2BIG)
    (flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, _set_tid,
     set_tid_size, _cgroup) = CLONE_ARGS.unpack(raw[:CLONE_ARGS.size].ljust(CLONE_ARGS.size,
                                                                             b"\0"))
    if flags & CLONE_NAMESPACES:
        t.kernel.log_once("refused clone3 with namespace flags")
        raise SyscallError(errno.EPERM)
    if flags & CLONE_UNTRACED:
        raise SyscallError(errno.EPERM)
    if exit_signal & ~CSIGNAL or flags & CSIGNAL or (stack == 0) != (stack_size == 0):
        raise SyscallError(errno.EINVAL)
    if (flags >> 32 or set_tid_size or flags & CLONE_VM
            or flags & CLONE_PIDFD and flags & CLONE_PARENT_SETTID and pidfd != parent_tid):
        raise SyscallError(errno.ENOSYS)
    ptid = pidfd if flags & CLONE_PIDFD else parent_tid
    child_sp = stack + stack_size if stack else 0  # clone(2) takes the stack's top
    return RunInstead(SYSCALL_NUMBERS["clone"],
                      (flags | exit_signal, child_sp, ptid, child_tid, tls, 0))


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
