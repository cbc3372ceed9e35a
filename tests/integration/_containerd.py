"""A private containerd on a unix socket in a temp dir, with a `runsc-py` runtime class
(io.containerd.runc.v2 shim, BinaryName = the recorder wrapper around runsc-py)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from _itutil import Recorder, cleanup_dir, stop_process, wait_for

NS = "rsptest"
CRI_NS = "k8s.io"
IMAGE = "docker.io/runsc-py-test/busybox"
SHIM_SOCKETS = Path("/run/containerd/s")


def _config(d: Path, binary: str, runtime_root: Path, cni_bin_dir: str) -> str:
    cri = '"io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{d}/c.sock"

[ttrpc]
  address = "{d}/c.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"
  level = "debug"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"
  [plugins.{cri}]
    restrict_oom_score_adj = true
    sandbox_image = "{IMAGE}:pause"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    disable_apparmor = true
    enable_selinux = false
    [plugins.{cri}.cni]
      bin_dir = "{cni_bin_dir}"
      conf_dir = "{d}/cni/conf"
    [plugins.{cri}.containerd]
      snapshotter = "native"
      default_runtime_name = "runc"
      [plugins.{cri}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.{cri}.containerd.runtimes.runc.options]
          Root = "{d}/runc-root"
      [plugins.{cri}.containerd.runtimes.runsc-py]
        runtime_type = "io.containerd.runc.v2"
        [plugins.{cri}.containerd.runtimes.runsc-py.options]
          BinaryName = "{binary}"
          Root = "{runtime_root}"
"""


class Containerd:
    def __init__(self, d: Path, recorder: Recorder, cni_bin_dir: str | None = None):
        self.dir = d
        self.recorder = recorder
        self.sock = d / "c.sock"
        self.log = d / "containerd.log"
        # short: runtimes keep per-container paths (even unix sockets) under it, and
        # CRI ids are 64 hex digits; containerd's default is /run/containerd/runc/<ns>
        self.runtime_root = d / "r"
        self.config = d / "config.toml"
        for sub in ("cni/bin", "cni/conf", "fifo", "logs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.config.write_text(_config(d, str(recorder.path), self.runtime_root,
                                             cni_bin_dir or f"{d}/cni/bin"))
        self.shim_sockets_before = set(os.listdir(SHIM_SOCKETS)) if SHIM_SOCKETS.is_dir() else set()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Containerd":
        env = dict(os.environ, CONTAINERD_SNAPSHOTTER="native")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(["containerd", "--config", str(self.config)],
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        wait_for(lambda: self.ctr("version", check=False, ns=None).returncode == 0,
                 30, "containerd to serve", interval=0.2, proc=self.proc, log=self.log)
        return self

    def ctr(self, *args, ns: str | None = NS, check: bool = True, timeout: float = 90,
            input: str | None = None) -> subprocess.CompletedProcess:
        cmd = ["ctr", "--address", str(self.sock)]
        if ns:
            cmd += ["-n", ns]
        cmd += [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           input=input, env=dict(os.environ, CONTAINERD_SNAPSHOTTER="native"))
        if check and p.returncode != 0:
            raise AssertionError(self.explain(
                f"{' '.join(cmd)} exited {p.returncode}\nstdout:\n{p.stdout}\n"
                f"stderr:\n{p.stderr}"))
        return p

    def import_image(self, oci_tar: Path, ns: str = NS) -> str:
        self.ctr("images", "import", "--base-name", IMAGE, "--snapshotter", "native",
                 oci_tar, ns=ns)
        return f"{IMAGE}:latest"

    def log_tail(self, n: int = 60, grep: str | None = None) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        if grep:
            lines = [ln for ln in lines if grep in ln]
        return "\n".join(lines[-n:])

    def explain(self, msg: str) -> str:
        return (f"{msg}\n--- runsc-py calls ({self.recorder.log}) ---\n"
                f"{self.recorder.text()[-6000:]}\n--- containerd log (errors) ---\n"
                f"{self.log_tail(40, grep='level=error')}\n--- runsc-py --log files ---\n"
                f"{shim_runtime_log(self)[-4000:]}")

    def stop(self) -> list[str]:
        """Kill every task, stop containerd by pid, kill what is left (shims,
        sandboxes) by pid. Returns descriptions of processes that had to be killed."""
        if self.proc is not None and self.proc.poll() is None:
            for ns in (NS, CRI_NS):
                p = self.ctr("tasks", "ls", "-q", ns=ns, check=False, timeout=20)
                for tid in p.stdout.split():
                    self.ctr("tasks", "kill", "-a", "-s", "SIGKILL", tid, ns=ns,
                             check=False, timeout=20)
                    self.ctr("tasks", "delete", "-f", tid, ns=ns, check=False, timeout=20)
                p = self.ctr("containers", "ls", "-q", ns=ns, check=False, timeout=20)
                for cid in p.stdout.split():
                    self.ctr("containers", "delete", cid, ns=ns, check=False, timeout=20)
        if self.proc is not None:
            stop_process(self.proc)
        killed = cleanup_dir(self.dir)
        if SHIM_SOCKETS.is_dir():
            for name in set(os.listdir(SHIM_SOCKETS)) - self.shim_sockets_before:
                try:
                    (SHIM_SOCKETS / name).unlink()
                except OSError:
                    pass
        return killed


def shim_runtime_log(c: Containerd) -> str:
    """The runtime's own `--log` files the shim passed (`log.json` in task bundles)."""
    out = []
    for p in (c.dir / "state").rglob("log.json"):
        try:
            out.append(f"== {p}\n" + p.read_text(errors="replace")[-3000:])
        except OSError:
            pass
    return "\n".join(out)


__all__ = ["Containerd", "NS", "CRI_NS", "IMAGE", "shim_runtime_log"]
