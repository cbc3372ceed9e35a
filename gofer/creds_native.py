"""Per-request credentials of the gofer: the caller's fsuid, fsgid, groups and
effective capabilities, so that the host kernel checks permissions as it would for the
workload (ctypes)."""
from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_current: tuple[int, int, tuple[int, ...], int] | None = None
_permitted: int | None = None
_pid = 0  # the process _current and _permitted are of


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _capget() -> tuple[int, int, int]:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.syscall(125, ctypes.byref(header), data) < 0:
        raise OSError(ctypes.get_errno(), "capget")
    return tuple(data[0].__getattribute__(f) | data[1].__getattribute__(f) << 32
                 for f in ("effective", "permitted", "inheritable"))  # type: ignore[return-value]


def _set_effective(effective: int) -> None:
    _eff, permitted, inheritable = _capget()
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        data[i].effective = effective >> (32 * i) & 0xFFFFFFFF
        data[i].permitted = permitted >> (32 * i) & 0xFFFFFFFF
        data[i].inheritable = inheritable >> (32 * i) & 0xFFFFFFFF
    if _libc.syscall(126, ctypes.byref(header), data) < 0:
        raise OSError(ctypes.get_errno(), "capset")


def running_as(fsuid: int, fsgid: int, groups: tuple[int, ...], caps: int) -> bool:
    """Whether the last switch_to that completed was to exactly these credentials."""
    return _permitted is not None and _current == (fsuid, fsgid, tuple(groups),
                                                   caps & _permitted)


def switch_to(fsuid: int, fsgid: int, groups: tuple[int, ...], caps: int) -> None:
    """setgroups/setfsgid/setfsuid, then the caller's effective capabilities (as far
    as the gofer holds them), skipped when unchanged since the last request (the
    gofer does nothing between requests that needs its own). A workload root without
    CAP_DAC_OVERRIDE thus meets the same permission checks here as in its own kernel."""
    global _current, _permitted, _pid
    if _pid != os.getpid():  # what a parent process knew (a forked gofer) is not ours
        _current, _permitted, _pid = None, None, os.getpid()
    if _permitted is None:
        _permitted = _capget()[1]
    wanted = (fsuid, fsgid, tuple(groups), caps & _permitted)
    if wanted == _current:
        return
    # unknown until the switch completes: a switch that fails part-way is redone in
    # full by the next request, whatever it asks for
    previous, _current = _current, None
    if previous is None or previous[3] != _permitted:
        _set_effective(_permitted)  # CAP_SETGID/SETUID back, to switch ids at all
    if sorted(groups) != sorted(os.getgroups()):
        # (unchanged groups are not set again: a rootless sandbox's user namespace
        # denies setgroups, and its tasks all have the groups the gofer has)
        os.setgroups(list(groups))
    _libc.setfsgid(fsgid)
    _libc.setfsuid(fsuid)
    # after setfsuid, which adjusts the filesystem capabilities on its own
    _set_effective(wanted[3])
    _current = wanted
