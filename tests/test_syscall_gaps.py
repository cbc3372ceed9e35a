"""Syscalls a peer suite found answered differently from runc (issue 13, item 3): each
test runs one container body under runc and under runsc-py (both platforms) and
compares what the workload sees."""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path


def run_both(rt, bundle, tmp_path: Path, args: list[str], **overrides):
    """(runc's, runsc-py's) CompletedProcess of the same bundle."""
    b = bundle(args, **overrides)
    ref = subprocess.run(["runc", "--root", str(tmp_path / "runc-root"), "run", "--bundle",
                          str(b), "gaps-" + uuid.uuid4().hex[:8]],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    ours = rt.run("run", "--bundle", b, "gaps-" + uuid.uuid4().hex[:8], timeout=60)
    return ref, ours


def out_of(p) -> str:
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


def test_exec_of_proc_self_exe_from_leader_child_and_thread(rt, bundle, tmp_path):
    """execve("/proc/self/exe") re-runs the caller's own program, whichever task of
    the process calls it: the leader, a forked child, a non-leader thread."""
    script = ("rsphelper exec /proc/self/exe exit 7; echo leader=$?; "
              "rsphelper fork-exec /proc/self/exe exit 8; echo child=$?; "
              "rsphelper threads-exec 1 /proc/self/exe exit 9; echo thread=$?")
    ref, ours = run_both(rt, bundle, tmp_path, ["sh", "-c", script])
    assert ref.stdout == "leader=7\nchild=8\nthread=9\n", out_of(ref)
    assert ours.stdout == ref.stdout, out_of(ours)
