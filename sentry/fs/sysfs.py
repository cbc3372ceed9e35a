"""The sandbox's /sys: just enough for programs that probe CPUs and network devices."""
from __future__ import annotations

import os

from sentry.fs.node import Dir, File, Node, SyntheticFS, host_read, text

SYSFS_MAGIC = 0x62656572


def parse_cpulist(s: str) -> list[int]:
    out: list[int] = []
    for part in s.strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def _cpulist(name: str) -> str:
    raw = host_read(f"/sys/devices/system/cpu/{name}", b"").decode().strip()
    if raw:
        try:
            parse_cpulist(raw)
            return raw + "\n"
        except ValueError:
            pass
    n = os.cpu_count() or 1
    return f"0-{n - 1}\n" if n > 1 else "0\n"


class SysFS(SyntheticFS):
    name = "sysfs"
    magic = SYSFS_MAGIC
    dev = os.makedev(0, 0x15)

    def __init__(self, kernel) -> None:  # type: ignore[no-untyped-def]
        def cpu_entries(t) -> dict[str, Node]:  # type: ignore[no-untyped-def]
            out: dict[str, Node] = {
                name: File(lambda t, n=name: _cpulist(n).encode())
                for name in ("online", "possible", "present")
            }
            for c in parse_cpulist(_cpulist("possible")):
                out[f"cpu{c}"] = Dir()
            return out

        lo = Dir({
            "address": text("00:00:00:00:00:00\n"),
            "mtu": text("65536\n"),
            "operstate": text("unknown\n"),
            "flags": text("0x9\n"),
            "type": text("772\n"),
            "ifindex": text("1\n"),
        })
        root = Dir({
            "block": Dir(),
            "bus": Dir(),
            "class": Dir({"net": Dir({"lo": lo})}),
            "dev": Dir(),
            "devices": Dir({"system": Dir({"cpu": Dir(cpu_entries)})}),
            "firmware": Dir(),
            "fs": Dir({"cgroup": Dir()}),
            "kernel": Dir(),
            "module": Dir(),
            "power": Dir(),
        })
        super().__init__(kernel, root)
