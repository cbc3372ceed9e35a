"""Issue 12: what a workload may do to its sibling tasks, at least as narrow as Docker's
default seccomp profile (moby profiles/seccomp/default.json): process_vm_readv,
process_vm_writev, pidfd_getfd and kcmp only for a container whose spec grants
CAP_SYS_PTRACE (EPERM otherwise), and personality(2) only with the five values that
profile allows (EPERM for the others: its default errno).
"""
from __future__ import annotations

import uuid

import pytest

from helpers import parse_err, parse_kv
from sentry.platform import filter_program
from sentry.platform.bpf import SECCOMP_RET_ALLOW, SECCOMP_RET_TRACE
from sentry.syscalls.numbers import SYSCALL_NUMBERS

PTRACE_CALLS = ("process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp")
CAP_SYS_PTRACE = 19
DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]  # runc spec's
PERSONALITY = SYSCALL_NUMBERS["personality"]
ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC = 0x0040000, 0x0400000


def out_of(p) -> str:
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


def run(rt, bundle, script, **ov):
    b = bundle(["/bin/sh", "-c", script], **ov)
    p = rt.run("run", "--bundle", b, "sib-" + uuid.uuid4().hex[:10], timeout=120)
    assert p.returncode == 0, out_of(p)
    return p


@pytest.mark.parametrize("granted", [False, True], ids=["no-cap-sys-ptrace", "cap-sys-ptrace"])
def test_calls_into_another_task_need_cap_sys_ptrace_in_the_spec(rt, bundle, granted):
    caps = DEFAULT_CAPS + (["CAP_SYS_PTRACE"] if granted else [])
    p = run(rt, bundle, "rsphelper sibling-calls", capabilities=caps)
    got = parse_kv(p.stdout)
    want = "OK" if granted else "EPERM"
    assert got == {name: want for name in PTRACE_CALLS}, out_of(p)


def test_personality_takes_only_dockers_values(rt, bundle):
    values = [0, 8, 0x20000, 0x20008, 0xFFFFFFFF, ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC,
              0x0008000 | 8, 1]
    p = run(rt, bundle, "; ".join(f"rsphelper syscall {PERSONALITY} {v}" for v in values) +
            "; true")
    lines = p.stdout.splitlines()
    assert len(lines) == len(values), out_of(p)
    for v, line in zip(values[:5], lines):
        assert line.startswith("ret="), (hex(v), out_of(p))
    for v, line in zip(values[5:], lines[5:]):
        assert parse_err(line) == ("EPERM", 1), (hex(v), out_of(p))


def test_the_filter_follows_the_specs_capabilities():
    """The same table gives both filters: with CAP_SYS_PTRACE in the bounding set the
    four calls are ALLOWed, without it they go to the sentry (which answers EPERM)."""
    from test_syscall_table import run_bpf  # noqa: PLC0415 - the filter's interpreter

    without, with_ = filter_program("ptrace", 0), filter_program("ptrace", 1 << CAP_SYS_PTRACE)
    for name in PTRACE_CALLS:
        assert run_bpf(without, SYSCALL_NUMBERS[name]) == SECCOMP_RET_TRACE, name
        assert run_bpf(with_, SYSCALL_NUMBERS[name]) == SECCOMP_RET_ALLOW, name
    assert run_bpf(without, PERSONALITY, (8, 0, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW
    assert run_bpf(without, PERSONALITY, (ADDR_NO_RANDOMIZE, 0, 0, 0, 0, 0)) == SECCOMP_RET_TRACE


def test_help_syscalls_says_how_each_is_served(capsys):
    from runsc_py.cli import main  # noqa: PLC0415

    assert main(["help", "syscalls"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in PTRACE_CALLS:
        assert "partial" in rows[name] and "CAP_SYS_PTRACE" in rows[name], rows[name]
    assert "partial" in rows["personality"] and "EPERM" in rows["personality"]
