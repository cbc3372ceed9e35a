"""Shared helpers of the integration tests (see conftest.py for the fixtures)."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from helpers import make_busybox_rootfs, pids_with_cmdline_containing  # noqa: E402


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)}: run scripts/install-deps.sh")
    if os.geteuid() != 0:
        pytest.skip("integration tests run as root")


class Recorder:
    """A shell wrapper that logs every runsc-py call, then execs the real binary (the
    exit code is logged by a second line when the call returns: `exec` is not used so
    that the code can be seen; signals reach the child through the shell's `wait`)."""

    def __init__(self, directory: Path, real: str):
        self.path = directory / "runsc-py"
        self.log = directory / "argv.log"
        self.path.write_text(
            "#!/bin/sh\n"
            f"LOG={shlex.quote(str(self.log))}\n"
            'echo "$$ call $*" >> "$LOG"\n'
            f'{shlex.quote(real)} "$@"\n'
            "rc=$?\n"
            'echo "$$ exit $rc" >> "$LOG"\n'
            "exit $rc\n")
        os.chmod(self.path, 0o755)

    def text(self) -> str:
        try:
            return self.log.read_text()
        except FileNotFoundError:
            return "(runsc-py was never called)"

    def argvs(self) -> list[list[str]]:
        out = []
        for line in self.text().splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1] == "call":
                out.append(parts[2].split())
        return out

    def commands(self) -> list[str]:
        """The runc commands called (create, start, state, ...), in order."""
        known = {"create", "start", "state", "kill", "delete", "exec", "ps", "events",
                 "pause", "resume", "update", "features", "run", "checkpoint", "restore",
                 "list", "spec"}
        cmds = []
        for argv in self.argvs():
            it = iter(argv)
            for a in it:
                if a in ("--root", "--log", "--log-format", "--criu"):
                    next(it, None)
                elif a in known:
                    cmds.append(a)
                    break
        return cmds


def kill_pid(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after `timeout`, the process `proc` (by its pid)."""
    if proc.poll() is not None:
        return
    kill_pid(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_pid(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _mounts_under(d: Path) -> list[str]:
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp == str(d) or mp.startswith(str(d) + "/"):
                    out.append(mp)
    except OSError:
        pass
    return out


def pids_touching(d: Path) -> list[int]:
    """Processes whose command line mentions `d` or whose cwd, root or executable is
    under it (a sentry may rename itself; a workload's root is a rootfs under d)."""
    found = set(pids_with_cmdline_containing(str(d)))
    prefix = str(d) + "/"
    for ent in os.listdir("/proc"):
        if not ent.isdigit() or int(ent) == os.getpid():
            continue
        for link in ("cwd", "root", "exe"):
            try:
                target = os.readlink(f"/proc/{ent}/{link}")
            except OSError:
                continue
            if target == str(d) or target.startswith(prefix):
                found.add(int(ent))
                break
    return sorted(found)


def cleanup_dir(d: Path) -> list[str]:
    """Kill (by pid) every process whose command line mentions `d` (shims, sandboxes,
    daemons left over), unmount what is mounted under it, remove it. Returns what had to
    be killed."""
    killed = []
    for _ in range(3):
        pids = [p for p in pids_touching(d) if p != os.getpid()]
        if not pids:
            break
        for pid in pids:
            try:
                killed.append(Path(f"/proc/{pid}/cmdline").read_bytes()
                              .replace(b"\0", b" ").decode(errors="replace")[:200])
            except OSError:
                pass
            kill_pid(pid)
        time.sleep(0.5)
    for mp in sorted(_mounts_under(d), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    return killed


def wait_for(pred, timeout: float, what: str, interval: float = 0.1, proc=None,
             log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(interval)
    tail = ""
    if log is not None and log.exists():
        tail = "\n--- log tail ---\n" + "\n".join(log.read_text(errors="replace")
                                                  .splitlines()[-40:])
    raise AssertionError(f"timed out waiting for {what}" + tail)


def http_get_in_netns(netns: str, url: str, timeout: float = 20) -> str:
    """An HTTP GET of `url` from the network namespace `netns` (a /proc/PID/ns/net path):
    the body, or "" if it failed until `timeout` (a server may still be starting)."""
    script = ("import sys, urllib.request\n"
              "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")
    deadline = time.monotonic() + timeout
    while True:
        p = subprocess.run(["nsenter", f"--net={netns}", sys.executable, "-c", script, url],
                           capture_output=True, text=True, timeout=30)
        if p.returncode == 0 or time.monotonic() > deadline:
            return p.stdout if p.returncode == 0 else ""
        time.sleep(0.5)


# --------------------------------------------------------------------------
# images, built offline

@dataclass
class OciImage:
    layout: Path          # OCI image layout dir, tags "latest" and "pause"
    oci_tar: Path         # tar of that layout (ctr images import, podman load)
    docker_tar: Path      # docker-archive of "latest" as runsc-py-test/busybox:latest
    name: str = "runsc-py-test/busybox"


def _run(*cmd, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n"
                             f"{p.stdout}\n{p.stderr}")
    return p


def build_oci_image(base: Path, helper_bin: Path) -> OciImage:
    need("umoci", "skopeo")
    rootfs = make_busybox_rootfs(base / "rootfs", helper=helper_bin)
    layout = base / "layout"
    _run("umoci", "init", "--layout", layout)
    _run("umoci", "new", "--image", f"{layout}:latest")
    bundle = base / "bundle"
    _run("umoci", "unpack", "--image", f"{layout}:latest", bundle)
    shutil.rmtree(bundle / "rootfs")
    _run("cp", "-a", rootfs, bundle / "rootfs")
    _run("umoci", "repack", "--image", f"{layout}:latest", bundle)
    env = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    _run("umoci", "config", "--image", f"{layout}:latest", "--config.env", env,
         "--config.cmd", "sh", "--config.workingdir", "/")
    _run("umoci", "config", "--image", f"{layout}:latest", "--tag", "pause",
         "--config.cmd", "sleep", "--config.cmd", "2147483647")
    _run("umoci", "gc", "--layout", layout)
    oci_tar = base / "image-oci.tar"
    _run("tar", "-C", layout, "-cf", oci_tar, ".")
    docker_tar = base / "image-docker.tar"
    _run("skopeo", "copy", "--quiet", f"oci:{layout}:latest",
         f"docker-archive:{docker_tar}:runsc-py-test/busybox:latest")
    shutil.rmtree(bundle, ignore_errors=True)
    return OciImage(layout, oci_tar, docker_tar)


# A pod network for the CRI's CNI step that touches nothing of the host: a veth pair with
# both ends inside the pod's network namespace and a link-local address.
CNI_CONF = {"cniVersion": "0.4.0", "name": "rsp-podnet",
            "plugins": [{"type": "rsp-podnet"}]}
CNI_PLUGIN = r"""#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
ADD)
  n="nsenter --net=$CNI_NETNS"
  $n ip link add "$CNI_IFNAME" type veth peer name rsp-peer0 >&2 || exit 1
  $n ip addr add 169.254.77.2/32 dev "$CNI_IFNAME" >&2 || exit 1
  $n ip link set rsp-peer0 up >&2; $n ip link set "$CNI_IFNAME" up >&2
  printf '{"cniVersion":"0.4.0","interfaces":[{"name":"%s","sandbox":"%s"}],' "$CNI_IFNAME" "$CNI_NETNS"
  printf '"ips":[{"version":"4","address":"169.254.77.2/32","interface":0}]}\n'
  ;;
VERSION) echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}' ;;
esac
exit 0
"""


def install_pod_network(cni_dir: Path, loopback: str) -> None:
    """The rsp-podnet plugin and its conflist under cni_dir/{bin,conf}, plus loopback."""
    plugin = cni_dir / "bin" / "rsp-podnet"
    plugin.write_text(CNI_PLUGIN)
    plugin.chmod(0o755)
    os.symlink(loopback, cni_dir / "bin" / "loopback")
    (cni_dir / "conf" / "10-rsp-podnet.conflist").write_text(json.dumps(CNI_CONF))
