"""OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"), with real hook
scripts that write down what they saw: their arguments, environment, working directory,
network namespace, the state on their stdin, and the network namespace and command line
of the process that state's pid names. runc (1.1) is the reference where it follows
the spec; where it does not (it runs poststart hooks during `create`, and a failed
startContainer hook does not fail its `start`), the spec is."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from _lc_util import check_one_line_error, create, wait_status
from helpers import edit_config

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop"]
RUNTIME_KINDS = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]

# One line per run, tab-separated: kind, args, state, own netns, the state pid's netns,
# the state pid's command line, cwd, uid, sorted environment. Then FAIL/SLEEP as asked.
HOOK = r"""#!/bin/sh
state=$(cat)
pid=$(echo "$state" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$*" "$state" \
  "$(readlink /proc/self/ns/net)" "$(readlink /proc/$pid/ns/net 2>/dev/null)" \
  "$(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null)" "$(pwd)" "$(id -u)" \
  "$(env | sort | tr '\n' ' ')" >> "$LOG"
[ -n "$SLEEP" ] && exec sleep "$SLEEP"
[ -n "$FAIL" ] && { echo "hook $1 says no" >&2; exit "$FAIL"; }
exit 0
"""
FIELDS = ["kind", "args", "state", "netns", "pid_netns", "pid_cmdline", "cwd", "uid", "env"]
CONTAINER_LOG = "/tmp/hooks.log"  # the startContainer hook's (a container path)


class Runc:
    """runc, driven like the rt fixture's Runtime (the reference)."""

    def __init__(self, root: Path):
        self.root = root
        self.platform = "runc"

    def cmd(self, *args) -> list[str]:
        return ["runc", "--root", str(self.root), *map(str, args)]

    def run(self, *args, check=False, timeout=60, cwd=None) -> subprocess.CompletedProcess:
        p = subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout,
                           cwd=cwd)
        assert not check or p.returncode == 0, p.stderr
        return p


@pytest.fixture
def runc(tmp_path):
    r = Runc(tmp_path / "runc-root")
    yield r
    for cid in json.loads(r.run("list", "--format", "json").stdout or "null") or []:
        r.run("delete", "--force", cid["id"])


def _hooked_bundle(bundle, tmp_path: Path, name: str, args: list[str],
                   hooks: dict[str, list[dict]] | None = None, **overrides) -> tuple[Path, Path]:
    """A bundle whose config runs the recording hook for every kind (or `hooks`), and
    the host file the runtime-side hooks write to."""
    log = tmp_path / f"{name}.log"
    script = tmp_path / "hook.sh"
    script.write_text(HOOK)
    script.chmod(0o755)
    b = bundle(args, name=name, readonly=False, **overrides)
    (b / "rootfs" / "hook.sh").write_text(HOOK)  # startContainer's: a container path
    (b / "rootfs" / "hook.sh").chmod(0o755)

    def hook(kind: str, **extra) -> dict:
        in_container = kind == "startContainer"
        env = [f"LOG={CONTAINER_LOG if in_container else log}", "A=given"]
        env += [f"{k}={v}" for k, v in extra.pop("env", {}).items()]
        return {"path": "/hook.sh" if in_container else str(script),
                "args": ["hook-argv0", kind, "x"], "env": env, **extra}

    config = hooks if hooks is not None else {k: [{}] for k in KINDS}
    edit_config(b, lambda c: c.__setitem__("hooks", {
        kind: [hook(kind, **h) for h in entries] for kind, entries in config.items()}))
    return b, log


def _records(path: Path) -> list[dict]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        rec = dict(zip(FIELDS, line.split("\t")))
        rec["state"] = json.loads(rec["state"]) if rec.get("state") else {}
        out.append(rec)
    return out


def _lifecycle(runtime, b: Path, cid: str, tmp_path: Path) -> dict:
    """create, start, wait, delete; what each step saw."""
    rc, _out, err = create(runtime, b, cid, tmp_path / f"{runtime.platform}-stdio")
    assert rc == 0, err.read_text()
    init = json.loads(runtime.run("ps", "--format", "json", cid, check=True).stdout)[0]
    container_netns = os.readlink(f"/proc/{init}/ns/net")
    runtime.run("start", cid, check=True)
    assert wait_status(runtime, cid, "stopped", timeout=20)
    runtime.run("delete", cid, check=True, cwd=tmp_path)
    return {"init": init, "netns": container_netns}


def test_every_hook_runs_where_and_with_what_runc_gives_it(rt, bundle, tmp_path, runc):
    args = ["sh", "-c", f"echo workload >> {CONTAINER_LOG}; sleep 1"]
    seen = {}
    for runtime in (runc, rt):
        b, log = _hooked_bundle(bundle, tmp_path, f"h-{runtime.platform}", args,
                                user=(1000, 1000))
        facts = _lifecycle(runtime, b, f"h-{runtime.platform}", tmp_path)
        seen[runtime.platform] = (b, facts, _records(log),
                                  (b / "rootfs" / CONTAINER_LOG.lstrip("/")).read_text())
    host_netns = os.readlink("/proc/self/ns/net")

    for name, (b, facts, recs, container_log) in seen.items():
        kinds = [r["kind"] for r in recs]
        assert kinds == RUNTIME_KINDS, (name, recs)
        by = {r["kind"]: r for r in recs}
        for kind in ("prestart", "createRuntime"):  # the runtime's namespaces, init's pid
            r = by[kind]
            assert r["state"]["pid"] == facts["init"], (name, r)
            assert r["state"]["status"] == "creating", (name, r)
            assert r["netns"] == host_netns, (name, r)
            assert r["pid_netns"] == facts["netns"] != host_netns, (name, r)
            assert r["cwd"] == str(b), (name, r)
        r = by["createContainer"]  # the container's namespaces, before pivot_root
        assert r["netns"] == facts["netns"] and r["state"]["pid"] == 1, (name, r)
        assert r["state"]["status"] == "creating" and r["cwd"] == str(b / "rootfs"), (name, r)
        r = by["poststop"]
        assert r["state"]["status"] == "stopped" and "pid" not in r["state"], (name, r)
        assert r["netns"] == host_netns and r["cwd"] == str(tmp_path), (name, r)
        for r in recs:
            assert r["args"] == f"{r['kind']} x", (name, r)
            assert "A=given" in r["env"].split(), (name, r)
            assert r["state"]["id"] == f"h-{name}" and r["state"]["bundle"] == str(b), (name, r)
        # startContainer: a container path, run as the process's user before it runs
        lines = container_log.splitlines()
        assert [ln.split("\t")[0] for ln in lines] == ["startContainer", "workload"], \
            (name, container_log)
        start = dict(zip(FIELDS, lines[0].split("\t")))
        assert json.loads(start["state"])["pid"] == 1, (name, start)
        assert json.loads(start["state"])["status"] == "created", (name, start)
        assert (start["args"], start["cwd"], start["uid"]) == ("startContainer x", "/", "1000"), \
            (name, start)

    # what runc gives each hook, but poststart (runc 1.1 runs it during create)
    def comparable(recs: list[dict], b: Path) -> list[tuple]:
        return [(r["kind"], r["state"]["status"], r["env"].replace(str(b), "BUNDLE"))
                for r in recs if r["kind"] != "poststart"]

    ours_b, _facts, ours, _ = seen[rt.platform]
    runc_b, _facts, theirs, _ = seen["runc"]
    assert comparable(ours, ours_b) == comparable(theirs, runc_b)
    # poststart (spec): after start, once the program is executed: the pid runs it (sh,
    # or the sleep that sh execs as its last command), no longer the runtime's init
    r = {r["kind"]: r for r in ours}["poststart"]
    assert r["state"]["status"] == "running", r
    assert r["pid_cmdline"].split()[:1] in (["sh"], ["sleep"]), r


@pytest.mark.parametrize("failing", ["prestart", "createRuntime", "createContainer", "timeout"])
def test_a_failing_create_hook_fails_create_and_runs_poststop(rt, bundle, tmp_path, runc,
                                                              failing):
    """The spec: a prestart, createRuntime or createContainer hook that fails (or runs
    past its timeout) fails `create`, the container is destroyed, poststop hooks run;
    hooks after the failing one do not."""
    kind = "createRuntime" if failing == "timeout" else failing
    bad = {"env": {"SLEEP": "30"}, "timeout": 1} if failing == "timeout" else \
        {"env": {"FAIL": "3"}}
    hooks = {k: [{}] for k in KINDS}
    hooks[kind] = [bad, {}]
    ran = {}
    for runtime in (runc, rt):
        b, log = _hooked_bundle(bundle, tmp_path, f"f-{runtime.platform}",
                                ["sh", "-c", "echo workload > /ran"], hooks=hooks)
        t0 = time.monotonic()
        p = runtime.run("create", "--bundle", b, f"f-{runtime.platform}")
        elapsed = time.monotonic() - t0
        assert p.returncode != 0, p.stderr
        assert not (b / "rootfs" / "ran").exists()
        assert runtime.run("state", f"f-{runtime.platform}").returncode != 0
        ran[runtime.platform] = [r["kind"] for r in _records(log)]
    assert ran[rt.platform] == ran["runc"], ran
    assert ran[rt.platform][-1] == "poststop" and ran[rt.platform].count(kind) == 1, ran
    line = check_one_line_error(p, f"{kind} hook #0", str(tmp_path / "hook.sh"))
    if failing == "timeout":
        assert "timeout of 1s" in line and elapsed < 15, (line, elapsed)
    else:
        assert "exit status 3" in line and f"hook {kind} says no" in line, line


def test_a_failing_start_container_hook_fails_start(rt, bundle, tmp_path):
    """The spec: start fails and the container stops, its program never run (runc 1.1
    writes the error to the container's stderr and its `start` succeeds)."""
    hooks = {"startContainer": [{"env": {"FAIL": "4"}}], "poststop": [{}]}
    b, log = _hooked_bundle(bundle, tmp_path, "sc", ["sh", "-c", "echo workload > /ran"],
                            hooks=hooks)
    rc, _out, err = create(rt, b, "sc", tmp_path)
    assert rc == 0, err.read_text()
    p = rt.run("start", "sc")
    check_one_line_error(p, "startContainer hook #0 /hook.sh", "exit status 4",
                         "hook startContainer says no")
    assert wait_status(rt, "sc", "stopped", timeout=10)
    assert not (b / "rootfs" / "ran").exists()
    rt.run("delete", "sc", check=True)
    assert [r["kind"] for r in _records(log)] == ["poststop"]


def test_failing_poststart_and_poststop_hooks_are_warnings(rt, bundle, tmp_path):
    """The spec: a poststart or poststop hook that fails is logged as a warning and the
    lifecycle (and the other hooks) go on."""
    hooks = {"poststart": [{"env": {"FAIL": "5"}}, {}], "poststop": [{"env": {"FAIL": "6"}}, {}]}
    b, log = _hooked_bundle(bundle, tmp_path, "ps", ["sh", "-c", "echo workload > /ran"],
                            hooks=hooks)
    rc, _out, err = create(rt, b, "ps", tmp_path)
    assert rc == 0, err.read_text()
    p = rt.run("start", "ps")
    assert p.returncode == 0 and "warning: poststart hook #0" in p.stderr, p.stderr
    assert wait_status(rt, "ps", "stopped", timeout=10)
    assert (b / "rootfs" / "ran").read_text() == "workload\n"
    p = rt.run("delete", "ps")
    assert p.returncode == 0 and "warning: poststop hook #0" in p.stderr, p.stderr
    assert "exit status 6" in p.stderr
    assert [r["kind"] for r in _records(log)] == ["poststart"] * 2 + ["poststop"] * 2


@pytest.mark.parametrize("hook, message", [
    ({"path": "hook.sh"}, "hooks.prestart[0].path must be an absolute path"),
    ({"path": "/bin/true", "timeout": 0}, "hooks.prestart[0].timeout must be greater than zero"),
    ({"path": "/bin/true", "args": "x"}, "hooks.prestart[0].args must be a list"),
    ({"args": ["x"]}, "hooks.prestart[0].path is required"),
])
def test_a_malformed_hook_is_a_one_line_error(rt, bundle, hook, message):
    b = bundle(["true"], edit=lambda c: c.__setitem__("hooks", {"prestart": [hook]}))
    p = rt.run("create", "--bundle", b, "bad")
    check_one_line_error(p, message)
    assert rt.run("state", "bad").returncode != 0


def test_features_lists_every_hook_as_runc_does(rt):
    ours = json.loads(rt.run("features", check=True).stdout)["hooks"]
    runc = subprocess.run(["runc", "features"], capture_output=True, text=True, check=True)
    assert ours == json.loads(runc.stdout)["hooks"] == KINDS


def test_with_a_user_namespace_prestart_hooks_reach_the_network_namespace_it_owns(
        rt, bundle, tmp_path):
    """With a user namespace the init makes the network namespace once inside it (after
    pivot_root, which the namespace's root could not do): the runtime's hooks wait for
    it, so that the pid they are given names the container's network namespace."""
    def user_namespace(cfg: dict) -> None:
        cfg["linux"]["namespaces"].append({"type": "user"})
        for key in ("uidMappings", "gidMappings"):
            cfg["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        for m in cfg["mounts"]:  # gid 5 is not mapped
            m["options"] = [o for o in m.get("options", []) if o != "gid=5"]

    b, log = _hooked_bundle(bundle, tmp_path, "un", ["sleep", "1"],
                            hooks={"prestart": [{}], "createRuntime": [{}]},
                            edit=user_namespace)
    facts = _lifecycle(rt, b, "un", tmp_path)
    recs = _records(log)
    assert [r["kind"] for r in recs] == ["prestart", "createRuntime"], recs
    for r in recs:
        assert r["state"]["pid"] == facts["init"], r
        assert r["pid_netns"] == facts["netns"] != os.readlink("/proc/self/ns/net"), r
