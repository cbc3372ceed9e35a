"""The ptrace platform's own guarantees (issue 6), checked from the host with python-ptrace:
while the sentry traces a sandbox task nobody else can (a second tracer is refused, so
no host process can take over a task's syscalls or registers), and every task of the
tree, threads included, stays traced through fork, clone and exec; and nothing but the
sentry's own calls runs in a task while it installs an fd there."""
from __future__ import annotations

import errno
import json
import os

import pytest
from ptrace.binding import ptrace_attach
from ptrace.error import PtraceError

from _lc_util import create, wait_until

HELPER = "/bin/rsphelper"


@pytest.mark.parametrize("rt", ["ptrace"], indirect=True)
def test_no_second_tracer_can_attach_to_a_sandbox_task(rt, bundle, tmp_path):
    # a shell that forks a threaded child, which execs, and a plain child
    script = (f"{HELPER} threads-exec 2 {HELPER} pause-forever & "
              f"{HELPER} pause-forever & wait")
    rc, _out, err = create(rt, bundle(["/bin/sh", "-c", script]), "c1", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "c1", check=True)
    sentry = rt.state("c1")["pid"]

    def tasks() -> list[int]:
        pids = json.loads(rt.run("ps", "--format", "json", "c1", check=True).stdout)
        return [int(t) for p in pids for t in os.listdir(f"/proc/{p}/task")]

    # sh + the exec'd (formerly threaded) helper + the other helper
    assert wait_until(lambda: len(tasks()) == 3, timeout=10), tasks()
    for tid in tasks():
        with open(f"/proc/{tid}/status") as f:
            tracer = next(int(ln.split()[1]) for ln in f if ln.startswith("TracerPid:"))
        assert tracer == sentry, (tid, tracer, sentry)
        with pytest.raises(PtraceError) as e:
            ptrace_attach(tid)
        assert e.value.errno == errno.EPERM, (tid, e.value)
    assert rt.state("c1")["status"] == "running"


def test_rewriting_the_syscall_instruction_during_fd_installation(rt, bundle):
    """The ptrace platform installs fds by re-running the task's `syscall` instruction;
    a thread that keeps rewriting it (to ud2) must not get anything else run in the
    task's context: the task is killed or served correctly, and the sandbox serves on.
    (On seccomp there is no injection: the same program simply runs.)"""
    script = (f"{HELPER} hijack-injection /etc/passwd 3000; echo rc=$?; "
              f"{HELPER} cat /etc/hostname")
    p = rt.run("run", "--bundle", bundle(["/bin/sh", "-c", script]), "c1", timeout=120)
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and len(lines) >= 2, (p.stdout, p.stderr)
    assert lines[-2] in ("rc=0", "rc=137"), p.stdout  # served, or killed (fail closed)
    if lines[-2] == "rc=0":
        assert lines[-3] == "survived ok=3000", p.stdout
    assert lines[-1] == "runsc-py", p.stdout  # the sandbox still serves (etc/hostname)


def test_swapping_the_fd_stub_code_never_runs_a_trapped_call_unseen(rt, bundle):
    """A thread keeps swapping the code of the ptrace platform's fd stub (found in
    /proc/self/maps and made writable) with a uname(2) into its own buffer while the
    main thread opens files: the swapped code is either never run or caught at its
    trapped call, which kills the process; a host uname never lands ("LEAK": the
    swapped code then spins, and the other thread reports it)."""
    script = (f"{HELPER} stub-hijack /etc/passwd 3000; echo rc=$?; "
              f"{HELPER} cat /etc/hostname")
    p = rt.run("run", "--bundle", bundle(["/bin/sh", "-c", script]), "c1", timeout=120)
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and len(lines) >= 2, (p.stdout, p.stderr)
    assert not any(ln.startswith("LEAK") for ln in lines), p.stdout
    if rt.platform == "ptrace":
        assert lines[-2] in ("rc=0", "rc=137") and "no stub" not in lines, p.stdout
    else:  # no stub to attack
        assert lines[:2] == ["no stub", "rc=0"], p.stdout
    assert lines[-1] == "runsc-py", p.stdout  # the sandbox still serves
