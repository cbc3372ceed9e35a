"""Issue 12, item 6: the sandbox's log grows by a bounded number of lines whatever the
workload does. Every line a workload can cause is logged once (a fixed message, or one
per table entry) or, when it carries something the workload chose (a syscall number,
an ioctl request, a socket family, a path), once per value for the first few values
of its kind and then once more to say the rest are left out (sentry.kernel.log_once).
"""
from __future__ import annotations

import uuid

from sentry.kernel import LOG_DETAILS_MAX
from sentry.syscalls.numbers import SYSCALL_NUMBERS

GETPID = SYSCALL_NUMBERS["getpid"]
FLOOD = 20_000
SWEEP = 500
# (what the log line says, rsphelper syscall-sweep NR IDX FROM): SWEEP distinct values
SWEEPS = {
    "unsupported syscall": (0, -1, 1000),  # numbers no table knows
    "unsupported ioctl": (SYSCALL_NUMBERS["ioctl"], 1, 0x7000),  # requests outside the safe set
    "unsupported socket family": (SYSCALL_NUMBERS["socket"], 0, 46),
}


def out_of(p, log) -> str:
    text = log.read_text() if log.exists() else ""
    return (f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}\n"
            f"log ({text.count(chr(10))} lines):\n{text[:3000]}")


def test_a_flood_of_calls_the_workload_traces_itself_logs_a_bounded_number_of_lines(
        rt, bundle, tmp_path):
    """A workload's own SECCOMP_RET_TRACE filter on a native call: on the ptrace platform
    the sentry is the tracer that meets it; each call fails with ENOSYS, as on Linux
    with no tracer (and as on the seccomp platform, where the kernel answers it)."""
    log = tmp_path / "flood.log"
    b = bundle(["rsphelper", "own-trace-filter", str(GETPID), str(FLOOD)])
    p = rt.run("--log", log, "run", "--bundle", b, "log-" + uuid.uuid4().hex[:10], timeout=300)
    assert p.stdout.splitlines() == [f"calls={FLOOD} enosys={FLOOD}"], out_of(p, log)
    text = log.read_text() if log.exists() else ""
    assert text.count("getpid") <= 1 and text.count("\n") < 20, out_of(p, log)


def test_values_the_workload_chooses_log_a_bounded_number_of_lines(rt, bundle, tmp_path):
    log = tmp_path / "sweep.log"
    script = "; ".join(f"rsphelper syscall-sweep {nr} {idx} {start} {SWEEP}"
                       for nr, idx, start in SWEEPS.values())
    b = bundle(["/bin/sh", "-c", script])
    p = rt.run("--log", log, "run", "--bundle", b, "log-" + uuid.uuid4().hex[:10], timeout=300)
    assert p.stdout.splitlines() == [f"calls={SWEEP} ok=0"] * len(SWEEPS), out_of(p, log)
    lines = log.read_text().splitlines()
    for what in SWEEPS:
        mine = [line for line in lines if what in line]
        # the first values one by one, then one line that says more were left out
        assert len(mine) == LOG_DETAILS_MAX + 1, (what, out_of(p, log))
        assert "no more logged" in mine[-1], (what, out_of(p, log))
    assert len(lines) < 4 * (LOG_DETAILS_MAX + 1), out_of(p, log)
