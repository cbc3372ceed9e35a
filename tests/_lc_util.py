"""Small shared helpers for test_lifecycle / test_cli_errors / test_fail_closed."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def ppid_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(")") + 2:].split()[1])


def children_of(pid: int) -> list[int]:
    out = []
    for ent in os.listdir("/proc"):
        if ent.isdigit() and ppid_of(int(ent)) == pid:
            out.append(int(ent))
    return sorted(out)


def cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def proc_state(pid: int) -> str | None:
    """Single-letter state from /proc/PID/stat, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()[0]


def alive(pid: int) -> bool:
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def wait_until(pred, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def try_state(rt, cid: str) -> dict | None:
    import json
    p = rt.run("state", cid)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def wait_status(rt, cid: str, status: str, timeout: float = 10.0) -> dict | None:
    last = [None]

    def ok():
        last[0] = try_state(rt, cid)
        return last[0] is not None and last[0].get("status") == status

    wait_until(ok, timeout, 0.1)
    return last[0]


def create(rt, bundle: Path, cid: str, outdir: Path, *extra, timeout: float = 60):
    """`create` with the container's stdio going to files (create hands its stdio
    to the container, so pipes would keep subprocess.run waiting)."""
    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / f"{cid}.out"
    err = outdir / f"{cid}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        p = subprocess.run(rt.cmd("create", "--bundle", bundle, *extra, cid),
                           stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, timeout=timeout)
    return p.returncode, out, err


def check_one_line_error(p: subprocess.CompletedProcess, *needles: str) -> str:
    both = (p.stdout or "") + (p.stderr or "")
    assert p.returncode != 0, f"expected failure, got rc=0; stdout={p.stdout!r} stderr={p.stderr!r}"
    assert "Traceback" not in both, f"traceback in output:\n{both}"
    lines = [l for l in (p.stderr or "").splitlines() if l.strip()]
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}: {p.stderr!r}"
    for n in needles:
        assert n.lower() in lines[0].lower(), f"{n!r} not in error line {lines[0]!r}"
    return lines[0]


def sandbox_pids(cid: str) -> list[int]:
    """Host pids whose cmdline is runsc-py-sentry/gofer <cid>."""
    found = []
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        c = cmdline(int(ent))
        if not c:
            continue
        j = " ".join(c)
        if j in (f"runsc-py-sentry {cid}", f"runsc-py-gofer {cid}"):
            found.append(int(ent))
    return found
