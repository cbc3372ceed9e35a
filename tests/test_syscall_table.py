"""The syscall table and the filter generated from it."""
from __future__ import annotations

import ctypes
import errno
import os
import struct

import pytest

from sentry.platform.bpf import SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_USER_NOTIF
from sentry.platform import filter_program
from sentry.syscalls.numbers import SYSCALL_NUMBERS
from sentry.syscalls.support import Support
from sentry.syscalls.table import TABLE

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003


def run_bpf(program: bytes, nr: int, args: tuple[int, ...] = (0,) * 6,
            arch: int = AUDIT_ARCH_X86_64) -> int:
    """A classic-BPF interpreter for the subset the filter uses, over seccomp_data."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *args)
    insns = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x06:
            return k
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x35:
            pc += jt if acc >= k else jf
        elif code == 0x45:
            pc += jt if acc & k else jf
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


PROGRAM = filter_program("seccomp", 0)


def test_every_entry_names_a_real_syscall_with_a_handler_where_needed():
    for nr, e in TABLE.items():
        assert SYSCALL_NUMBERS[e.name] == nr
        if e.support in (Support.FULL, Support.PARTIAL):
            assert e.handler is not None, e.name
            assert e.handler.__doc__ and e.name in e.handler.__doc__, e.name
        if e.support is Support.ERROR:
            assert e.errno in errno.errorcode and e.note, e.name


@pytest.mark.parametrize("name", ["read", "write", "mmap", "futex", "getpid", "close",
                                  "clock_gettime", "exit_group", "pipe2", "epoll_wait"])
def test_native_syscalls_are_allowed(name):
    assert run_bpf(PROGRAM, SYSCALL_NUMBERS[name]) == SECCOMP_RET_ALLOW


@pytest.mark.parametrize("name", ["openat", "open", "execve", "newfstatat", "statx",
                                  "uname", "mount", "bpf", "io_uring_setup", "ptrace",
                                  "unshare", "open_by_handle_at", "chdir"])
def test_path_and_dangerous_syscalls_trap_to_the_sentry(name):
    assert run_bpf(PROGRAM, SYSCALL_NUMBERS[name]) == SECCOMP_RET_USER_NOTIF


def test_unknown_syscall_traps_and_foreign_arch_or_x32_kills():
    assert run_bpf(PROGRAM, 999) == SECCOMP_RET_USER_NOTIF
    assert run_bpf(PROGRAM, 0, arch=AUDIT_ARCH_I386) == SECCOMP_RET_KILL_PROCESS
    assert run_bpf(PROGRAM, 0x40000000 | 1) == SECCOMP_RET_KILL_PROCESS


def test_argument_rules():
    ioctl, socket, clone, seccomp = (SYSCALL_NUMBERS[n] for n in
                                     ("ioctl", "socket", "clone", "seccomp"))
    assert run_bpf(PROGRAM, ioctl, (1, 0x5401, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW  # TCGETS
    assert run_bpf(PROGRAM, ioctl, (1, 0x5412, 0, 0, 0, 0)) == SECCOMP_RET_USER_NOTIF  # TIOCSTI
    assert run_bpf(PROGRAM, socket, (2, 1, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW  # AF_INET
    assert run_bpf(PROGRAM, socket, (16, 3, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW  # NETLINK_ROUTE
    assert run_bpf(PROGRAM, socket, (16, 3, 4, 0, 0, 0)) == SECCOMP_RET_ALLOW  # SOCK_DIAG
    assert run_bpf(PROGRAM, socket, (16, 3, 9, 0, 0, 0)) == SECCOMP_RET_USER_NOTIF  # AUDIT
    assert run_bpf(PROGRAM, socket, (17, 3, 0, 0, 0, 0)) == SECCOMP_RET_USER_NOTIF  # AF_PACKET
    assert run_bpf(PROGRAM, clone, (0x11 | 0x01000000, 0, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW
    assert run_bpf(PROGRAM, clone, (0x10000000, 0, 0, 0, 0, 0)) == SECCOMP_RET_USER_NOTIF
    assert run_bpf(PROGRAM, seccomp, (1, 8, 0, 0, 0, 0)) == SECCOMP_RET_USER_NOTIF
    assert run_bpf(PROGRAM, seccomp, (1, 0, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW


def test_the_kernel_accepts_the_filter():
    """Loaded for real in a child (with no_new_privs, no listener): native calls still
    work and a trapped one, with nobody listening, fails with ENOSYS."""
    from sentry.platform.bpf import build_filter
    from sentry.platform.seccomp_native import install_filter

    native = {nr: e.native_when for nr, e in TABLE.items()
              if e.support is Support.NATIVE or e.native_when is not None}
    errno_enosys = 0x00050000 | errno.ENOSYS
    program = build_filter(native, errno_enosys)
    pid = os.fork()
    if pid == 0:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            install_filter(program, new_listener=False)
            ok = os.getpid() > 0 and os.write(1, b"") == 0
            try:
                os.uname()
                os._exit(3)
            except OSError as e:
                os._exit(0 if ok and e.errno == errno.ENOSYS else 4)
        finally:
            os._exit(5)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_help_syscalls_lists_the_table(capsys):
    from runsc_py.cli import main

    assert main(["help", "syscalls"]) == 0
    out = capsys.readouterr().out
    assert "openat" in out and "io_uring_setup" in out and "ENOSYS" in out
    assert len(out.splitlines()) > len(TABLE)
