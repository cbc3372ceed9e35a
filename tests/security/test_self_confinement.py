"""Self-confinement (issue 3, item 5): the sentry and the gofer each run under their own
seccomp allowlist, with only the capabilities they need, in a root that holds nothing
of the host they do not use; a forbidden syscall from either kills it, and so, fail
closed, the whole sandbox.

The forbidden syscall is injected with the test hook RUNSC_PY_TEST_FORBIDDEN=gofer|sentry
in the runtime's environment (see gofer/server.py and sentry/confine.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _lc_util import alive, children_of, cmdline, wait_status, wait_until

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from gofer.confine import GOFER_CAPS  # noqa: E402
from sentry.confine import SENTRY_CAPS  # noqa: E402
from sentry.platform.confine_native import cap_mask  # noqa: E402

LOOP = ["sh", "-c", "echo up > /tmp/up; while true; do sleep 0.1; done"]


def _status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _create(rt, b, cid, tmp_path, env=None):
    with open(tmp_path / f"{cid}.out", "wb") as fo, open(tmp_path / f"{cid}.err", "wb") as fe:
        p = subprocess.run(rt.cmd("create", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                           stdout=fo, stderr=fe, timeout=60, env=env)
    return p.returncode, (tmp_path / f"{cid}.err").read_text()


def _running(rt, bundle, tmp_path, cid):
    b = bundle(LOOP, readonly=False)
    rc, err = _create(rt, b, cid, tmp_path)
    assert rc == 0, err
    rt.run("start", cid, check=True)
    assert wait_until(lambda: (b / "rootfs/tmp/up").exists(), 10), "workload never ran"
    sentry = rt.state(cid)["pid"]
    gofers = [k for k in children_of(sentry)
              if " ".join(cmdline(k) or []) == f"runsc-py-gofer {cid}"]
    assert len(gofers) == 1, {k: cmdline(k) for k in children_of(sentry)}
    return sentry, gofers[0]


def _caps(pid: int) -> tuple[int, int, int]:
    st = _status(pid)
    return int(st["CapEff"], 16), int(st["CapPrm"], 16), int(st["CapBnd"], 16)


def test_gofer_runs_under_its_allowlist_with_file_caps_only(rt, bundle, tmp_path):
    _sentry, gofer = _running(rt, bundle, tmp_path, "sc-gofer")
    st = _status(gofer)
    assert st["Seccomp"] == "2", st["Seccomp"]
    assert st["NoNewPrivs"] == "1"
    eff, prm, bnd = _caps(gofer)
    want = cap_mask(GOFER_CAPS)
    assert prm == want and bnd == want, (hex(prm), hex(bnd), hex(want))
    assert eff & ~want == 0, hex(eff)
    assert not eff & 1 << 21, "the gofer holds CAP_SYS_ADMIN"


def test_gofer_sees_only_its_own_proc(rt, bundle, tmp_path):
    _sentry, gofer = _running(rt, bundle, tmp_path, "sc-gofer-root")
    root = f"/proc/{gofer}/root"
    assert sorted(os.listdir(root)) == ["proc"], os.listdir(root)
    for host_path in ("etc/passwd", "home", "root", "usr", "tmp", "bin"):
        assert not os.path.lexists(f"{root}/{host_path}"), host_path
    # its procfs shows the gofer itself and no host process (hidepid=invisible as seen
    # by the gofer; from here, as root, pid directories are listed but no sysctl etc.)
    assert not os.path.lexists(f"{root}/proc/sys"), "proc subset=pid expected"
    assert not os.path.lexists(f"{root}/proc/sysrq-trigger")


def test_sentry_runs_under_its_allowlist_without_sys_admin(rt, bundle, tmp_path):
    sentry, _gofer = _running(rt, bundle, tmp_path, "sc-sentry")
    st = _status(sentry)
    assert st["Seccomp"] == "2", st["Seccomp"]
    assert st["NoNewPrivs"] == "1"
    eff, prm, bnd = _caps(sentry)
    want = cap_mask(SENTRY_CAPS)
    assert eff == want and prm == want and bnd == want, (hex(eff), hex(prm), hex(bnd))
    # and it still serves: exec, ps, kill all work after confinement
    r = rt.run("exec", "sc-sentry", "sh", "-c", "cat /tmp/up; exit 3")
    assert r.returncode == 3 and r.stdout == "up\n", (r.returncode, r.stdout, r.stderr)


def test_sentry_sees_no_host_filesystem_it_does_not_need(rt, bundle, tmp_path):
    sentry, _gofer = _running(rt, bundle, tmp_path, "sc-sentry-root")
    root = f"/proc/{sentry}/root"
    state_dir = str(rt.root.resolve() / "sc-sentry-root")
    python_dirs = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, REPO)}
    # the sandbox's own cgroup directories, bound for exec, pause, update and stats
    cgroups = {os.path.join(dirpath, d) for dirpath, dirnames, _ in os.walk(f"{root}/sys")
               for d in dirnames if d.startswith("sc-sentry-root")}
    cgroups = {c[len(root):] for c in cgroups}
    allowed_top = {"proc", "dev", state_dir.split("/")[1]} | ({"sys"} if cgroups else set())
    allowed_top |= {p.split("/")[1] for p in python_dirs}
    top = set(os.listdir(root))
    assert top <= allowed_top, top - allowed_top
    assert sorted(os.listdir(f"{root}/dev")) == sorted(
        d for d in ("full", "null", "random", "tty", "urandom", "zero")
        if os.path.exists(f"/dev/{d}"))
    assert os.path.exists(f"{root}{state_dir}/control.sock") or \
        os.listdir(f"{root}{state_dir}")  # the state dir is there
    for host_path in ("etc/passwd", "etc/shadow", "home", "var", "boot", "sys/kernel",
                      "sys/fs/cgroup/cgroup.procs"):
        assert not os.path.lexists(f"{root}/{host_path}"), host_path
    # /root (or /work...) exists only as the way to the Python installation/repo
    for entry in top - {"proc", "dev"}:
        for dirpath, dirnames, filenames in os.walk(f"{root}/{entry}"):
            host = dirpath[len(root):]
            if any(host == p or host.startswith(p + "/") or p.startswith(host + "/")
                   for p in python_dirs | {state_dir} | cgroups):
                if not any(host == p or host.startswith(p + "/")
                           for p in python_dirs | {state_dir} | cgroups):
                    # an intermediate directory: only the path onwards, nothing else
                    assert not filenames, (host, filenames)
                else:
                    dirnames[:] = []
            else:
                raise AssertionError(f"unexpected host path visible to the sentry: {host}")


def _forbidden(rt, bundle, tmp_path, cid, who):
    b = bundle(LOOP, readonly=False)
    env = {**os.environ, "RUNSC_PY_TEST_FORBIDDEN": who}
    rc, err = _create(rt, b, cid, tmp_path, env)
    assert rc == 0, err
    sentry = rt.state(cid)["pid"]
    kids = children_of(sentry)
    gofer = next(k for k in kids if " ".join(cmdline(k) or []) == f"runsc-py-gofer {cid}")
    rt.run("start", cid)  # may already find the sandbox stopping
    victim = gofer if who == "gofer" else sentry
    assert wait_until(lambda: not alive(victim), 10), f"the {who} survived its forbidden call"
    # fail closed: everything of the sandbox is gone and the container is stopped
    for pid in [sentry, gofer, *kids]:
        assert wait_until(lambda p=pid: not alive(p), 5), f"{pid} {cmdline(pid)} outlived the {who}"
    st = wait_status(rt, cid, "stopped", 10)
    assert st is not None and st["status"] == "stopped", st
    return victim


def _killed_by_seccomp(pid: int) -> bool | None:
    """The kernel's audit line for a SECCOMP_RET_KILL_PROCESS of pid (None: no dmesg)."""
    p = subprocess.run(["dmesg"], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    return any(f" pid={pid} " in line and "sig=31" in line and "type=1326" in line
               for line in p.stdout.splitlines())


def test_forbidden_syscall_kills_the_gofer_and_the_sandbox(rt, bundle, tmp_path):
    gofer = _forbidden(rt, bundle, tmp_path, "sc-kill-gofer", "gofer")
    assert _killed_by_seccomp(gofer) in (True, None)


def test_forbidden_syscall_kills_the_sentry_and_the_sandbox(rt, bundle, tmp_path):
    sentry = _forbidden(rt, bundle, tmp_path, "sc-kill-sentry", "sentry")
    assert _killed_by_seccomp(sentry) in (True, None)
