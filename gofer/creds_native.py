"""Per-request credentials of the gofer: the caller's fsuid, fsgid and groups, so that
the host kernel checks permissions as it would for the workload (ctypes)."""
from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_current: tuple[int, int, tuple[int, ...]] = (0, 0, ())


def switch_to(fsuid: int, fsgid: int, groups: tuple[int, ...]) -> None:
    """setfsuid/setfsgid/setgroups, skipped when unchanged. An fsuid other than 0 drops
    the filesystem capabilities (DAC override and the rest) for the request."""
    global _current
    wanted = (fsuid, fsgid, tuple(groups))
    if wanted == _current:
        return
    # groups and fsgid first: after fsuid leaves 0 they may no longer be changeable
    os.setgroups(list(groups))
    _libc.setfsgid(fsgid)
    _libc.setfsuid(fsuid)
    _current = wanted
