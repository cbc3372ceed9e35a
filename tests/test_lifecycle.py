"""Lifecycle and state of real containers: run, create/start/state, kill, delete, list, ps,
logging and --version (issue 2, point 1)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from _lc_util import (alive, check_one_line_error, children_of, create, ppid_of, try_state,
                      wait_status, wait_until)

HELPER = "/bin/rsphelper"


# --------------------------------------------------------------------- run

@pytest.mark.parametrize("code", [0, 3, 42])
def test_run_exit_code_and_stdio(rt, bundle, code):
    b = bundle(["/bin/sh", "-c", f"echo out-line; echo err-line >&2; exit {code}"])
    p = rt.run("run", "--bundle", b, f"run-exit-{code}", timeout=60)
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "out-line" in p.stdout.splitlines(), p.stdout
    assert "err-line" in p.stderr.splitlines(), p.stderr
    assert "out-line" not in p.stderr and "err-line" not in p.stdout


def test_run_killed_by_sigkill_exits_137(rt, bundle):
    """`run` exits 128+N when the container's init is killed by signal N.

    Note: the init is pid 1 of its own pid namespace, so a signal it sends to itself
    without a handler (`rsphelper kill-self 9`) is ignored by Linux (as with runc
    and runsc); SIGKILL from outside (`kill ID KILL`) is forcibly delivered."""
    b = bundle([HELPER, "pause-forever"])
    proc = rt.popen("run", "--bundle", b, "run-sig-9", stdin=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: (try_state(rt, "run-sig-9") or {}).get("status") == "running",
                          20), "container never reached running"
        rt.run("kill", "run-sig-9", "KILL", check=True)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 137, (proc.returncode, out, err)


@pytest.mark.parametrize("sig,expected", [(9, 137), (15, 143)])
def test_run_child_killed_by_signal_status(rt, bundle, sig, expected):
    """A (non-init) process killed by signal N shows status 128+N to its shell."""
    b = bundle(["/bin/sh", "-c", f"{HELPER} kill-self {sig}; echo status=$?"])
    p = rt.run("run", "--bundle", b, f"run-child-sig-{sig}", timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert f"status={expected}" in p.stdout, (p.stdout, p.stderr)


def test_run_removes_container_afterwards(rt, bundle):
    b = bundle([HELPER, "true"])
    p = rt.run("run", "--bundle", b, "run-gone")
    assert p.returncode == 0, p.stderr
    lst = rt.run("list", "--format", "json", check=True)
    ids = [c["id"] for c in (json.loads(lst.stdout) or [])]
    assert "run-gone" not in ids


# --------------------------------------------------------------------- create/start/state

def test_create_state_start_stopped(rt, bundle, tmp_path):
    b = bundle([HELPER, "sleep", "1.5"], annotations={"org.example.k": "v1"})
    pidfile = tmp_path / "pid"
    rc, out, err = create(rt, b, "lc1", tmp_path, "--pid-file", pidfile)
    assert rc == 0, err.read_text()

    st = rt.state("lc1")
    assert st["status"] == "created", st
    assert st["id"] == "lc1"
    assert isinstance(st.get("ociVersion"), str) and st["ociVersion"].startswith("1.")
    assert os.path.realpath(st["bundle"]) == os.path.realpath(b)
    assert os.path.realpath(st["rootfs"]) == os.path.realpath(b / "rootfs")
    assert isinstance(st.get("created"), str) and st["created"]
    assert st.get("annotations", {}).get("org.example.k") == "v1", st.get("annotations")
    pid = st["pid"]
    assert isinstance(pid, int) and pid > 0
    assert alive(pid), f"state pid {pid} is not a live process"
    assert pidfile.read_text().strip() == str(pid)

    rt.run("start", "lc1", check=True)
    st = rt.state("lc1")
    assert st["status"] == "running", st

    st = wait_status(rt, "lc1", "stopped", timeout=15)
    assert st and st["status"] == "stopped", st
    rt.run("delete", "lc1", check=True)
    assert try_state(rt, "lc1") is None


SUBREAPER_SCRIPT = textwrap.dedent(r"""
    import ctypes, json, os, subprocess, sys
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0          # PR_SET_CHILD_SUBREAPER
    base = json.loads(sys.argv[1]); bundle = sys.argv[2]; pidfile = sys.argv[3]
    with open(os.devnull, "wb") as dn:
        rc = subprocess.run(base + ["create", "--bundle", bundle, "--pid-file", pidfile, "reap1"],
                            stdin=subprocess.DEVNULL, stdout=dn, stderr=None).returncode
    if rc != 0:
        print(json.dumps({"error": f"create rc={rc}"})); sys.exit(0)
    pid = int(open(pidfile).read().strip())
    # ancestry: is pid a descendant of us?
    anc, p = [], pid
    while p and p > 1:
        s = open(f"/proc/{p}/stat").read()
        p = int(s[s.rindex(")") + 2:].split()[1]); anc.append(p)
    rc = subprocess.run(base + ["start", "reap1"]).returncode
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"pid": pid, "me": os.getpid(), "ancestors": anc, "start_rc": rc,
                      "exited": os.WIFEXITED(status),
                      "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                      "raw": status}))
""")


def test_create_pid_waitable_by_subreaper(rt, bundle, tmp_path):
    """containerd's shim: subreaper, create, then waitpid(state pid) -> container exit status."""
    b = bundle([HELPER, "exit", "5"])
    script = tmp_path / "reaper.py"
    script.write_text(SUBREAPER_SCRIPT)
    p = subprocess.run([sys.executable, str(script), json.dumps(rt.base), str(b),
                        str(tmp_path / "pid")], capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert "error" not in res, (res, p.stderr)
    assert res["me"] in res["ancestors"], f"pid {res['pid']} not a descendant of caller: {res}"
    assert res["start_rc"] == 0
    assert res["exited"] and res["code"] == 5, res


def test_start_twice_fails(rt, bundle, tmp_path):
    b = bundle([HELPER, "pause-forever"])
    rc, _, err = create(rt, b, "st2", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "st2", check=True)
    p = rt.run("start", "st2")
    check_one_line_error(p)
    assert rt.state("st2")["status"] == "running"


def test_start_stopped_fails(rt, bundle, tmp_path):
    b = bundle([HELPER, "true"])
    rc, _, err = create(rt, b, "st3", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "st3", check=True)
    assert wait_status(rt, "st3", "stopped", 15)["status"] == "stopped"
    p = rt.run("start", "st3")
    check_one_line_error(p)
    assert rt.state("st3")["status"] == "stopped"


# --------------------------------------------------------------------- kill

def test_kill_default_term_reaches_init(rt, bundle, tmp_path):
    b = bundle([HELPER, "spin-signal"])
    rc, out, err = create(rt, b, "k1", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "k1", check=True)
    assert wait_until(lambda: "ready" in out.read_text(), 10), out.read_text()
    rt.run("kill", "k1", check=True)
    assert wait_until(lambda: "got SIGTERM" in out.read_text(), 10), \
        f"stdout={out.read_text()!r} stderr={err.read_text()!r}"
    assert wait_status(rt, "k1", "stopped", 10)["status"] == "stopped"


@pytest.mark.parametrize("sig", ["KILL", "9", "SIGKILL"])
def test_kill_sigkill_forms(rt, bundle, tmp_path, sig):
    b = bundle([HELPER, "pause-forever"])
    cid = f"k-{sig.lower()}"
    rc, _, err = create(rt, b, cid, tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", cid, check=True)
    assert rt.state(cid)["status"] == "running"
    rt.run("kill", cid, sig, check=True)
    st = wait_status(rt, cid, "stopped", 10)
    assert st and st["status"] == "stopped", st


def test_kill_all(rt, bundle, tmp_path):
    b = bundle(["/bin/sh", "-c", f"{HELPER} pause-forever & {HELPER} pause-forever & wait"])
    rc, _, err = create(rt, b, "kall", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "kall", check=True)

    def enough():
        p = rt.run("ps", "--format", "json", "kall")
        return p.returncode == 0 and len(json.loads(p.stdout)) >= 3
    assert wait_until(enough, 10), rt.run("ps", "--format", "json", "kall").stdout
    pids = json.loads(rt.run("ps", "--format", "json", "kall", check=True).stdout)
    rt.run("kill", "--all", "kall", "KILL", check=True)
    st = wait_status(rt, "kall", "stopped", 10)
    assert st and st["status"] == "stopped", st
    assert wait_until(lambda: not any(alive(p) for p in pids), 5), \
        [p for p in pids if alive(p)]


# --------------------------------------------------------------------- delete

def test_delete_running_refuses(rt, bundle, tmp_path):
    b = bundle([HELPER, "pause-forever"])
    rc, _, err = create(rt, b, "d1", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "d1", check=True)
    p = rt.run("delete", "d1")
    check_one_line_error(p, "d1")
    assert rt.state("d1")["status"] == "running"


def test_delete_force_running(rt, bundle, tmp_path):
    b = bundle([HELPER, "pause-forever"])
    rc, _, err = create(rt, b, "d2", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "d2", check=True)
    st = rt.state("d2")
    wl = json.loads(rt.run("ps", "--format", "json", "d2", check=True).stdout)
    p = rt.run("delete", "--force", "d2")
    assert p.returncode == 0, p.stderr
    assert try_state(rt, "d2") is None
    assert not (rt.root / "d2").exists()
    assert wait_until(lambda: not alive(st["pid"]) and not any(alive(x) for x in wl), 5)


def test_delete_created(rt, bundle, tmp_path):
    b = bundle([HELPER, "true"])
    rc, _, err = create(rt, b, "d3", tmp_path)
    assert rc == 0, err.read_text()
    pid = rt.state("d3")["pid"]
    p = rt.run("delete", "d3")
    assert p.returncode == 0, p.stderr
    assert try_state(rt, "d3") is None
    assert not (rt.root / "d3").exists()
    assert wait_until(lambda: not alive(pid), 5), f"sandbox pid {pid} still alive"


# --------------------------------------------------------------------- list / ps

def test_list_table_and_json(rt, bundle, tmp_path):
    b = bundle([HELPER, "pause-forever"])
    rc, _, err = create(rt, b, "ls1", tmp_path)
    assert rc == 0, err.read_text()
    pid = rt.state("ls1")["pid"]

    t = rt.run("list", check=True).stdout.splitlines()
    assert t and t[0].split()[:3] == ["ID", "PID", "STATUS"], t
    rows = [l.split() for l in t[1:]]
    row = next(r for r in rows if r and r[0] == "ls1")
    assert row[1] == str(pid) and row[2] == "created", row

    j = json.loads(rt.run("list", "--format", "json", check=True).stdout)
    ent = next(c for c in j if c["id"] == "ls1")
    assert ent["status"] == "created" and ent["pid"] == pid


def test_list_empty_root(rt):
    p = rt.run("list", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout or "null") in (None, [])


def test_ps_json(rt, bundle, tmp_path):
    b = bundle([HELPER, "pause-forever"])
    rc, _, err = create(rt, b, "ps1", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "ps1", check=True)
    pids = json.loads(rt.run("ps", "--format", "json", "ps1", check=True).stdout)
    assert isinstance(pids, list) and pids, pids
    assert all(isinstance(x, int) and alive(x) for x in pids), pids
    sentry = rt.state("ps1")["pid"]
    assert sentry not in pids, "ps must list the workload's processes, not the sentry"


# --------------------------------------------------------------------- log / version

def test_log_json_on_error(rt, tmp_path):
    log = tmp_path / "log.json"
    p = rt.run("--log", log, "--log-format", "json", "state", "no-such-ctr")
    assert p.returncode != 0
    assert "Traceback" not in p.stdout + p.stderr
    assert log.exists(), "log file not written"
    recs = []
    for line in log.read_text().splitlines():
        if line.strip():
            recs.append(json.loads(line))  # every line must be JSON
    errs = [r for r in recs if r.get("level") == "error"]
    assert errs, recs
    assert any("no-such-ctr" in str(r.get("msg", "")) for r in errs), errs


def test_version(rt):
    p = rt.run("--version")
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert any(ch.isdigit() for ch in out), out
    assert "Traceback" not in out
