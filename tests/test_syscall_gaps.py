"""Syscalls a peer suite found answered differently from runc (issue 13, item 3): each
test runs one container body under runc and under runsc-py (both platforms) and
compares what the workload sees."""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from helpers import add_host_program

ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
            "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_CHROOT",
            "CAP_SYS_PTRACE", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"]


def run_both(rt, bundle, tmp_path: Path, args: list[str], programs=(), **overrides):
    """(runc's, runsc-py's) CompletedProcess of the same bundle (with the host's
    `programs` copied into its rootfs)."""
    b = bundle(args, **overrides)
    for program in programs:
        add_host_program(b / "rootfs", program)
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


# -- ptrace ----------------------------------------------------------------------------
# On the seccomp platform tasks of the sandbox trace each other as under runc; on the
# ptrace platform the sentry is every task's tracer, and Linux allows only one.
REFUSED_ON_PTRACE = "traceme ERR EPERM 1\nstopped=0 sig=0\n"


def test_ptrace_traceme_peek_and_continue(rt, bundle, tmp_path):
    """A child asks to be traced and stops; its parent reads its memory, continues it
    and waits for its exit."""
    ref, ours = run_both(rt, bundle, tmp_path, ["rsphelper", "ptrace", "peek"])
    assert ref.stdout == "stopped=1 sig=19\npeek=5eed\nexited=1 code=7\n", out_of(ref)
    want = REFUSED_ON_PTRACE if rt.platform == "ptrace" else ref.stdout
    assert ours.stdout == want, out_of(ours)


def test_a_tracer_cannot_take_a_call_past_the_filter(rt, bundle, tmp_path):
    """A tracer rewrites its tracee's getpid() into open("/proc/self/status") at the
    syscall-entry stop: seccomp runs after that stop, so the sentry serves the open (the
    kernel, opening the skeleton's empty file, would give no "Name:")."""
    ref, ours = run_both(rt, bundle, tmp_path, ["rsphelper", "ptrace", "rewrite"])
    assert "child read Name:\n" in ref.stdout, out_of(ref)
    want = REFUSED_ON_PTRACE if rt.platform == "ptrace" else ref.stdout
    assert ours.stdout == want, out_of(ours)


def test_seccomp_cannot_be_suspended_even_with_every_capability(rt, bundle):
    """PTRACE_O_SUSPEND_SECCOMP would run the tracee without its filter: Linux refuses it
    to a tracer that is itself under seccomp, whatever its capabilities."""
    b = bundle(["rsphelper", "ptrace", "suspend"], capabilities=ALL_CAPS)
    p = rt.run("run", "--bundle", b, "gaps-" + uuid.uuid4().hex[:8])
    want = (REFUSED_ON_PTRACE if rt.platform == "ptrace" else
            "stopped=1 sig=19\nsuspend-seccomp ERR EPERM 1\nexited=1 code=7\n")
    assert p.stdout == want, out_of(p)


def test_strace_follows_a_fork_and_exec(rt, bundle, tmp_path):
    """strace -f (PTRACE_SEIZE or TRACEME, fork and exec events) as under runc."""
    ref, ours = run_both(rt, bundle, tmp_path,
                         ["strace", "-f", "-qq", "-e", "trace=execve,exit_group", "sh", "-c",
                          "/bin/true; echo traced"], programs=["/usr/bin/strace"])
    assert ref.returncode == 0 and "traced\n" in ref.stdout, out_of(ref)
    assert 'execve("/bin/true"' in ref.stderr, out_of(ref)
    if rt.platform == "ptrace":
        assert ours.returncode == 1 and "Operation not permitted" in ours.stderr, out_of(ours)
        return
    assert ours.returncode == 0 and ours.stdout == ref.stdout, out_of(ours)
    calls = [line.split("(")[0].split()[-1] for line in ref.stderr.splitlines() if "(" in line]
    assert calls and [line.split("(")[0].split()[-1] for line in ours.stderr.splitlines()
                      if "(" in line] == calls, out_of(ours)


def test_ss_lists_listening_sockets(rt, bundle, tmp_path):
    """iproute2's ss over NETLINK_SOCK_DIAG sees the container's own listening socket."""
    script = "nc -l -p 8080 & sleep 0.5; ss -tln; kill %1"
    ref, ours = run_both(rt, bundle, tmp_path, ["sh", "-c", script], programs=["/usr/bin/ss"])
    assert "*:8080" in ref.stdout, out_of(ref)
    assert ours.stdout == ref.stdout, out_of(ours)


# -- terminals -------------------------------------------------------------------------
def test_pty_controlling_terminal_and_master_eio(rt, bundle, tmp_path):
    """A pty of /dev/ptmx: its replica opened without O_NOCTTY by the init (a session
    leader without a terminal) becomes its controlling terminal, so /dev/tty opens and
    another session's TIOCSCTTY is EPERM; a new session's TIOCSCTTY on a pty of its own
    works; the master reads what the replica wrote, then EIO once it is closed."""
    ref, ours = run_both(rt, bundle, tmp_path, ["rsphelper", "pty"])
    assert ref.stdout.startswith("controlling ok\ndev-tty ok\n"), out_of(ref)
    assert ref.stdout.endswith("master-read -1 ERR EIO 5\n"), out_of(ref)
    assert ours.stdout == ref.stdout, out_of(ours)


# -- clone3 ----------------------------------------------------------------------------
CLONE_NEWUSER, CLONE_NEWNET, CLONE_UNTRACED = 0x10000000, 0x40000000, 0x00800000


def test_clone3_makes_a_child_as_under_runc(rt, bundle, tmp_path):
    """clone3(2) called directly: a child on the ptrace platform, which runs it as the
    clone(2) it amounts to; ENOSYS on the seccomp platform (libc then uses clone(2)),
    whose filter cannot see its flags."""
    ref, ours = run_both(rt, bundle, tmp_path, ["rsphelper", "clone3", "0"])
    assert ref.stdout == "child exited 5\n", out_of(ref)
    want = ref.stdout if rt.platform == "ptrace" else "ERR ENOSYS 38\n"
    assert ours.stdout == want, out_of(ours)


def test_clone3_refuses_namespaces_as_clone_does(rt, bundle):
    """Namespace flags are EPERM on both platforms, as clone's; so is CLONE_UNTRACED,
    a child the ptrace platform's sentry would not trace."""
    flags = (CLONE_NEWUSER, CLONE_NEWNET, CLONE_UNTRACED)
    script = "; ".join(f"rsphelper clone3 {f}; rsphelper syscall 56 {f | 17} 0 0 0 0"
                       for f in flags[:2]) + f"; rsphelper clone3 {CLONE_UNTRACED}"
    p = rt.run("run", "--bundle", bundle(["sh", "-c", script]), "c3-" + uuid.uuid4().hex[:8])
    assert p.stdout.splitlines() == ["ERR EPERM 1"] * 5, out_of(p)
