"""Issue 12, items 2 and 4: opening a task's fd anew through /proc/self/fd/N.

Item 2: the open is checked against the file with the caller's credentials, as Linux's
may_open does, never with the sentry's: a uid-1000 user holding an O_PATH fd of root's
0600 file cannot read or write it through the link, once the file is renamed or
unlinked (a link the sentry cannot resolve as a tree path) no more than before.

Item 4: a blocking open of a FIFO through the link waits for its peer without the
sentry waiting: every other task goes on, the waiting task can be killed, and the
open completes when the peer comes, as under runc."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

AS_USER = "/bin/rsphelper as-user 1000 1000 /bin/rsphelper"
# runc's default capabilities, and the set-id ones to become uid 1000
CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"]


def _home(root):
    """/home/u: uid 1000's directory, holding root's 0600 files."""
    home = root / "home/u"
    home.mkdir(parents=True)
    os.chown(home, 1000, 1000)
    for name in ("gone", "moved", "kept"):
        (home / name).write_text("root only\n")
        os.chmod(home / name, 0o600)


def _run(rt, bundle, script, prepare=None, timeout=90):
    b = bundle(["/bin/sh", "-c", script], readonly=False, capabilities=CAPS)
    if prepare is not None:
        prepare(b / "rootfs")
    p = rt.run("run", "--bundle", b, "ro-" + uuid.uuid4().hex[:10], timeout=timeout)
    return p, b / "rootfs"


def _runc(bundle_dir, tmp_path, name, timeout=90):
    return subprocess.run(["runc", "--root", str(tmp_path / "runc"), "run", "--bundle",
                           str(bundle_dir), name], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("mode", ["r", "w", "rw"])
def test_reopening_a_file_through_its_fd_link_is_checked_as_the_caller(rt, bundle, mode):
    p, rootfs = _run(rt, bundle, "; ".join([
        f"{AS_USER} reopen /home/u/gone {mode} unlink",
        f"{AS_USER} reopen /home/u/moved {mode} /home/u/elsewhere",
        f"{AS_USER} reopen /home/u/kept {mode}",
        f"/bin/rsphelper reopen /home/u/kept {mode}",  # root, as the positive control
    ]), prepare=_home)
    lines = [line for line in p.stdout.splitlines() if line]
    assert p.returncode == 0 and len(lines) == 4, f"rc={p.returncode}\n{p.stdout}\n{p.stderr}"
    assert lines[:3] == ["ERR EACCES 13"] * 3, lines
    assert lines[3] == ("read root only" if mode == "r" else "wrote"), lines  # its own
    assert (rootfs / "home/u/elsewhere").read_text() == "root only\n"
    expected = "root only\n" if mode == "r" else "pwned\n"
    assert (rootfs / "home/u/kept").read_text().startswith(expected)


def test_a_deleted_fifo_reopened_through_its_fd_link_waits_for_its_peer(rt, bundle,
                                                                         tmp_path):
    script = "cd /tmp && /bin/rsphelper fifo-reopen /tmp/fifo"
    p, _ = _run(rt, bundle, script)
    assert p.returncode == 0, f"rc={p.returncode}\n{p.stdout}\n{p.stderr}"
    runc = _runc(bundle(["/bin/sh", "-c", script], readonly=False), tmp_path, "fifo-runc")
    assert runc.stdout == "waiting\nread hello writer 0\n", runc.stdout + runc.stderr
    assert p.stdout == runc.stdout


def test_a_fifo_open_that_waits_for_good_stops_nothing_else(rt, bundle):
    # the reader waits for a writer that never comes; meanwhile the other processes
    # make trapped calls (stat, the shell's own), see it in ps, and kill it
    p, _ = _run(rt, bundle, "; ".join([
        "/bin/rsphelper fifo-reopen /tmp/fifo stuck & sleep 1",
        "/bin/rsphelper stat / | grep -o type=dir",
        "ps -o stat,args | grep -c 'fifo-reopen /tmp/fifo stuck$'",
        "kill $!; wait $!; echo killed $?",
    ]), timeout=60)
    assert p.returncode == 0, f"rc={p.returncode}\n{p.stdout}\n{p.stderr}"
    assert p.stdout.splitlines() == ["waiting", "type=dir", "1", "killed 143"], p.stdout
