"""Self-confinement primitives shared by the sentry and the gofer (ctypes): a private
root made of a fresh tmpfs, a capability set cut down to a list, and a seccomp
allowlist that kills the whole process on anything else.

Neither runsc_py nor anything outside the standard library is imported here: the
gofer and the sentry each call these from their own confine module.
"""
from __future__ import annotations

import os

from sentry.platform.bpf import SECCOMP_RET_KILL_PROCESS, build_filter
from sentry.platform.linux_native import (  # noqa: F401 - re-exported for the confiners
    CLONE_NEWNS,
    CLONE_NEWUSER,
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    attach_tree,
    capset,
    clone_tree,
    last_cap,
    mount,
    pivot_root,
    prctl,
    setns,
    umount,
    unshare,
)
from sentry.platform.seccomp_native import install_filter
from sentry.syscalls.numbers import SYSCALL_NUMBERS

CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21,
}


def pivot_into(new_root: str) -> None:
    """Makes new_root (a mount point) the root and cwd of the calling process and drops
    every other mount of its (private) mount namespace: the old root is detached, so
    no host path can be named any more."""
    os.chdir(new_root)
    pivot_root(".", ".")  # the old root is stacked under "."
    umount(".", MNT_DETACH)
    os.chdir("/")


def remount_readonly(target: str, extra: int = 0) -> None:
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | extra)


def cap_mask(names: tuple[str, ...]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << CAPS[name]
    return mask


def keep_only_caps(names: tuple[str, ...]) -> None:
    """Effective = permitted = exactly `names`; no inheritable or ambient caps; every
    other capability leaves the bounding set too."""
    keep = cap_mask(names)
    for cap in range(last_cap() + 1):
        if not keep >> cap & 1:
            prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    capset(keep, keep, 0)


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
    import ctypes

    ctypes.CDLL(None).syscall(SYSCALL_NUMBERS["bpf"], 0, 0, 0)
