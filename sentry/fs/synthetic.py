"""The sentry's own filesystems, by mount type."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sentry.fs.base import FileSystem
from sentry.fs.node import Dir, SyntheticFS

if TYPE_CHECKING:
    from sentry.kernel import Kernel

MQUEUE_MAGIC = 0x19800202
CGROUP2_SUPER_MAGIC = 0x63677270


class EmptyFS(SyntheticFS):
    """An empty read-only directory (mqueue, cgroup)."""

    def __init__(self, kernel, name: str, magic: int, minor: int) -> None:  # type: ignore[no-untyped-def]
        self.name = name
        self.magic = magic
        self.dev = os.makedev(0, minor)
        super().__init__(kernel, Dir())


def make(kind: str, kernel: Kernel) -> FileSystem:
    if kind == "proc":
        from sentry.fs.procfs import ProcFS  # noqa: PLC0415
        return ProcFS(kernel)
    if kind == "sysfs":
        from sentry.fs.sysfs import SysFS  # noqa: PLC0415
        return SysFS(kernel)
    if kind == "devfs":
        from sentry.fs.devfs import DevFS  # noqa: PLC0415
        return DevFS(kernel)
    if kind == "devpts":
        from sentry.fs.devfs import DevptsFS  # noqa: PLC0415
        return DevptsFS(kernel)
    if kind == "mqueue":
        return EmptyFS(kernel, "mqueue", MQUEUE_MAGIC, 0x17)
    if kind == "cgroup":
        return EmptyFS(kernel, "cgroup", CGROUP2_SUPER_MAGIC, 0x18)
    raise ValueError(f"unknown synthetic filesystem {kind!r}")
