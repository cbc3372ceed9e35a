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


def test_ip_shows_the_sandbox_interfaces_and_routes_as_under_runc(rt, bundle, tmp_path):
    """busybox `ip` over NETLINK_ROUTE (and the interface ioctls it adds) in the
    container's own network namespace: the same lo as under runc."""
    script = "ip addr && ip link && ip route && echo done"
    ref, ours = run_both(rt, bundle, tmp_path, ["sh", "-c", script])
    assert "127.0.0.1/8" in ref.stdout and ref.stdout.endswith("done\n"), out_of(ref)
    assert ours.stdout == ref.stdout, out_of(ours)
    assert ours.stderr == ref.stderr == "", out_of(ours)


def test_netlink_route_and_sock_diag_only(rt, bundle, tmp_path):
    """socket(AF_NETLINK) for NETLINK_ROUTE and NETLINK_SOCK_DIAG is the kernel's; the
    host's audit log and uevents, netfilter, xfrm and generic netlink stay refused
    (EPROTONOSUPPORT, as for a protocol the kernel lacks)."""
    protos = {"route": 0, "sock_diag": 4, "xfrm": 6, "audit": 9, "netfilter": 12,
              "uevent": 15, "generic": 16}
    script = "; ".join(f"echo {name} $(rsphelper syscall 41 16 3 {nr})"
                       for name, nr in protos.items())
    p = rt.run("run", "--bundle", bundle(["sh", "-c", script]), "nl-" + uuid.uuid4().hex[:8])
    got = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    refused = "ERR EPROTONOSUPPORT 93"
    assert got == {"route": "ret=3", "sock_diag": "ret=3", "xfrm": refused, "audit": refused,
                   "netfilter": refused, "uevent": refused, "generic": refused}, out_of(p)
