"""sysinfo(2): the sandbox's uptime and task count, the host's loads and memory."""
from __future__ import annotations

import os
import struct
import time

from sentry.errors import SyscallError
from sentry.task import Task

# struct sysinfo on x86_64: 112 bytes
SYSINFO = struct.Struct("<q3Q6QH6xQQI4x")
SI_LOAD_SHIFT = 16


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f.read().decode().splitlines():
                key, _, value = line.partition(":")
                parts = value.split()
                if parts and parts[0].isdigit():
                    out[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    except OSError:
        pass
    return out


def pack_sysinfo(kernel) -> bytes:  # type: ignore[no-untyped-def]
    from sentry.fs.procfs import pidns_of  # noqa: PLC0415

    uptime = int(max(0.0, time.monotonic() - getattr(kernel, "started_at", time.monotonic())))
    loads = [int(x * (1 << SI_LOAD_SHIFT)) for x in os.getloadavg()]
    m = _meminfo()
    procs = 0
    try:
        leaders = list(pidns_of(kernel).tasks().values())
    except SyscallError:  # the init is gone: the sandbox is going down
        leaders = []
    for hp in leaders:
        try:
            procs += len(os.listdir(f"/proc/{hp}/task"))
        except OSError:  # exited meanwhile
            pass
    return SYSINFO.pack(
        uptime, *loads,
        m.get("MemTotal", 0), m.get("MemFree", 0), m.get("Shmem", 0), m.get("Buffers", 0),
        m.get("SwapTotal", 0), m.get("SwapFree", 0),
        min(procs, 0xFFFF), 0, 0, 1,
    )


def sysinfo(t: Task) -> int:
    """sysinfo implements Linux syscall sysinfo(2)."""
    t.write_bytes(t.args[0], pack_sysinfo(t.kernel))
    return 0
