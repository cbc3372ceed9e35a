"""`exec`: a new process in a running sandbox, under the same sentry and gofer."""
from __future__ import annotations

import json
import os
import subprocess
import time

from helpers import ConsoleSocket, read_until


def _running(rt, bundle, cid: str, tmp_path):
    b = bundle(["sh", "-c", "echo ready > /tmp/ready; while true; do sleep 0.1; done"],
               readonly=False)
    log = open(tmp_path / f"{cid}.out", "w")
    r = subprocess.run(rt.cmd("create", "--bundle", str(b), cid), stdout=log, stderr=log,
                       timeout=60)
    assert r.returncode == 0
    assert rt.run("start", cid).returncode == 0
    deadline = time.monotonic() + 10
    while not (b / "rootfs/tmp/ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return b


def test_exec_runs_inside_the_sandbox_and_returns_its_exit_code(rt, bundle, tmp_path):
    b = _running(rt, bundle, "x1", tmp_path)
    r = rt.run("exec", "x1", "sh", "-c",
               "cat /tmp/ready; grep -E '^Seccomp:' /proc/self/status; "
               "rsphelper uname | grep release; echo made > /tmp/by-exec; exit 7")
    assert r.returncode == 7, r.stderr
    assert "ready" in r.stdout and "Seccomp:\t2" in r.stdout
    assert f"release={os.uname().release}" not in r.stdout
    assert (b / "rootfs/tmp/by-exec").read_text() == "made\n"  # the same container tree
    pids = json.loads(rt.run("ps", "--format", "json", "x1").stdout)
    assert len(pids) >= 1


def test_exec_stdin_and_process_file(rt, bundle, tmp_path):
    _running(rt, bundle, "x2", tmp_path)
    r = rt.run("exec", "x2", "cat", input="piped\n")
    assert r.returncode == 0 and r.stdout == "piped\n"
    proc = {"args": ["rsphelper", "id"], "cwd": "/tmp", "env": ["PATH=/bin"],
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [7]}}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    r = rt.run("exec", "--process", str(tmp_path / "p.json"), "x2")
    assert r.returncode == 0, r.stderr
    assert "uid=1000 gid=1000" in r.stdout and "groups=7" in r.stdout


def test_exec_detach_gives_a_waitable_proxy_pid(rt, bundle, tmp_path):
    """The shim reaps the pid in --pid-file as a subreaper: it must be a descendant of
    the caller and exit with the process's code."""
    import ctypes

    _running(rt, bundle, "x3", tmp_path)
    pid_file = tmp_path / "exec.pid"
    child = os.fork()
    if child == 0:  # a subreaper parent, like containerd's shim
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
        r = subprocess.run(rt.cmd("exec", "--detach", "--pid-file", str(pid_file), "x3",
                                  "sh", "-c", "sleep 0.3; exit 9"),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            os._exit(100)
        _, status = os.waitpid(int(pid_file.read_text()), 0)
        os._exit(os.waitstatus_to_exitcode(status))
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 9


def test_exec_errors_are_one_line(rt, bundle, tmp_path, runtime_root):
    _running(rt, bundle, "x4", tmp_path)
    r = rt.run("exec", "x4", "no-such-program")
    assert r.returncode != 0, r.stdout
    assert r.stderr.strip().count("\n") == 0 and "not found" in r.stderr, r.stderr
    r = rt.run("exec", "missing-id", "true")
    assert r.returncode != 0 and "does not exist" in r.stderr, r.stderr
    r = rt.run("exec", "x4", "true")
    assert r.returncode == 0, r.stderr  # the sandbox still serves


def test_exec_signals_are_forwarded(rt, bundle, tmp_path):
    _running(rt, bundle, "x5", tmp_path)
    p = rt.popen("exec", "x5", "rsphelper", "spin-signal")
    try:
        assert p.stdout.readline().strip() == "ready"
        p.send_signal(15)
        out, _ = p.communicate(timeout=20)
        assert "got SIGTERM" in out and p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_exec_tty_sends_its_pty_master_to_the_console_socket(rt, bundle, tmp_path):
    """As conmon and containerd's shim call it: exec --detach --tty --console-socket."""
    _running(rt, bundle, "x6", tmp_path)
    console = ConsoleSocket(tmp_path / "console.sock")
    r = rt.run("exec", "--detach", "--tty", "--console-socket", console.path, "x6",
               "sh", "-c", "tty; read line; echo got:$line")
    assert r.returncode == 0, r.stderr
    master = console.receive_master()
    try:
        os.write(master, b"hi\n")
        out = read_until(master, b"got:hi")
        assert b"/dev/pts/" in out and b"got:hi" in out
    finally:
        os.close(master)
    assert rt.run("exec", "x6", "true").returncode == 0  # the sandbox is still serving
