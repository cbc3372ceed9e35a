"""Issue 3, item 1: dangerous syscalls never reach the host kernel.

Each one is made raw from inside a container (`rsphelper syscall NR ARGS...`) and must
be refused with exactly the errno the syscall table promises (sentry/syscalls/table.py),
the refusal must be logged to the `--log` file, the very next syscall of the same
container must work and the container must run to its end. Pointer arguments are 0:
the refusal happens before any argument is read. Arguments that would be harmful if
they ever did reach the host kernel are chosen to be harmless there (bad reboot magic,
syslog's SIZE_BUFFER query, no module image).
"""
from __future__ import annotations

import errno
import sys
import uuid
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from helpers import parse_err, parse_kv  # noqa: E402
from sentry.syscalls.numbers import SYSCALL_NUMBERS  # noqa: E402
from sentry.syscalls.support import Support  # noqa: E402
from sentry.syscalls.table import TABLE  # noqa: E402

CLONE_NEWUSER = 0x10000000
SIGCHLD = 17
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SYSLOG_ACTION_SIZE_BUFFER = 10

# name -> raw arguments (all pointers 0)
REFUSED: dict[str, tuple[int, ...]] = {
    "io_uring_setup": (1, 0),
    "bpf": (0, 0, 0),  # BPF_MAP_CREATE, attr=NULL
    "perf_event_open": (0, 0, -1, -1, 0),
    "userfaultfd": (0,),
    "kexec_load": (0, 0, 0, 0),
    "init_module": (0, 0, 0),
    "finit_module": (0, 0, 0),
    "delete_module": (0, 0),
    "add_key": (0, 0, 0, 0, 0),
    "request_key": (0, 0, 0, 0),
    "keyctl": (0, 0),
    "open_by_handle_at": (-100, 0, 0),
    "name_to_handle_at": (-100, 0, 0, 0, 0),
    "mount": (0, 0, 0, 0, 0),
    "umount2": (0, 0),
    "pivot_root": (0, 0),
    "setns": (0, 0),
    "unshare": (CLONE_NEWUSER,),
    "clone": (CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
    "chroot": (0,),
    "reboot": (0, 0, 0, 0),  # bad magic: EINVAL even if it reached a kernel
    "swapon": (0, 0),
    "syslog": (SYSLOG_ACTION_SIZE_BUFFER, 0, 0),
    "seccomp": (SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0),
}

# refusals made by a handler (the argument rule trapped them) log their own message
HANDLER_LOG = {
    "clone": "refused clone with namespace flags",
    "seccomp": "refused seccomp filter with a notification listener",
}


def expected_errno(name: str) -> int:
    entry = TABLE[SYSCALL_NUMBERS[name]]
    if entry.support is Support.ERROR and entry.handler is None:
        assert entry.errno, name
        return entry.errno
    # trapped by an argument rule; the handler refuses (sys_refused.clone / .seccomp)
    assert name in HANDLER_LOG, f"{name}: table entry {entry} is not a refusal"
    return errno.EPERM


def expected_log(name: str) -> str:
    return HANDLER_LOG.get(name, f"refused syscall {name}")


def errno_of(line: str) -> int | None:
    e = parse_err(line)
    return e[1] if e else None


def out_of(p, log: Path | None = None) -> str:
    text = f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    if log is not None and log.exists():
        text += f"\nlog:\n{log.read_text()}"
    return text


def syscall_cmd(name_or_nr, args=()) -> str:
    nr = SYSCALL_NUMBERS[name_or_nr] if isinstance(name_or_nr, str) else name_or_nr
    return "rsphelper syscall " + " ".join(str(a) for a in (nr, *args))


def run_logged(rt, bundle, tmp_path, script: str):
    log = tmp_path / f"runsc-{uuid.uuid4().hex[:8]}.log"
    b = bundle(["/bin/sh", "-c", script])
    p = rt.run("--log", log, "run", "--bundle", b, "ref-" + uuid.uuid4().hex[:10], timeout=120)
    return p, log


def test_table_lists_every_refusal():
    """The errnos asserted below come from the table; each is ENOSYS or EPERM-class."""
    for name in REFUSED:
        err = expected_errno(name)
        assert err in (errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP), (name, err)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_table_errno_and_logged(rt, bundle, tmp_path, name):
    err = expected_errno(name)
    script = (f"{syscall_cmd(name, REFUSED[name])}; "
              f"{syscall_cmd('getpid')}; rsphelper cat /etc/hostname; echo end")
    p, log = run_logged(rt, bundle, tmp_path, script)
    lines = p.stdout.splitlines()
    assert p.returncode == 0, out_of(p, log)
    assert len(lines) == 4, out_of(p, log)
    assert errno_of(lines[0]) == err, out_of(p, log)
    # the next syscall of the same container works
    assert int(parse_kv(lines[1])["ret"]) > 1, out_of(p, log)
    assert lines[2] == "runsc-py" and lines[3] == "end", out_of(p, log)
    assert log.exists(), out_of(p)
    assert expected_log(name) in log.read_text(), out_of(p, log)


def test_all_refusals_in_one_container(rt, bundle, tmp_path):
    """One container makes every refused call in turn (twice) and keeps serving."""
    parts = []
    for name in sorted(REFUSED):
        parts += [syscall_cmd(name, REFUSED[name]), syscall_cmd("getpid")]
    script = "; ".join(parts * 2) + "; rsphelper stat /etc/hostname; echo end"
    p, log = run_logged(rt, bundle, tmp_path, script)
    assert p.returncode == 0, out_of(p, log)
    lines = p.stdout.splitlines()
    n = len(REFUSED)
    assert len(lines) == 4 * n + 2, out_of(p, log)
    names = sorted(REFUSED) * 2
    for i, name in enumerate(names):
        err = expected_errno(name)
        assert errno_of(lines[2 * i]) == err, (name, out_of(p, log))
        assert lines[2 * i + 1].startswith("ret="), (name, out_of(p, log))
    assert parse_kv(lines[-2])["type"] == "reg", out_of(p, log)
    assert lines[-1] == "end"
    text = log.read_text()
    for name in REFUSED:
        assert expected_log(name) in text, (name, text)


def test_refusals_as_unprivileged_user(rt, bundle, tmp_path):
    """The same errnos for a non-root workload (nothing depends on capabilities)."""
    parts = [syscall_cmd(name, REFUSED[name]) for name in sorted(REFUSED)]
    log = tmp_path / "nobody.log"
    b = bundle(["/bin/sh", "-c", "; ".join(parts) + "; echo end"], user=65534)
    p = rt.run("--log", log, "run", "--bundle", b, "ref-" + uuid.uuid4().hex[:10], timeout=120)
    lines = p.stdout.splitlines()
    assert lines[-1:] == ["end"] and len(lines) == len(REFUSED) + 1, out_of(p, log)
    for name, line in zip(sorted(REFUSED), lines):
        err = expected_errno(name)
        assert errno_of(line) == err, (name, out_of(p, log))


def test_clone_without_namespace_flags_still_works(rt, bundle, tmp_path):
    """The clone rule refuses only namespace flags: a plain fork still works after."""
    script = (f"{syscall_cmd('clone', REFUSED['clone'])}; "
              "sh -c 'echo child'; echo end")
    p, log = run_logged(rt, bundle, tmp_path, script)
    assert p.stdout.splitlines() == ["ERR EPERM 1", "child", "end"], out_of(p, log)


def test_other_namespace_clone_flags_refused(rt, bundle, tmp_path):
    flags = {"NEWNS": 0x00020000, "NEWUTS": 0x04000000, "NEWIPC": 0x08000000,
             "NEWPID": 0x20000000, "NEWNET": 0x40000000, "NEWCGROUP": 0x02000000}
    parts = []
    for f in flags.values():
        parts.append(syscall_cmd("clone", (f | SIGCHLD, 0, 0, 0, 0)))
        parts.append(syscall_cmd("unshare", (f,)))
    p, log = run_logged(rt, bundle, tmp_path, "; ".join(parts) + "; echo end")
    assert p.stdout.splitlines() == ["ERR EPERM 1"] * (2 * len(flags)) + ["end"], out_of(p, log)


def test_seccomp_filter_without_listener_is_not_a_listener(rt, bundle, tmp_path):
    """seccomp(SET_MODE_FILTER, 0, NULL) is let through to the kernel, which faults on the
    NULL program: the workload can stack plain filters but never a listener."""
    script = (f"{syscall_cmd('seccomp', (SECCOMP_SET_MODE_FILTER, 0, 0))}; "
              f"{syscall_cmd('seccomp', (SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | 1, 0))}; "
              "echo end")
    p, log = run_logged(rt, bundle, tmp_path, script)
    lines = p.stdout.splitlines()
    assert parse_err(lines[0]) == ("EFAULT", errno.EFAULT), out_of(p, log)
    assert parse_err(lines[1]) == ("EPERM", errno.EPERM), out_of(p, log)
    assert lines[2] == "end", out_of(p, log)


@pytest.mark.parametrize("nr", [999, 460, 463, 1000, 0x40000000 - 1])
def test_unknown_syscall_is_enosys_and_logged(rt, bundle, tmp_path, nr):
    script = f"{syscall_cmd(nr)}; {syscall_cmd(nr, (1, 2, 3))}; {syscall_cmd('getpid')}; echo end"
    p, log = run_logged(rt, bundle, tmp_path, script)
    lines = p.stdout.splitlines()
    assert p.returncode == 0, out_of(p, log)
    assert lines[:2] == ["ERR ENOSYS 38"] * 2, out_of(p, log)
    assert lines[2].startswith("ret=") and lines[3] == "end", out_of(p, log)
    assert "unsupported syscall" in log.read_text(), out_of(p, log)


def test_x32_syscall_numbers_are_killed_not_served(rt, bundle, tmp_path):
    """The x32 ABI bit (0x40000000) is killed by the filter: the caller dies with
    SIGSYS, the container's shell reports it and carries on."""
    script = f"{syscall_cmd(0x40000000 | 39)}; echo rc=$?; {syscall_cmd('getpid')}"
    p, log = run_logged(rt, bundle, tmp_path, script)
    lines = p.stdout.splitlines()
    assert lines[0] == f"rc={128 + 31}", out_of(p, log)  # SIGSYS
    assert lines[1].startswith("ret="), out_of(p, log)
