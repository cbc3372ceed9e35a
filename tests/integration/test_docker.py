"""runsc-py under a private dockerd (its own data-root, exec-root and socket in a temp
dir; it starts its own containerd) registered with --add-runtime: `docker run --runtime
runsc-py`, exit codes, output, `docker exec`; and, through daemon.json's runtimeArgs, as
`runsc-py-ptrace` (`--platform=ptrace`)."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid

import pytest

from _itutil import (Recorder, cleanup_dir, http_get_in_netns, kill_pid, need,
                     pids_with_cmdline_containing, stop_process, wait_for)

IMAGE = "runsc-py-test/busybox:latest"
# docker runtime name -> the platform its calls must name
RUNTIMES = {"runsc-py": None, "runsc-py-ptrace": "--platform=ptrace"}


class Docker:
    def __init__(self, d, recorder: Recorder, network: bool = False,
                 extra: tuple[str, ...] = ()):
        self.dir = d
        self.extra = extra
        self.recorder = recorder
        # network: docker's default bridge, iptables and docker-proxy, in a network
        # namespace of dockerd's own (its "host"), so that the machine's links and
        # iptables rules stay untouched
        self.network = network
        self.sock = d / "docker.sock"
        self.log = d / "dockerd.log"
        # dockerd's default exec-root is /var/run/docker; runsc-py's --root is then
        # <exec-root>/runtime-runc/moby and container ids are 64 hex digits.
        self.exec_root = d / "exec"
        self.proc: subprocess.Popen | None = None
        self.ids: list[str] = []

    def start(self) -> "Docker":
        (self.dir / "daemon.json").write_text(json.dumps({"runtimes": {
            "runsc-py-ptrace": {"path": str(self.recorder.path),
                                "runtimeArgs": ["--platform=ptrace"]}}}) + "\n")
        cmd = ["dockerd", "--data-root", f"{self.dir}/data", "--exec-root", str(self.exec_root),
               "-H", f"unix://{self.sock}", "--pidfile", f"{self.dir}/docker.pid",
               "--config-file", f"{self.dir}/daemon.json",
               "--add-runtime", f"runsc-py={self.recorder.path}", *self.extra]
        if self.network:
            cmd = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"',
                   "sh", *cmd]
        else:
            cmd += ["--iptables=false", "--ip6tables=false", "--bridge=none"]
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: self("version", check=False, timeout=10).returncode == 0, 60,
                 "dockerd to serve", interval=0.3, proc=self.proc, log=self.log)
        return self

    def __call__(self, *args, check=True, timeout=90) -> subprocess.CompletedProcess:
        p = subprocess.run(["docker", "-H", f"unix://{self.sock}", *map(str, args)],
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(self.explain(
                f"docker {' '.join(map(str, args))} exited {p.returncode}\n"
                f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"))
        return p

    def host_get(self, url: str) -> str:
        """An HTTP GET of `url` from dockerd's host network namespace."""
        assert self.proc is not None
        return http_get_in_netns(f"/proc/{self.proc.pid}/ns/net", url)

    def explain(self, msg: str) -> str:
        try:
            errors = [ln for ln in self.log.read_text(errors="replace").splitlines()
                      if "level=error" in ln][-15:]
        except OSError:
            errors = []
        return (f"{msg}\n--- runsc-py calls ---\n{self.recorder.text()[-6000:]}\n"
                "--- dockerd errors ---\n" + "\n".join(errors))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            p = self("ps", "-a", "-q", "--no-trunc", check=False, timeout=30)
            self.ids += p.stdout.split()
            if self.ids:
                self("rm", "-f", *self.ids, check=False, timeout=60)
            stop_process(self.proc, timeout=30)
        for cid in self.ids:
            for pid in pids_with_cmdline_containing(cid):
                kill_pid(pid)
        cleanup_dir(self.dir)


def _running_docker(workdir, recorder, oci_image, network: bool = False,
                    extra: tuple[str, ...] = ()):
    dk = Docker(workdir, recorder, network, extra)
    try:
        dk.start()
        dk("load", "-i", oci_image.docker_tar)
        yield dk
    finally:
        dk.stop()


@pytest.fixture
def docker(workdir, recorder, oci_image):
    need("dockerd", "docker", "containerd", "containerd-shim-runc-v2")
    yield from _running_docker(workdir, recorder, oci_image)


@pytest.fixture
def docker_net(workdir, recorder, oci_image):
    need("dockerd", "docker", "containerd", "containerd-shim-runc-v2", "unshare", "nsenter",
         "iptables", "docker-proxy")
    yield from _running_docker(workdir, recorder, oci_image, network=True)


# what dockerd's --userns-remap=default changes on the host: it adds the system user
# `dockremap` (useradd -r) and gives it subordinate ranges (usermod -v/-w); restored
# byte for byte (absent files removed) at teardown
ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/subuid",
                 "/etc/subgid", "/etc/passwd-", "/etc/group-", "/etc/shadow-",
                 "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-", "/var/log/lastlog",
                 "/var/log/faillog")


def _snapshot(paths) -> dict[str, tuple[bytes, os.stat_result] | None]:
    snap = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                snap[path] = (f.read(), os.stat(f.fileno()))
        except FileNotFoundError:
            snap[path] = None
    return snap


def _restore(snap) -> None:
    for path, saved in snap.items():
        if saved is None:
            if os.path.lexists(path):
                os.unlink(path)
            continue
        data, st = saved
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, st.st_mode & 0o7777)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def docker_remap(workdir, recorder, oci_image):
    need("dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc", "useradd",
         "usermod")
    snap = _snapshot(ACCOUNT_FILES)
    try:
        yield from _running_docker(workdir, recorder, oci_image,
                                   extra=("--userns-remap=default",))
    finally:
        _restore(snap)


def _check_platform(docker, runtime: str) -> None:
    """Every create of this runtime named its platform flag (or none: seccomp)."""
    flag = RUNTIMES[runtime]
    creates = [a for a in docker.recorder.argvs() if "create" in a]
    assert creates, docker.explain("no create call")
    for argv in creates:
        assert (flag in argv) if flag else not any(a.startswith("--platform") for a in argv), \
            docker.explain(f"create argv {argv}")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_docker_run_output_and_exit_code(docker, runtime):
    p = docker("run", "--rm", "--runtime", runtime, "--network", "none", IMAGE,
               "sh", "-c", "echo hi; exit 5", check=False)
    assert p.stdout.splitlines() == ["hi"], docker.explain(f"stdout={p.stdout!r} "
                                                          f"stderr={p.stderr!r}")
    assert p.returncode == 5, docker.explain(f"exit {p.returncode} stderr={p.stderr!r}")
    cmds = docker.recorder.commands()
    assert cmds[:2] == ["create", "start"], docker.explain(f"calls {cmds}")
    _check_platform(docker, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_docker_exec_and_kill(docker, runtime):
    p = docker("run", "-d", "--runtime", runtime, "--network", "none", IMAGE,
               "sleep", "1000")
    cid = p.stdout.strip().splitlines()[-1]
    docker.ids.append(cid)

    p = docker("exec", cid, "sh", "-c", "echo from-exec; exit 6", check=False)
    assert "from-exec" in p.stdout, docker.explain(f"stdout={p.stdout!r} stderr={p.stderr!r}")
    assert p.returncode == 6, docker.explain(f"exit {p.returncode} stderr={p.stderr!r}")

    p = docker("exec", "-t", cid, "sh", "-c", "tty; exit 2", check=False)
    assert "/dev/pts/" in p.stdout, docker.explain(f"stdout={p.stdout!r} stderr={p.stderr!r}")
    assert p.returncode == 2, docker.explain(f"exit {p.returncode} stderr={p.stderr!r}")

    p = docker("top", cid)
    assert "sleep 1000" in p.stdout, docker.explain(f"top: {p.stdout!r}")

    docker("kill", cid)
    p = docker("wait", cid, timeout=60)
    assert p.stdout.strip() == "137", docker.explain(f"wait: {p.stdout!r}")
    assert "exec" in docker.recorder.commands()
    _check_platform(docker, runtime)


def test_state_dir_paths_as_long_as_dockers(rt, bundle, runtime_root):
    """dockerd's default --root for the runtime is /var/run/docker/runtime-runc/moby
    (33 bytes) and its ids are 64 hex digits; containerd's CRI uses
    /run/containerd/runc/k8s.io. runc keeps no unix socket there (exec.fifo is a FIFO);
    a runtime that binds `<root>/<id>/<name>.sock` passes the 107-byte sun_path limit
    (33 + 1 + 64 + 1 + len(name)). Same lengths here, without docker."""
    root = runtime_root / ("r" * max(1, 33 - len(str(runtime_root)) - 1))
    if len(str(root)) > 33:  # the temp root is already longer: use it as it is
        root = runtime_root
    root.mkdir(exist_ok=True)
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    b = bundle(["true"])
    base = [*rt.base[:-2], "--root", str(root)]
    try:
        # stdio to a file: the created init holds its stdio until it runs (as runc's)
        with tempfile.TemporaryFile("w+") as out:
            p = subprocess.run([*base, "create", "--bundle", str(b), cid], stdout=out,
                               stderr=out, text=True, timeout=60)
            out.seek(0)
            errors = out.read().strip()
        assert p.returncode == 0, (f"runsc-py --root {root} ({len(str(root))} bytes) "
                                   f"create <64-hex id> exited {p.returncode}: {errors}")
    finally:
        subprocess.run([*base, "delete", "--force", cid], capture_output=True, timeout=60)
        for pid in pids_with_cmdline_containing(cid):
            kill_pid(pid)
    assert os.path.exists(root)


HTTPD = "mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -v -p 8080 -h /www"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_docker_default_bridge_publishes_a_port(docker_net, runtime):
    """docker's libnetwork-setkey prestart hook gets the init's host pid: the veth goes
    into the container's network namespace, and `-p` reaches the server from the host."""
    p = docker_net("run", "-d", "--runtime", runtime, "-p", "127.0.0.1:18080:8080", IMAGE,
                   "sh", "-c", HTTPD.format(body=f"hello-{runtime}"))
    cid = p.stdout.strip().splitlines()[-1]
    docker_net.ids.append(cid)
    body = docker_net.host_get("http://127.0.0.1:18080/index.html")
    assert body.strip() == f"hello-{runtime}", docker_net.explain(
        f"GET through the published port: {body!r}\n"
        + docker_net("logs", cid, check=False).stderr)
    _check_platform(docker_net, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_docker_user_defined_network_container_to_container(docker_net, runtime):
    docker_net("network", "create", "rspnet")
    p = docker_net("run", "-d", "--runtime", runtime, "--network", "rspnet", "--name", "srv",
                   IMAGE, "sh", "-c", HTTPD.format(body="from-srv"))
    docker_net.ids.append(p.stdout.strip().splitlines()[-1])
    ip = docker_net("inspect", "-f", "{{.NetworkSettings.Networks.rspnet.IPAddress}}",
                    "srv").stdout.strip()
    assert ip, docker_net.explain("the server has no address on rspnet")
    # by address, then by name (docker's embedded DNS at 127.0.0.11 in the client's netns)
    # (busybox's static wget crashes in getaddrinfo, under runc too: nc speaks HTTP)
    fetch = ("for i in $(seq 50); do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' "
             "| nc -w 3 $0 8080 > /tmp/reply && grep -q from-srv /tmp/reply && "
             "exec tail -n 1 /tmp/reply; sleep 0.2; done; cat /tmp/reply; exit 1")
    for target in (ip, "srv"):
        p = docker_net("run", "--rm", "--runtime", runtime, "--network", "rspnet", IMAGE,
                       "sh", "-c", fetch, target, check=False, timeout=120)
        assert p.returncode == 0 and p.stdout.strip() == "from-srv", docker_net.explain(
            f"wget http://{target}:8080 from a second container: exit {p.returncode} "
            f"stdout={p.stdout!r} stderr={p.stderr!r}")
    _check_platform(docker_net, runtime)


def _subordinate_start(path: str, user: str) -> int:
    for line in open(path).read().splitlines():
        name, start, _count = line.split(":")
        if name == user:
            return int(start)
    raise AssertionError(f"no {user} range in {path}")


def test_docker_userns_remap_as_runc(docker_remap, workdir):
    """dockerd --userns-remap=default (user dockremap, its /etc/subuid range): root in
    the container is the range's first uid on the host, for runsc-py as for runc: same
    ids and maps inside, same owner on the host of a file made in a bind mount, the exit
    code, and `docker exec` in the same user namespace."""
    dk = docker_remap
    uid0 = _subordinate_start("/etc/subuid", "dockremap")
    gid0 = _subordinate_start("/etc/subgid", "dockremap")
    seen = {}
    for runtime in ("runc", "runsc-py"):
        vol = workdir / f"vol-{runtime}"
        vol.mkdir()
        os.chmod(vol, 0o777)  # writable by the remapped root, an unprivileged host uid
        p = dk("run", "--rm", "--runtime", runtime, "--network", "none",
               "-v", f"{vol}:/v", IMAGE, "sh", "-c",
               "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
               "echo x > /v/made; exit 7", check=False)
        assert p.returncode == 7, dk.explain(f"{runtime}: exit {p.returncode} "
                                             f"stdout={p.stdout!r} stderr={p.stderr!r}")
        st = os.stat(vol / "made")
        assert (st.st_uid, st.st_gid) == (uid0, gid0), dk.explain(
            f"{runtime}: the file made in the bind mount is owned by {st.st_uid}:{st.st_gid}")

        d = dk("run", "-d", "--runtime", runtime, "--network", "none", IMAGE,
               "sleep", "1000")
        cid = d.stdout.strip().splitlines()[-1]
        dk.ids.append(cid)
        e = dk("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map; exit 3", check=False)
        assert e.returncode == 3, dk.explain(f"{runtime}: exec exit {e.returncode} "
                                             f"stdout={e.stdout!r} stderr={e.stderr!r}")
        dk("rm", "-f", cid)
        seen[runtime] = ([ln.split() for ln in p.stdout.splitlines()],
                         [ln.split() for ln in e.stdout.splitlines()])
    run_out, exec_out = seen["runc"]
    assert run_out[:2] == [["0"], ["0"]] and run_out[2] == ["0", str(uid0), "65536"], \
        f"runc under userns-remap: {run_out}"
    assert seen["runsc-py"] == seen["runc"], dk.explain(
        f"runsc-py {seen['runsc-py']} != runc {seen['runc']}")
    assert any("create" in a for a in dk.recorder.argvs()), dk.explain("no runsc-py create")
