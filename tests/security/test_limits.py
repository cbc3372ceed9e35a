"""Resource limits (issue 3, item 6): linux.resources pids, memory and cpu enforced
through cgroups, so a fork bomb or a memory hog stays inside its limits.

Unit tests drive runsc_py.cgroups directly on host processes; the end-to-end tests run
real containers and check from the host that the sentry, the gofer and every workload
task are inside the container's cgroup and that the limits hold."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from _lc_util import create, wait_status, wait_until
from helpers import require
from runsc_py import cgroups
from runsc_py.errors import RuntimeFailure

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _root():
    require(root=True)


@pytest.fixture
def cid():
    """A unique id (the cgroup name is global to the host) removed afterwards."""
    name = f"lim-{uuid.uuid4().hex[:10]}"
    yield name
    cgroups.cleanup(name)
    assert cgroups.SandboxCgroup.existing(name) is None


def _held(code: str) -> subprocess.Popen:
    """A python child that waits for a line on stdin (time to be put in the cgroup),
    then runs `code`."""
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()\n" + code],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _go(p: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    return p.communicate("go\n", timeout=timeout)


# ------------------------------------------------------------------ layout

def test_layout_detected_matches_mounts():
    hiers = cgroups.discover()
    assert hiers, "no cgroup hierarchy found"
    kind = cgroups.layout()
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        assert kind == "v2"
    else:
        assert kind in ("v1", "hybrid")
        mine = {h.mount for h in hiers if h.version == 1}
        for ctrl in ("pids", "memory", "cpu"):
            # the controller is served by a mounted v1 hierarchy (cpu maybe as cpu,cpuacct)
            assert any(ctrl in h.controllers for h in hiers), (ctrl, hiers)
        assert all(os.path.isdir(m) for m in mine)


def test_shares_to_weight():
    assert cgroups.shares_to_weight(2) == 1
    assert cgroups.shares_to_weight(1024) == 39
    assert cgroups.shares_to_weight(262144) == 10000


# ------------------------------------------------------------------ unit: limits

def test_create_makes_one_cgroup_per_hierarchy_named_after_the_id(cid):
    cg = cgroups.SandboxCgroup.create(cid, {})
    try:
        assert cg.dirs
        for d in cg.dirs:
            assert os.path.isdir(d.path)
            assert d.path.endswith(f"/runsc-py/{cid}")
        ctrls = set().union(*(d.hier.controllers for d in cg.dirs))
        assert {"pids", "memory", "cpu"} <= ctrls
    finally:
        cg.destroy()
    assert cgroups.SandboxCgroup.existing(cid) is None


def test_pids_limit_stops_a_fork_loop(cid):
    cg = cgroups.SandboxCgroup.create(cid, {"pids": {"limit": 5}})
    p = _held(textwrap.dedent("""
        import os, time
        kids, err = [], None
        for _ in range(30):
            try:
                pid = os.fork()
            except OSError as e:
                err = e.errno
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
        print(len(kids), err, flush=True)
        for k in kids:
            os.kill(k, 9)
            os.waitpid(k, 0)
    """))
    try:
        cg.add(p.pid)
        assert cg.stats()["pids"]["limit"] == 5
        out, err = _go(p)
        forks, code = out.split()
        assert int(forks) == 4, (out, err)        # itself + 4 children = 5
        assert code == str(errno.EAGAIN), (out, err)
    finally:
        p.kill()
        cg.destroy()


def test_memory_limit_stops_a_hog(cid):
    cg = cgroups.SandboxCgroup.create(cid, {"memory": {"limit": 32 * MiB}})
    p = _held(textwrap.dedent("""
        chunks = []
        for i in range(64):                    # 256 MiB in 4 MiB touched chunks
            chunks.append(bytearray(b"x" * (4 << 20)))
        print("survived", flush=True)
    """))
    try:
        cg.add(p.pid)
        out, err = _go(p)
        assert "survived" not in out
        # the OOM killer (SIGKILL) or a failed allocation (MemoryError)
        assert p.returncode == -signal.SIGKILL or "MemoryError" in err, (p.returncode, err)
        st = cg.stats()["memory"]
        assert st["usage"]["limit"] == 32 * MiB
        assert st["usage"]["failcnt"] > 0 or st["oom_kill"] > 0, st
    finally:
        p.kill()
        cg.destroy()


def test_memory_limit_denies_swap(cid):
    cg = cgroups.SandboxCgroup.create(cid, {"memory": {"limit": 32 * MiB}})
    try:
        d = cg._dir("memory")
        if os.path.exists(os.path.join(d, "memory.swap.max")):
            assert open(os.path.join(d, "memory.swap.max")).read().strip() == "0"
        if os.path.exists(os.path.join(d, "memory.memsw.limit_in_bytes")):
            assert int(open(os.path.join(d, "memory.memsw.limit_in_bytes")).read()) == 32 * MiB
    finally:
        cg.destroy()


def test_cpu_quota_throttles(cid):
    cg = cgroups.SandboxCgroup.create(cid, {"cpu": {"quota": 10000, "period": 100000,
                                                    "shares": 512}})
    p = _held("import time\nt = time.monotonic()\nwhile time.monotonic() - t < 1.5: pass\n")
    try:
        cg.add(p.pid)
        _go(p)
        st = cg.stats()["cpu"]
        # 10% of one CPU over 1.5 s: ~0.15 s; never anywhere near the 1.5 s it wanted
        assert 0 < st["usage"]["total"] < 0.5e9, st
        assert st["throttling"]["throttled_periods"] > 0, st
    finally:
        p.kill()
        cg.destroy()


def test_update_changes_limits(cid):
    cg = cgroups.SandboxCgroup.create(cid, {"pids": {"limit": 5},
                                            "memory": {"limit": 32 * MiB}})
    try:
        cg.update({"pids": {"limit": 7}, "memory": {"limit": 64 * MiB}})
        st = cg.stats()
        assert st["pids"]["limit"] == 7
        assert st["memory"]["usage"]["limit"] == 64 * MiB
        cg.update({"memory": {"limit": 16 * MiB}, "pids": {"limit": -1}})
        st = cg.stats()
        assert st["memory"]["usage"]["limit"] == 16 * MiB
        assert st["pids"]["limit"] == -1
    finally:
        cg.destroy()


def test_bad_value_is_a_clear_error_naming_the_limit(cid):
    # the kernel refuses a CFS quota under 1 ms on v1 and v2 alike
    with pytest.raises(RuntimeFailure, match=r"linux\.resources\.cpu\.quota"):
        cgroups.SandboxCgroup.create(cid, {"cpu": {"quota": 500, "period": 100000}})
    # and nothing half-made is left behind
    assert cgroups.SandboxCgroup.existing(cid) is None
    with pytest.raises(RuntimeFailure, match=r"linux\.resources\.pids"):
        cgroups.SandboxCgroup.create(cid, {"pids": {"limit": "lots"}})
    assert cgroups.SandboxCgroup.existing(cid) is None


def test_freeze_and_thaw(cid):
    cg = cgroups.SandboxCgroup.create(cid, {})
    p = _held("while True: pass\n")
    try:
        cg.add(p.pid)
        p.stdin.write("go\n")
        p.stdin.flush()
        time.sleep(0.2)
        cg.freeze()
        u1 = cg.stats()["cpu"]["usage"]["total"]
        time.sleep(0.3)
        assert cg.stats()["cpu"]["usage"]["total"] == u1
        cg.thaw()
        time.sleep(0.3)
        assert cg.stats()["cpu"]["usage"]["total"] > u1
    finally:
        p.kill()
        p.wait()
        cg.destroy()


# ------------------------------------------------------------------ unit: teardown

def test_destroy_kills_everything_and_removes_the_dirs(cid):
    cg = cgroups.SandboxCgroup.create(cid, {"pids": {"limit": 50}})
    # a double-forked grandchild (not our child) and a child that ignores SIGTERM
    p = _held(textwrap.dedent("""
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if os.fork() == 0:
            if os.fork() == 0:
                time.sleep(300)
            os._exit(0)
        print("ready", flush=True)
        time.sleep(300)
    """))
    cg.add(p.pid)
    p.stdin.write("go\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "ready"
    assert wait_until(lambda: len(cg.procs()) == 2, 5), cg.procs()
    members = cg.procs()
    paths = [d.path for d in cg.dirs]
    cg.destroy()
    p.wait(timeout=5)
    assert p.returncode == -signal.SIGKILL
    for pid in members:
        assert wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
                          open(f"/proc/{pid}/stat").read().split(") ")[1][0] in "ZX", 5)
    for path in paths:
        assert not os.path.exists(path), path


def test_destroy_contains_a_fork_bomb(cid):
    cg = cgroups.SandboxCgroup.create(cid, {"pids": {"limit": 30}})
    p = _held(textwrap.dedent("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """))
    try:
        cg.add(p.pid)
        p.stdin.write("go\n")
        p.stdin.flush()
        assert wait_until(lambda: cg.stats()["pids"]["current"] >= 25, 10)
        for _ in range(20):
            assert cg.stats()["pids"]["current"] <= 30
            time.sleep(0.02)
        t = time.monotonic()
        subprocess.run(["true"], check=True, timeout=5)   # the host still forks fine
        assert time.monotonic() - t < 5
    finally:
        cg.destroy()
        p.wait(timeout=5)
    assert cgroups.SandboxCgroup.existing(cid) is None


def test_cleanup_is_idempotent(cid):
    cgroups.cleanup(cid)                      # never made: no error
    cg = cgroups.SandboxCgroup.create(cid, {"pids": {"limit": 3}})
    p = subprocess.Popen(["sleep", "300"])
    cg.add(p.pid)
    cgroups.cleanup(cid)                      # kills what is left, removes the dirs
    p.wait(timeout=5)
    assert cgroups.SandboxCgroup.existing(cid) is None
    cgroups.cleanup(cid)
    cgroups.cleanup(cid)


def test_enter_moves_the_caller_and_its_children(cid):
    """What the sentry does at start: enter() in the process itself; its forks inherit."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            cg = cgroups.enter(cid, {"pids": {"limit": 10}})
            kid = os.fork()
            if kid == 0:
                os.write(w, open("/proc/self/cgroup").read().encode())
                os._exit(0)
            os.waitpid(kid, 0)
            os._exit(0 if cg is not None and os.getpid() in cg.procs() else 3)
        except BaseException:
            os._exit(4)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    lines = [ln for ln in text.splitlines() if ":pids:" in ln or ln.startswith("0::")]
    # the sentry's part of the sandbox's cgroup (the workload has its own, to be frozen)
    assert lines and all(ln.endswith(f"/runsc-py/{cid}/sandbox") for ln in lines), text


def test_enter_without_limits_still_makes_a_cgroup(cid):
    pid = os.fork()
    if pid == 0:
        try:
            cg = cgroups.enter(cid, {})
            os._exit(0 if cg is not None and cg.dirs else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert cgroups.SandboxCgroup.existing(cid) is not None


def test_scope_keeps_two_roots_apart(cid, tmp_path):
    a = cgroups.SandboxCgroup.create(cid, {"pids": {"limit": 5}}, scope=tmp_path / "a")
    b = cgroups.SandboxCgroup.create(cid, {"pids": {"limit": 6}}, scope=tmp_path / "b")
    p = subprocess.Popen(["sleep", "300"])
    try:
        b.add(p.pid)
        assert {d.path for d in a.dirs}.isdisjoint(d.path for d in b.dirs)
        cgroups.cleanup(cid, scope=tmp_path / "a")         # must not touch b's process
        assert p.poll() is None
        assert cgroups.SandboxCgroup.existing(cid, tmp_path / "a") is None
        assert cgroups.SandboxCgroup.existing(cid, tmp_path / "b").stats()["pids"]["limit"] == 6
    finally:
        cgroups.cleanup(cid, scope=tmp_path / "b")
        p.wait(timeout=5)


def test_abandon_after_enter(cid):
    """A sandbox whose setup fails after enter() removes its own cgroup on the way out."""
    pid = os.fork()
    if pid == 0:
        try:
            cg = cgroups.enter(cid, {"pids": {"limit": 10}})
            cg.abandon()
            os._exit(0)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert cgroups.SandboxCgroup.existing(cid) is None


def test_same_id_in_use_is_refused(cid):
    cg = cgroups.SandboxCgroup.create(cid, {})
    p = subprocess.Popen(["sleep", "300"])
    try:
        cg.add(p.pid)
        with pytest.raises(RuntimeFailure, match="in use"):
            cgroups.SandboxCgroup.create(cid, {})
    finally:
        cg.destroy()
        p.wait(timeout=5)


# ------------------------------------------------------------------ end to end
# These need the sandbox to call cgroups.enter(cid, resources, scope=<--root>) at start
# and `delete` to call cgroups.cleanup(cid, scope=<--root>).

def _descendants(pid: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        try:
            data = open(f"/proc/{ent}/stat").read()
        except OSError:
            continue
        ppid = int(data[data.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(ent))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for k in kids.get(p, []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def _limits(**resources) -> dict:
    return {"linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}],
                                    **resources}}}


def test_e2e_sentry_gofer_and_workload_are_all_inside(rt, bundle, tmp_path, cid):
    b = bundle(["/bin/sh", "-c", "sleep 300 & sleep 300"], **_limits(pids={"limit": 40}))
    rc, _, err = create(rt, b, cid, tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", cid, check=True)
    sandbox = rt.state(cid)["pid"]
    cg = cgroups.SandboxCgroup.existing(cid, rt.root)   # the runtime scopes it by --root
    assert cg is not None, "the sandbox made no cgroup"
    # the sentry itself, then everything it forked: gofer, init (sh), the background sleep
    assert wait_until(lambda: len(_descendants(sandbox)) >= 3, 10)
    members = set(cg.procs())
    tree = {sandbox} | _descendants(sandbox)
    assert tree <= members, (tree - members, members)
    assert cg.stats()["pids"]["limit"] == 40
    rt.run("delete", "--force", cid, check=True)
    assert cgroups.SandboxCgroup.existing(cid, rt.root) is None, "delete left the cgroup behind"


def test_e2e_fork_bomb_stays_inside_pids_limit(rt, bundle, tmp_path, cid):
    # busybox sh gives up ("can't fork") once the limit refuses it, so the bomb burns
    # out; the init keeps relaunching it for a few seconds
    bomb = "f(){ f | f & }; i=0; while [ $i -lt 15 ]; do (f; wait) 2>/dev/null; i=$((i+1)); done"
    b = bundle(["/bin/sh", "-c", bomb], **_limits(pids={"limit": 20}))
    rc, _, err = create(rt, b, cid, tmp_path)
    assert rc == 0, err.read_text()
    cg = cgroups.SandboxCgroup.existing(cid, rt.root)   # the runtime scopes it by --root
    assert cg is not None, "the sandbox made no cgroup"
    pids_dir = cg._dir("pids")
    rt.run("start", cid, check=True)
    peak = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and cg.procs():
        st = cg.stats()["pids"]
        tasks = 0
        for p in cg.procs():
            try:
                tasks += len(os.listdir(f"/proc/{p}/task"))
            except OSError:
                pass
        peak = max(peak, st["current"], tasks)
        assert st["current"] <= 20 and tasks <= 20, (st, tasks)
        t = time.monotonic()
        subprocess.run(["true"], check=True, timeout=10)   # the host still forks
        assert time.monotonic() - t < 5, "host unresponsive during the fork bomb"
        time.sleep(0.05)
    # cgroup v1 counts a refused fork where it was tried: the workload part
    refused = 0
    for top, _dirs, _files in os.walk(pids_dir):
        events = dict(line.split() for line in open(os.path.join(top, "pids.events")))
        refused += int(events.get("max", 0))
    assert refused > 0, "the fork bomb never reached the limit"
    if os.path.exists(os.path.join(pids_dir, "pids.peak")):
        assert int(open(os.path.join(pids_dir, "pids.peak")).read()) <= 20
    assert peak <= 20
    subprocess.run(["true"], check=True, timeout=10)
    rt.run("delete", "--force", cid, check=True, timeout=60)
    assert cgroups.SandboxCgroup.existing(cid, rt.root) is None, "delete left the cgroup behind"


def test_e2e_memory_hog_is_stopped_at_its_limit(rt, bundle, tmp_path, cid):
    # the string doubles until it would be 10 GiB; the limit is 64 MiB
    script = "x=0123456789; i=0; while [ $i -lt 30 ]; do x=$x$x; i=$((i+1)); done; echo survived"
    b = bundle(["/bin/sh", "-c", script], **_limits(memory={"limit": 64 * MiB}))
    rc, out, err = create(rt, b, cid, tmp_path)
    assert rc == 0, err.read_text()
    cg = cgroups.SandboxCgroup.existing(cid, rt.root)   # the runtime scopes it by --root
    assert cg is not None, "the sandbox made no cgroup"
    assert cg.stats()["memory"]["usage"]["limit"] == 64 * MiB
    rt.run("start", cid, check=True)
    st = wait_status(rt, cid, "stopped", timeout=60)
    assert st and st["status"] == "stopped", st
    assert "survived" not in out.read_text()
    mem = cg.stats()["memory"]
    assert mem["usage"]["max"] <= 64 * MiB, mem["usage"]
    workload = cg.part("workload").stats()["memory"]  # v1 counts the OOM kill there
    assert any(m["usage"]["failcnt"] > 0 or m["oom_kill"] > 0 for m in (mem, workload)), \
        (mem, workload)
    subprocess.run(["true"], check=True, timeout=10)
    rt.run("delete", cid, check=True)
    assert cgroups.SandboxCgroup.existing(cid, rt.root) is None, "delete left the cgroup behind"
