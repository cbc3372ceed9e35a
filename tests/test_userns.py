"""User namespaces (linux.uidMappings/gidMappings) and rootless runs, against runc on
the same bundles: the ids the workload sees, /proc/self/uid_map, the host owners of the
files it makes, and what its root may not touch (files whose owners the namespace does
not map: the gofer and the sentry act for it, with real host privileges, and must not
lend them)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from helpers import NOBODY, as_nobody, make_bundle, require

# what the container's root may do to files, as a privileged container's root has
FILE_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
             "CAP_KILL", "CAP_SETUID", "CAP_SETGID"]


@pytest.fixture
def scratch():
    """A directory every uid may enter: runc makes the container's mounts from inside
    its user namespace, so a bundle must be reachable for the namespace's root."""
    d = Path(tempfile.mkdtemp(prefix="rsp-userns-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _user_namespace(host_id: int, size: int):
    def edit(cfg: dict) -> None:
        cfg["linux"]["namespaces"].append({"type": "user"})
        for key in ("uidMappings", "gidMappings"):
            cfg["linux"][key] = [{"containerID": 0, "hostID": host_id, "size": size}]
        for m in cfg["mounts"]:  # runc refuses gid=5 where 5 is not mapped
            m["options"] = [o for o in m.get("options", []) if o != "gid=5"]
    return edit


def _host_secrets(base: Path) -> list[dict]:
    """A host-root 0600 file, and a 0644 file inside a host-root 0700 directory, bound
    into the container: its root has no power over either (their owner is unmapped)."""
    (base / "secret").write_text("host secret\n")
    os.chmod(base / "secret", 0o600)
    (base / "private").mkdir(mode=0o700)
    (base / "private" / "pub").write_text("behind a 0700 dir\n")
    return [{"destination": "/secret", "type": "bind", "source": str(base / "secret"),
             "options": ["rbind", "ro"]},
            {"destination": "/private", "type": "bind", "source": str(base / "private"),
             "options": ["rbind"]}]


def _chown_tree(path: Path, uid: int) -> None:
    subprocess.run(["chown", "-R", f"{uid}:{uid}", str(path)], check=True)


def _owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


MAPPED_SCRIPT = (
    "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; "
    "grep -E '^(Uid|Gid):' /proc/self/status; "
    "touch /created; mkdir /made; touch /for5; chown 5:5 /for5; "
    "stat -c '%u:%g %n' /created /made /for5 /etc/passwd /secret /private; "
    "cat /secret; cat /private/pub; echo own > /mine; chmod 600 /mine; chown 7:7 /mine; "
    "cat /mine; exit 7")


def test_user_namespace_ids_ownership_and_uid_map_as_runc(rt, rootfs_template, scratch):
    """A new user namespace mapping 0 → 100000 (65536 ids), rootfs chowned to match (as
    runc expects it): the workload is root inside, reads runc's uid_map, makes files
    the host sees as 100000's (and 100005's after a chown to 5), and even with
    CAP_DAC_OVERRIDE cannot read a host root's 0600 file or enter its 0700 directory."""
    require(runc=True)
    host = 100000
    mounts = _host_secrets(scratch)
    runs = {}
    for who in ("runc", "ours"):
        b = make_bundle(scratch / f"b-{who}", ["sh", "-c", MAPPED_SCRIPT],
                        rootfs_template=rootfs_template, readonly=False, mounts=mounts,
                        capabilities=FILE_CAPS, edit=_user_namespace(host, 65536))
        _chown_tree(b / "rootfs", host)
        cid = f"us-{who}-{uuid.uuid4().hex[:6]}"
        if who == "runc":
            p = subprocess.run(["runc", "--root", str(scratch / "runc-root"), "run",
                                "--bundle", str(b), cid], capture_output=True, text=True,
                               timeout=60)
        else:
            p = rt.run("run", "--bundle", b, cid, timeout=90)
        runs[who] = (p, b)
    (runc, runc_b), (ours, ours_b) = runs["runc"], runs["ours"]
    assert runc.returncode == 7, runc.stdout + runc.stderr
    assert ours.returncode == 7, ours.stdout + ours.stderr
    assert ours.stdout == runc.stdout
    assert sorted(ours.stderr.splitlines()) == sorted(runc.stderr.splitlines())
    assert ours.stdout.splitlines()[:2] == ["0", "0"]
    assert ours.stdout.split()[2:5] == ["0", str(host), "65536"]
    assert "Permission denied" in ours.stderr and "host secret" not in ours.stdout
    assert "behind a 0700 dir" not in ours.stdout
    for b in (runc_b, ours_b):
        root = b / "rootfs"
        assert _owner(root / "created") == (host, host)
        assert _owner(root / "made") == (host, host)
        assert _owner(root / "for5") == (host + 5, host + 5)
        assert _owner(root / "mine") == (host + 7, host + 7)


def test_exec_joins_the_user_namespace(rt, bundle, tmp_path):
    """An exec'd process is in the container's user namespace too."""
    host = 100000
    b = bundle(["sleep", "60"], readonly=False, edit=_user_namespace(host, 65536))
    _chown_tree(b / "rootfs", host)
    cid = "us-exec-" + uuid.uuid4().hex[:6]
    # (not captured: the container keeps the run's stdout open)
    assert subprocess.run(rt.cmd("run", "--detach", "--bundle", b, cid), timeout=60,
                          stdout=subprocess.DEVNULL).returncode == 0
    try:
        p = rt.run("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map; touch /byexec")
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["0", "0", str(host), "65536"]
        assert _owner(b / "rootfs" / "byexec") == (host, host)
    finally:
        rt.run("delete", "--force", cid)


def test_features_lists_the_user_namespace(rt):
    r = rt.run("features")
    assert r.returncode == 0, r.stderr
    assert "user" in json.loads(r.stdout)["linux"]["namespaces"]


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["linux"]["namespaces"].append({"type": "user"}), "needs linux.uidMappings"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 0}]),
     "uidMappings[0]: ids out of range"),
    (lambda c: (c["linux"]["namespaces"].append({"type": "user"}), c["linux"].update(
        uidMappings=[{"containerID": 0, "hostID": 1000, "size": 10},
                     {"containerID": 5, "hostID": 2000, "size": 1}],
        gidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}])),
     "uidMappings: overlapping ranges"),
])
def test_bad_id_mappings_are_refused(rt, bundle, edit, message):
    b = bundle(["true"], edit=edit)
    p = rt.run("run", "--bundle", b, "us-bad")
    assert p.returncode != 0 and message in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1
    assert not (rt.root / "us-bad").exists()


# -- rootless --------------------------------------------------------------------------
def _as_nobody(argv: list[str], scratch: Path, env: dict[str, str]) -> list[str]:
    """argv (python arguments) run by this interpreter as nobody."""
    prefix, python = as_nobody(scratch, env)
    return [*prefix, python, *argv]


ROOTLESS_SCRIPT = ("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
                   "touch /created; stat -c '%u:%g %n' /created /secret; cat /secret; exit 3")


def test_rootless_as_nobody_with_one_id_mapped(rt, rootfs_template, scratch):
    """runsc-py run by uid 65534 (no groups), $XDG_RUNTIME_DIR its state root, a bundle
    mapping 0 → 65534 (one id): the workload is root inside, makes files the host sees
    as 65534's, cannot read a host root's 0600 file bound in, and its exit code is the
    run's; as rootless runc does on the same bundle."""
    require(runc=True)
    xdg = scratch / "xdg"
    xdg.mkdir(mode=0o700)
    os.chown(xdg, NOBODY, NOBODY)
    mounts = _host_secrets(scratch)
    results = {}
    for who in ("runc", "ours"):
        b = make_bundle(scratch / f"b-{who}", ["sh", "-c", ROOTLESS_SCRIPT],
                        rootfs_template=rootfs_template, readonly=False, mounts=mounts,
                        edit=_user_namespace(NOBODY, 1))
        _chown_tree(b, NOBODY)
        env = {"PATH": os.environ["PATH"], "XDG_RUNTIME_DIR": str(xdg)}
        cid = f"rl-{who}"
        if who == "runc":
            cmd = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY),
                   "--clear-groups", "runc", "run", cid]
        else:
            cmd = _as_nobody(["-m", "runsc_py", "--platform", rt.platform, "run", cid],
                             scratch, env)
        p = subprocess.run(cmd, cwd=b, env=env, capture_output=True, text=True,
                           timeout=90)
        results[who] = (p, b)
    (runc, _), (ours, b) = results["runc"], results["ours"]
    assert runc.returncode == 3, runc.stdout + runc.stderr
    assert ours.returncode == 3, ours.stdout + ours.stderr
    assert ours.stdout == runc.stdout
    assert ours.stdout.split()[:8] == ["0", "0", "0", str(NOBODY), "1",
                                       "0", str(NOBODY), "1"]
    assert "Permission denied" in ours.stderr and "host secret" not in ours.stdout
    assert _owner(b / "rootfs" / "created") == (NOBODY, NOBODY)
    # its state lived under $XDG_RUNTIME_DIR/runsc-py, and went with the container
    assert (xdg / "runsc-py").is_dir() and not (xdg / "runsc-py" / "rl-ours").exists()


def test_rootless_bind_from_a_nosuid_noexec_mount_is_read_only_as_asked(rt, rootfs_template,
                                                                        scratch):
    """A bind source on a nosuid,nodev,noexec mount (as /run/user/N is), bound "ro":
    the kernel locks those flags for a user namespace, so the remount that makes it
    read-only must keep them (runc 1.x itself fails here with EPERM)."""
    source = scratch / "locked"
    source.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=755", "tmpfs",
                    str(source)], check=True)
    try:
        (source / "file").write_text("data\n")
        xdg = scratch / "xdg"
        xdg.mkdir(mode=0o700)
        os.chown(xdg, NOBODY, NOBODY)
        b = make_bundle(scratch / "b", ["sh", "-c", "cat /locked/file; touch /locked/x"],
                        rootfs_template=rootfs_template, readonly=False,
                        mounts=[{"destination": "/locked", "type": "bind",
                                 "source": str(source), "options": ["rbind", "ro"]}],
                        edit=_user_namespace(NOBODY, 1))
        _chown_tree(b, NOBODY)
        env = {"PATH": os.environ["PATH"], "XDG_RUNTIME_DIR": str(xdg)}
        cmd = _as_nobody(["-m", "runsc_py", "--platform", rt.platform, "run", "rl-locked"],
                         scratch, env)
        p = subprocess.run(cmd, cwd=b, env=env, capture_output=True, text=True, timeout=90)
        assert p.stdout == "data\n", p.stderr
        assert p.returncode == 1 and "Read-only file system" in p.stderr
    finally:
        subprocess.run(["umount", "-l", str(source)])


def test_rootless_exec_pause_and_delete(rt, rootfs_template, scratch):
    """The rest of the lifecycle as nobody: exec joins the container (its uid 0 is the
    caller's uid on the host), pause and resume without a cgroup, kill and delete."""
    xdg = scratch / "xdg"
    xdg.mkdir(mode=0o700)
    os.chown(xdg, NOBODY, NOBODY)
    b = make_bundle(scratch / "b", ["sleep", "60"], rootfs_template=rootfs_template,
                    readonly=False, edit=_user_namespace(NOBODY, 1))
    _chown_tree(b, NOBODY)
    env = {"PATH": os.environ["PATH"], "XDG_RUNTIME_DIR": str(xdg)}
    runtime = _as_nobody(["-m", "runsc_py", "--platform", rt.platform], scratch, env)

    def cli(*args: str, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        return subprocess.run([*runtime, *args], cwd=b, env=env, text=True, timeout=90, **kw)

    assert cli("run", "--detach", "rl-life", capture_output=False,
               stdout=subprocess.DEVNULL).returncode == 0
    try:
        p = cli("exec", "rl-life", "sh", "-c", "id -u; cat /proc/self/uid_map; touch /byexec")
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["0", "0", str(NOBODY), "1"]
        assert _owner(b / "rootfs" / "byexec") == (NOBODY, NOBODY)
        assert cli("pause", "rl-life").returncode == 0
        assert '"paused"' in cli("state", "rl-life").stdout
        assert cli("resume", "rl-life").returncode == 0
    finally:
        cli("kill", "rl-life", "KILL")
        p = cli("delete", "--force", "rl-life")
    assert p.returncode == 0, p.stderr
    assert not (xdg / "runsc-py" / "rl-life").exists()


def test_terminal_belongs_to_the_namespace_root(rt, rootfs_template, scratch):
    """The pty of a terminal process is owned by its user as the namespace maps it
    (host 100000 for root), and stat inside shows it as 0:0, not as the host's ids."""
    host = 100000

    def edit(cfg: dict) -> None:
        _user_namespace(host, 65536)(cfg)
        cfg["process"]["terminal"] = True

    b = make_bundle(scratch / "b", ["sh", "-c", "stat -c '%u:%g' $(tty) /proc/self/fd/0"],
                    rootfs_template=rootfs_template, readonly=False, edit=edit)
    _chown_tree(b / "rootfs", host)
    p = rt.run("run", "--bundle", b, "us-tty-" + uuid.uuid4().hex[:6], input="")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0:0", "0:0"]


def test_a_second_container_joins_the_first_ones_user_namespace(rt, rootfs_template, scratch):
    """As a pod's containers share its sandbox's (Kubernetes hostUsers: false): the
    user and network namespaces named by the first sandbox's pid, which `create`
    handed out."""
    host = 100000
    first = make_bundle(scratch / "a", ["sleep", "60"], rootfs_template=rootfs_template,
                        readonly=False, edit=_user_namespace(host, 65536))
    _chown_tree(first / "rootfs", host)
    assert subprocess.run(rt.cmd("run", "--detach", "--bundle", first, "us-pod-a"), timeout=60,
                          stdout=subprocess.DEVNULL).returncode == 0
    try:
        pid = rt.state("us-pod-a")["pid"]

        def join(cfg: dict) -> None:
            _user_namespace(host, 65536)(cfg)
            for ns in cfg["linux"]["namespaces"]:
                if ns["type"] in ("user", "network"):
                    ns["path"] = f"/proc/{pid}/ns/{'net' if ns['type'] == 'network' else 'user'}"

        second = make_bundle(scratch / "b", ["sh", "-c", "id -u; cat /proc/self/uid_map; "
                                             "touch /made"],
                             rootfs_template=rootfs_template, readonly=False, edit=join)
        _chown_tree(second / "rootfs", host)
        p = rt.run("run", "--bundle", second, "us-pod-b")
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["0", "0", str(host), "65536"]
        assert _owner(second / "rootfs" / "made") == (host, host)
    finally:
        rt.run("delete", "--force", "us-pod-a")


def test_reopening_a_host_file_through_proc_fd_is_the_namespace_roots_right(
        rt, rootfs_template, scratch):
    """The container's stdin is a host root's 0644 file. Its root, with CAP_DAC_OVERRIDE
    in its user namespace, reopening /proc/self/fd/0 for writing is refused (EACCES): the
    sentry reopens it with the caller's host ids (100000) and no capability over a file
    whose owner the namespace does not map, as the kernel would decide for the caller."""
    host = 100000
    victim = scratch / "stdin"
    victim.write_text("original\n")
    victim.chmod(0o644)
    b = make_bundle(scratch / "b", ["/bin/rsphelper", "write", "/proc/self/fd/0", "pwned"],
                    rootfs_template=rootfs_template, readonly=False, capabilities=FILE_CAPS,
                    edit=_user_namespace(host, 65536))
    _chown_tree(b / "rootfs", host)
    with open(victim) as stdin:
        p = subprocess.run(rt.cmd("run", "--bundle", b, "us-reopen-" + uuid.uuid4().hex[:6]),
                           stdin=stdin, capture_output=True, text=True, timeout=60)
    assert "EACCES" in p.stdout + p.stderr, p.stdout + p.stderr
    assert victim.read_text() == "original\n"


def test_rootless_needs_the_callers_ids_mapped(rt, rootfs_template, scratch):
    """Rootless, the spec's user namespace must map the caller's uid and gid (one each):
    no namespace, or another id, is a one-line error and leaves no state behind."""
    xdg = scratch / "xdg"
    xdg.mkdir(mode=0o700)
    os.chown(xdg, NOBODY, NOBODY)
    env = {"PATH": os.environ["PATH"], "XDG_RUNTIME_DIR": str(xdg)}
    runtime = _as_nobody(["-m", "runsc_py", "--platform", rt.platform], scratch, env)
    for name, edit, message in (
            ("none", lambda cfg: None, "needs a new user namespace"),
            ("other", _user_namespace(1000, 1), "only the caller's uid 65534 and gid 65534")):
        b = make_bundle(scratch / name, ["true"], rootfs_template=rootfs_template,
                        readonly=False, edit=edit)
        _chown_tree(b, NOBODY)
        p = subprocess.run([*runtime, "run", f"rl-{name}"], cwd=b, env=env,
                           capture_output=True, text=True, timeout=90)
        assert p.returncode != 0 and message in p.stderr, p.stderr
        assert p.stderr.count("\n") == 1, p.stderr
        assert not (xdg / "runsc-py" / f"rl-{name}").exists()


def _under_both(rt, rootfs_template, scratch: Path, name: str, script: str,
                edit) -> list[str]:
    """The stdout of script run by runc, then by runsc-py, on bundles made by edit
    whose rootfs belongs to 100000 (each must exit 0)."""
    outputs = []
    for who in ("runc", "ours"):
        b = make_bundle(scratch / f"{name}-{who}", ["sh", "-c", script],
                        rootfs_template=rootfs_template, readonly=False, edit=edit)
        _chown_tree(b / "rootfs", 100000)
        cid = f"us-{name}-{who}-{uuid.uuid4().hex[:6]}"
        cmd = ["runc", "--root", str(scratch / "runc-root"), "run", "--bundle", str(b), cid] \
            if who == "runc" else rt.cmd("run", "--bundle", b, cid)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{who}: {p.stderr}"
        outputs.append(p.stdout)
    return outputs


def test_tmpfs_mounts_belong_to_the_namespace_root_as_runc(rt, rootfs_template, scratch):
    """A spec's tmpfs (podman's /run: mode=755) belongs to the container's root, as runc
    mounts it from inside the namespace: its root can write there."""
    require(runc=True)
    host = 100000

    def edit(cfg: dict) -> None:
        _user_namespace(host, 65536)(cfg)
        cfg["mounts"].append({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev", "mode=755"]})

    outputs = _under_both(rt, rootfs_template, scratch, "tmpfs",
                          "stat -c '%u:%g %a' /run; touch /run/x && echo written", edit)
    assert outputs[1] == outputs[0] == "0:0 755\nwritten\n"


def test_a_pty_opened_by_the_namespace_root_is_its_own_as_runc(rt, rootfs_template, scratch):
    """A pty made through /dev/ptmx belongs to its opener, the namespace's root (the
    sentry opens ptmx with the caller's host ids, not as host root)."""
    require(runc=True)
    host = 100000
    outputs = _under_both(rt, rootfs_template, scratch, "pty",
                          "exec 3<>/dev/ptmx; stat -c '%u:%g %n' /dev/pts/0",
                          _user_namespace(host, 65536))
    assert outputs[1] == outputs[0] == "0:0 /dev/pts/0\n"
