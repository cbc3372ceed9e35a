"""runsc-py under podman (conmon) with a private storage root: `podman run --runtime`,
exit codes, output, `podman exec` (with and without a tty)."""
from __future__ import annotations

import os
import resource
import shlex
import shutil
import subprocess

import pytest

from _itutil import (Recorder, http_get_in_netns, kill_pid, need,
                     pids_with_cmdline_containing, stop_process)
from helpers import NOBODY, as_nobody

IMAGE = "docker.io/runsc-py-test/busybox:latest"


class Podman:
    def __init__(self, d, recorder: Recorder, netns_holder: int = 0):
        self.dir = d
        self.recorder = recorder
        # with a holder: every podman call runs in its network namespace (the "host"
        # of podman's default network, so that its bridge and iptables rules stay there)
        self.netns = f"/proc/{netns_holder}/ns/net" if netns_holder else ""
        self.base = (["nsenter", f"--net={self.netns}"] if self.netns else []) + [
            "podman", "--root", f"{d}/root", "--runroot", f"{d}/run",
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
            "--events-backend", "file", "--tmpdir", f"{d}/tmp",
            "--network-config-dir", f"{d}/net"]
        (d / "net").mkdir()
        self.ids: list[str] = []

    def __call__(self, *args, check=True, timeout=90) -> subprocess.CompletedProcess:
        p = subprocess.run([*self.base, *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(self.explain(
                f"podman {' '.join(map(str, args))} exited {p.returncode}\n"
                f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"))
        return p

    def explain(self, msg: str) -> str:
        return f"{msg}\n--- runsc-py calls ---\n{self.recorder.text()[-6000:]}"

    def host_get(self, url: str) -> str:
        """An HTTP GET of `url` from podman's host network namespace."""
        return http_get_in_netns(self.netns, url)

    def run_args(self, network: str = "none") -> list[str]:
        # Without CAP_SYS_RESOURCE (as root here) podman's default RLIMIT_NOFILE and
        # RLIMIT_NPROC (1048576) cannot be set: runc fails the same way ("error setting
        # rlimit type 7: operation not permitted"). Ask for limits we may set.
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = min(4096, resource.getrlimit(resource.RLIMIT_NPROC)[1])
        return ["--pull", "never", "--runtime", str(self.recorder.path), "--network", network,
                "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]

    def cleanup(self) -> None:
        p = self("ps", "-a", "-q", "--no-trunc", check=False, timeout=30)
        ids = set(p.stdout.split()) | set(self.ids)
        self("rm", "-f", "-a", "-t", "0", check=False, timeout=60)
        for cid in ids:  # runsc-py's sandbox processes name the container id
            for pid in pids_with_cmdline_containing(cid):
                kill_pid(pid)


@pytest.fixture
def podman(workdir, recorder, oci_image):
    need("podman", "conmon")
    pm = Podman(workdir, recorder)
    try:
        pm("load", "-i", oci_image.docker_tar)
        yield pm
    finally:
        pm.cleanup()


@pytest.fixture
def podman_net(workdir, recorder, oci_image):
    need("podman", "conmon", "unshare", "nsenter", "iptables")
    holder = subprocess.Popen(["unshare", "--net", "--", "sh", "-c",
                               "ip link set lo up && exec sleep 100000"],
                              stdin=subprocess.DEVNULL, start_new_session=True)
    pm = Podman(workdir, recorder, netns_holder=holder.pid)
    try:
        pm("load", "-i", oci_image.docker_tar)
        yield pm
    finally:
        pm.cleanup()
        stop_process(holder)


def test_podman_default_network_publishes_a_port(podman_net):
    """podman's default network (CNI here, as Debian's podman 4.3 sets it up): podman
    makes the network namespace and names it in the spec; a published port reaches
    busybox httpd under runsc-py from the host."""
    p = podman_net("run", "-d", *podman_net.run_args(network="bridge"),
                   "-p", "127.0.0.1:18081:8080", IMAGE, "sh", "-c",
                   "mkdir -p /www && echo hello-podman > /www/index.html && "
                   "exec httpd -f -p 8080 -h /www")
    cid = p.stdout.strip().splitlines()[-1]
    podman_net.ids.append(cid)
    body = podman_net.host_get("http://127.0.0.1:18081/index.html")
    assert body.strip() == "hello-podman", podman_net.explain(
        f"GET through the published port: {body!r}\n"
        + podman_net("logs", cid, check=False).stderr)


def test_podman_run_output_and_exit_code(podman):
    p = podman("run", "--rm", *podman.run_args(), IMAGE,
               "sh", "-c", "echo hi; exit 4", check=False)
    assert p.stdout.splitlines() == ["hi"], podman.explain(f"stdout={p.stdout!r} "
                                                          f"stderr={p.stderr!r}")
    assert p.returncode == 4, podman.explain(f"exit {p.returncode} stderr={p.stderr!r}")
    cmds = podman.recorder.commands()
    assert cmds[:2] == ["create", "start"], podman.explain(f"calls {cmds}")


def test_podman_exec(podman):
    p = podman("run", "-d", *podman.run_args(), IMAGE, "sleep", "1000")
    cid = p.stdout.strip().splitlines()[-1]
    podman.ids.append(cid)

    p = podman("exec", cid, "sh", "-c", "echo from-exec; exit 6", check=False)
    assert "from-exec" in p.stdout, podman.explain(f"stdout={p.stdout!r} stderr={p.stderr!r}")
    assert p.returncode == 6, podman.explain(f"exit {p.returncode} stderr={p.stderr!r}")

    p = podman("exec", "-t", cid, "sh", "-c", "tty; exit 2", check=False)
    assert "/dev/pts/" in p.stdout, podman.explain(f"stdout={p.stdout!r} stderr={p.stderr!r}")
    assert p.returncode == 2, podman.explain(f"exit {p.returncode} stderr={p.stderr!r}")

    p = podman("inspect", "--format", "{{.State.Status}}", cid)
    assert p.stdout.strip() == "running"
    podman("kill", cid)
    p = podman("wait", cid, timeout=60)
    assert p.stdout.strip() == "137", podman.explain(f"wait: {p.stdout!r}")
    assert "exec" in podman.recorder.commands()


def test_podman_uidmap_runs_in_a_user_namespace(podman):
    """`podman run --uidmap/--gidmap` (podman chowns the image for the map and hands
    the runtime a user namespace with it): root inside is host uid 100000, as under runc."""
    p = podman("run", "--rm", *podman.run_args(), "--uidmap", "0:100000:65536",
               "--gidmap", "0:100000:65536", IMAGE, "sh", "-c",
               "id -u; cat /proc/self/uid_map; touch /x; stat -c %u:%g /x /bin/sh", check=False)
    assert p.returncode == 0, podman.explain(f"exit {p.returncode} stderr={p.stderr!r}")
    assert p.stdout.split() == ["0", "0", "100000", "65536", "0:0", "0:0"], \
        podman.explain(f"stdout={p.stdout!r}")


def test_rootless_podman(workdir, oci_image):
    """Rootless podman (as uid 65534, without subordinate ids: podman then maps that one
    uid into its own user namespace) runs runsc-py as root of that namespace, with
    $XDG_RUNTIME_DIR/runsc-py as its state root: the workload runs, is root inside, and
    its exit code is podman's."""
    need("podman", "conmon")
    home, xdg = workdir / "home", workdir / "xdg"
    for d in (home, xdg):
        d.mkdir(mode=0o700)
        os.chown(d, NOBODY, NOBODY)
    image = workdir / "image.tar"
    shutil.copyfile(oci_image.docker_tar, image)
    os.chmod(image, 0o644)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_RUNTIME_DIR": str(xdg)}
    prefix, python = as_nobody(workdir, env)
    runtime = workdir / "runsc-py"
    runtime.write_text(  # (podman hands its runtime a clean environment)
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(env['PYTHONPATH'])} "
        f"exec {shlex.quote(python)} -m runsc_py \"$@\"\n")
    runtime.chmod(0o755)
    podman = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
              "--events-backend", "file"]
    script = (f"{shlex.join([*podman, 'load', '-q', '-i', str(image)])} >/dev/null && "
              + shlex.join([*podman, "run", "--rm", "--pull", "never", "--network", "none",
                            "--runtime", str(runtime), IMAGE, "sh", "-c",
                            "id -u; cat /proc/self/uid_map; exit 5"]))
    p = subprocess.run([*prefix, "sh", "-c", script], env=env, capture_output=True, text=True,
                       timeout=180, stdin=subprocess.DEVNULL)
    try:
        assert p.returncode == 5, f"stdout={p.stdout!r} stderr={p.stderr!r}"
        assert p.stdout.split() == ["0", "0", str(NOBODY), "1"], p.stderr
        assert list((xdg / "runsc-py").iterdir()) == []  # (podman run --rm deleted it)
    finally:
        subprocess.run([*prefix, "sh", "-c", shlex.join([*podman, "system", "reset", "-f"])],
                       env=env, capture_output=True, timeout=120)
