"""Self-confinement primitives shared by the sentry and the gofer (ctypes): a private
root made of a fresh tmpfs, a capability set cut down to a list, and a seccomp
allowlist that kills the whole process on anything else.

Neither runsc_py nor anything outside the standard library is imported here: the
gofer and the sentry each call these from their own confine module.
"""
from __future__ import annotations

import ctypes
import os

from sentry.platform.bpf import SECCOMP_RET_KILL_PROCESS, build_filter
from sentry.platform.seccomp_native import install_filter
from sentry.syscalls.numbers import SYSCALL_NUMBERS

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_DUMPABLE = 4

CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21,
}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    _check(_libc.mount(os.fsencode(source) if source else None, os.fsencode(target),
                       os.fsencode(fstype) if fstype else None, ctypes.c_ulong(flags),
                       os.fsencode(data) if data else None), f"mount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    return _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                              ctypes.c_ulong(0), ctypes.c_ulong(0)), f"prctl({option})")


def pivot_into(new_root: str) -> None:
    """Makes new_root (a mount point) the root and cwd of the calling process and drops
    every other mount of its (private) mount namespace: the old root is detached, so
    no host path can be named any more."""
    os.chdir(new_root)
    _check(_libc.syscall(155, b".", b"."), "pivot_root")  # old root stacked under "."
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")


def remount_readonly(target: str, extra: int = 0) -> None:
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | extra)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def cap_mask(names: tuple[str, ...]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << CAPS[name]
    return mask


def keep_only_caps(names: tuple[str, ...]) -> None:
    """Effective = permitted = exactly `names`; no inheritable or ambient caps; every
    other capability leaves the bounding set too."""
    keep = cap_mask(names)
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = 40
    for cap in range(last + 1):
        if not keep >> cap & 1:
            _check(_libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), ctypes.c_ulong(0),
                               ctypes.c_ulong(0), ctypes.c_ulong(0)), "drop bounding cap")
    _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL),
                ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    for i in range(2):
        data[i].effective = data[i].permitted = keep >> (32 * i) & 0xFFFFFFFF
        data[i].inheritable = 0
    _check(_libc.syscall(126, ctypes.byref(header), data), "capset")


def allowlist_program(names: frozenset[str] | set[str]) -> bytes:
    """A filter allowing exactly `names` (x86_64) and killing the process otherwise."""
    unknown = sorted(n for n in names if n not in SYSCALL_NUMBERS)
    if unknown:
        raise ValueError(f"unknown syscalls in allowlist: {unknown}")
    return build_filter({SYSCALL_NUMBERS[n]: None for n in names},
                        SECCOMP_RET_KILL_PROCESS)


def install_allowlist(names: frozenset[str] | set[str]) -> None:
    """no_new_privs, then the allowlist (no listener: nothing is emulated here)."""
    program = allowlist_program(names)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    install_filter(program, new_listener=False)


def forbidden_syscall() -> None:
    """Test hook helper: a syscall no allowlist here holds (bpf(2))."""
    _libc.syscall(SYSCALL_NUMBERS["bpf"], 0, 0, 0)
