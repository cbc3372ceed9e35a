"""What both platforms must do alike, with the ptrace platform's own mechanisms in view
(issue 6): every task traced by the sentry, signals and job control as on Linux,
threads and execve from a threaded process, fds installed without ADDFD."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

from _lc_util import create, wait_until

HELPER = "/bin/rsphelper"


def _run(rt, bundle, args, timeout=60):
    p = rt.run("run", "--bundle", bundle(args), "c1", timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def _status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def test_every_task_is_traced_by_the_sentry_on_ptrace(rt, bundle, tmp_path):
    """On ptrace the sentry is the tracer of the init, its children and its threads;
    on seccomp nothing traces the workload. Both keep the filter on (Seccomp: 2)."""
    b = bundle(["/bin/sh", "-c", f"{HELPER} pause-forever & {HELPER} pause-forever & wait"])
    rc, _out, err = create(rt, b, "c1", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "c1", check=True)
    sentry = rt.state("c1")["pid"]
    wait_until(lambda: len(json.loads(rt.run("ps", "--format", "json", "c1",
                                             check=True).stdout)) >= 3, timeout=10)
    pids = json.loads(rt.run("ps", "--format", "json", "c1", check=True).stdout)
    tids = [int(t) for p in pids for t in os.listdir(f"/proc/{p}/task")]
    assert len(tids) >= 3
    for tid in tids:
        assert _status_field(tid, "Seccomp") == "2"
        tracer = int(_status_field(tid, "TracerPid"))
        assert tracer == (sentry if rt.platform == "ptrace" else 0), (tid, tracer, sentry)


def test_fds_reach_the_task_at_the_lowest_number_with_signals_arriving(rt, bundle):
    """Every open returns fd 3 with the asked-for close-on-exec flag while another
    process floods the opener with SIGUSR1 (whose handler runs)."""
    rc, out, err = _run(rt, bundle, [HELPER, "open-signals", "/etc/passwd", "1500"])
    assert (rc, out.strip()) == (0, "opens=1500 bad=0 signals=yes"), err


def test_fd_install_with_nothing_mapped_below_the_stack_pointer(rt, bundle):
    """A trapped open made with rsp 64 bytes above an unmapped page still gets its fd
    (ptrace: the injected calls' scratch comes from a mapping of their own)."""
    rc, out, err = _run(rt, bundle, [HELPER, "open-lowstack", "/etc/passwd"])
    assert rc == 0, out + err
    assert out.strip() == "fd=3 first=root:x:0:0:root:/root:/bin/sh"


def test_threads_open_files_concurrently(rt, bundle):
    rc, out, err = _run(rt, bundle, [HELPER, "threads-files", "6", "/etc/passwd", "300"])
    assert (rc, out.strip()) == (0, "opens=1800 bad=0"), err


def test_every_thread_gets_served_while_all_of_them_trap(rt, bundle):
    """40 threads open files in a loop; every one must get through a round (a sentry
    that serves the same few first starves the rest: test_threading hung so)."""
    rc, out, err = _run(rt, bundle, [HELPER, "threads-fair", "40"], timeout=60)
    assert (rc, out) == (0, "all 40 ran\n"), err


def test_execve_from_a_non_leader_thread_while_threads_trap(rt, bundle):
    rc, out, err = _run(rt, bundle, [HELPER, "threads-exec", "3", "/bin/echo", "exec'd"])
    assert (rc, out) == (0, "exec'd\n"), err


def test_job_control_and_sigchld_as_on_linux(rt, bundle):
    """A stopped child is reported stopped and does not run, SIGCONT is reported and it
    runs again, SIGTERM kills it, and SIGCHLD's siginfo names an exited child."""
    rc, out, err = _run(rt, bundle, [HELPER, "job-control"])
    assert rc == 0, out + err
    fields = dict(kv.split("=") for kv in out.split())
    assert fields["stopped_ran"] == "0", out
    assert int(fields["resumed_ran"]) > 0, out
    assert (fields["sigchld_pid_ok"], fields["code"], fields["status"]) == ("1", "1", "5"), out


def test_shell_job_control_and_exit_codes(rt, bundle):
    script = (
        "sleep 30 & p=$!; kill -STOP $p; sleep 0.2; kill -CONT $p; kill -TERM $p; "
        "wait $p; echo term=$?; "
        "trap 'echo usr1' USR1; kill -USR1 $$; "
        "(exit 7); echo sub=$?; "
        "sh -c 'kill -KILL $$'; echo killed=$?"
    )
    rc, out, err = _run(rt, bundle, ["/bin/sh", "-c", script])
    assert rc == 0, err
    assert out.split() == ["term=143", "usr1", "sub=7", "killed=137"], out


def test_kill_stop_and_cont_from_the_host(rt, bundle, tmp_path):
    """`runsc-py kill c1 STOP` stops the workload (a group stop, kept while traced)
    and CONT resumes it; it then runs to its end."""
    b = bundle(["/bin/sh", "-c", "i=0; while [ $i -lt 30 ]; do i=$((i+1)); sleep 0.1; done; "
                                 "exit 4"])
    rc, _out, err = create(rt, b, "c1", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "c1", check=True)
    init = json.loads(rt.run("ps", "--format", "json", "c1", check=True).stdout)[0]
    rt.run("kill", "c1", "STOP", check=True)
    wait_until(lambda: _status_field(init, "State")[0] in "Tt", timeout=10)
    time.sleep(0.3)
    assert _status_field(init, "State")[0] in "Tt"
    rt.run("kill", "c1", "CONT", check=True)
    wait_until(lambda: _status_field(init, "State")[0] not in "Tt", timeout=10)
    wait_until(lambda: rt.state("c1")["status"] == "stopped", timeout=30)


def test_unknown_platform_is_a_one_line_error(runtime_root):
    p = subprocess.run([sys.executable, "-m", "runsc_py", "--root", str(runtime_root), "--platform", "bogus",
                        "list"], capture_output=True, text=True)
    assert p.returncode != 0
    assert re.search(r"invalid choice: 'bogus'", p.stderr), p.stderr


def _allowed_cpus(pid: int) -> str:
    return _status_field(pid, "Cpus_allowed_list")


def test_sentry_and_gofer_share_one_cpu_and_the_workload_keeps_all(rt, bundle, tmp_path):
    """By default the sentry and the gofer (which work in lockstep) are kept on one CPU;
    the workload is not pinned. --no-pin-sentry leaves them all to the scheduler."""
    everything = _allowed_cpus(os.getpid())
    for pin in (True, False):
        cid = "pinned" if pin else "free"
        runtime = rt if pin else type(rt)(rt.root, rt.platform)
        if not pin:
            runtime.base = [*rt.base, "--no-pin-sentry"]
        rc, _out, err = create(runtime, bundle([HELPER, "pause-forever"]), cid, tmp_path)
        assert rc == 0, err.read_text()
        sentry = rt.state(cid)["pid"]
        with open(f"/proc/{sentry}/task/{sentry}/children") as f:
            children = [int(k) for k in f.read().split()]
        gofer = next(k for k in children if _status_field(k, "Name") == "runsc-py-gofer")
        init = json.loads(rt.run("ps", "--format", "json", cid, check=True).stdout)[0]
        if pin:
            assert _allowed_cpus(sentry) == _allowed_cpus(gofer)
            assert _allowed_cpus(sentry).isdigit(), _allowed_cpus(sentry)  # one CPU
        else:
            assert _allowed_cpus(sentry) == _allowed_cpus(gofer) == everything
        assert _allowed_cpus(init) == everything
        rt.run("delete", "--force", cid, check=True)
