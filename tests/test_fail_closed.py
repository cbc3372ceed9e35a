"""Visible and fail-closed (issue 2, point 5): role/id on the command line, killing the
sentry or the gofer kills the workload at once, seccomp filter on, no runtime fds."""
from __future__ import annotations

import json
import os
import signal

import pytest

from _lc_util import alive, children_of, cmdline, create, try_state, wait_status, wait_until

HELPER = "/bin/rsphelper"


def _start_long(rt, bundle, tmp_path, cid, args=None):
    b = bundle(args or [HELPER, "pause-forever"])
    rc, out, err = create(rt, b, cid, tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", cid, check=True)
    st = rt.state(cid)
    assert st["status"] == "running", st
    return st


def _topology(rt, cid):
    """(sentry pid, gofer pid, workload init host pid)."""
    st = rt.state(cid)
    sentry = st["pid"]
    kids = children_of(sentry)
    gofers = [k for k in kids if " ".join(cmdline(k) or []) == f"runsc-py-gofer {cid}"]
    assert len(gofers) == 1, f"no gofer among sentry {sentry} children: " + \
        str({k: cmdline(k) for k in kids})
    gofer = gofers[0]
    ps = json.loads(rt.run("ps", "--format", "json", cid, check=True).stdout)
    others = [k for k in kids if k != gofer]
    # the init: a child of the sentry, other than the gofer, that `ps` lists
    inits = [k for k in others if k in ps] or others
    assert inits, f"no workload process among sentry children {kids}; ps={ps}"
    return sentry, gofer, inits[0]


def test_cmdlines_show_role_and_id(rt, bundle, tmp_path):
    _start_long(rt, bundle, tmp_path, "fc-cmd")
    sentry, gofer, init = _topology(rt, "fc-cmd")
    assert cmdline(sentry) is not None
    assert " ".join(cmdline(sentry)) == "runsc-py-sentry fc-cmd", cmdline(sentry)
    assert " ".join(cmdline(gofer)) == "runsc-py-gofer fc-cmd", cmdline(gofer)
    # and what `ps` prints
    import subprocess
    out = subprocess.run(["ps", "-o", "args=", "-p", f"{sentry},{gofer}"],
                         capture_output=True, text=True).stdout.split("\n")
    assert "runsc-py-sentry fc-cmd" in [l.strip() for l in out], out
    assert "runsc-py-gofer fc-cmd" in [l.strip() for l in out], out


def test_kill_gofer_kills_workload(rt, bundle, tmp_path):
    _start_long(rt, bundle, tmp_path, "fc-gofer")
    sentry, gofer, init = _topology(rt, "fc-gofer")
    assert alive(init)
    os.kill(gofer, signal.SIGKILL)
    assert wait_until(lambda: not alive(init), 2.0), \
        f"workload {init} still alive 2 s after the gofer was SIGKILLed"
    st = wait_status(rt, "fc-gofer", "stopped", 5)
    assert st is not None and st["status"] == "stopped", st


def test_kill_sentry_kills_workload(rt, bundle, tmp_path):
    _start_long(rt, bundle, tmp_path, "fc-sentry")
    sentry, gofer, init = _topology(rt, "fc-sentry")
    assert alive(init)
    os.kill(sentry, signal.SIGKILL)
    assert wait_until(lambda: not alive(init), 2.0), \
        f"workload {init} still alive 2 s after the sentry was SIGKILLed"
    assert wait_until(lambda: not alive(gofer), 5.0), "gofer outlived the sentry"
    st = wait_status(rt, "fc-sentry", "stopped", 5)
    assert st is not None and st["status"] == "stopped", st


def test_workload_seccomp_mode_2(rt, bundle, tmp_path):
    _start_long(rt, bundle, tmp_path, "fc-seccomp")
    _, _, init = _topology(rt, "fc-seccomp")
    status = open(f"/proc/{init}/status").read()
    assert "Seccomp:\t2" in status.splitlines(), \
        [l for l in status.splitlines() if l.startswith("Seccomp")]


def test_init_host_fds_only_stdio(rt, bundle, tmp_path):
    _start_long(rt, bundle, tmp_path, "fc-fds", args=["/bin/sleep", "1000"])
    _, _, init = _topology(rt, "fc-fds")
    fds = sorted(int(x) for x in os.listdir(f"/proc/{init}/fd"))
    targets = {fd: os.readlink(f"/proc/{init}/fd/{fd}") for fd in fds}
    assert fds == [0, 1, 2], targets


def test_helper_fds_only_stdio(rt, bundle):
    b = bundle([HELPER, "fds"])
    p = rt.run("run", "--bundle", b, "fc-fds-run")
    assert p.returncode == 0, (p.stdout, p.stderr)
    fds = sorted(int(l.split()[0]) for l in p.stdout.splitlines() if "->" in l)
    assert fds == [0, 1, 2], p.stdout
