"""A real single-node Kubernetes 1.20 on loopback for the integration tests: Debian's
`etcd-server`, kube-apiserver, kubelet and kubectl built from Debian's `kubernetes`
source package (scripts/build-kubernetes.sh, cached in /var/cache/runsc-py-k8s/<version>),
and the private containerd of _containerd.py (its CRI endpoint, with the `runsc-py`
runtime class) as the kubelet's remote runtime.

No scheduler and no controller-manager: pods are bound by `spec.nodeName`, the
ServiceAccount admission plugin is off (nothing would create service accounts). The
apiserver serves HTTPS on 127.0.0.1 only (1.20 refuses a non-zero `--insecure-port`)
with a self-signed serving cert it makes in the temp dir, a static bearer token
(`--token-auth-file`, used by the kubelet and kubectl through a kubeconfig with
insecure-skip-tls-verify) and AlwaysAllow. The node is named
`localhost` so that the apiserver reaches the kubelet (for logs and exec) on 127.0.0.1
(`--kubelet-preferred-address-types=Hostname`; the kubelet refuses a loopback node IP).

Host state the kubelet touches and how it is put back at stop():
  - the kernel tunables it sets (vm.overcommit_memory, kernel.panic, ...): saved before,
    restored after;
  - /var/log/pods/<ns>_<pod>_<uid> and /var/log/containers/*.log (fixed paths in 1.20):
    the entries that appeared while it ran are removed.
Everything else (root dir, certs, volume plugin dir, etcd data) is in the temp dir;
every process is stopped by pid.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

from _containerd import IMAGE, Containerd
from _itutil import stop_process, wait_for

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-kubernetes.sh"
NODE = "localhost"
POD_IMAGE = f"{IMAGE}:latest"
PAUSE_IMAGE = f"{IMAGE}:pause"

# What the kubelet's container manager writes (pkg/kubelet/cm, setupKernelTunables).
KERNEL_TUNABLES = ["vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic",
                   "kernel/panic_on_oops", "kernel/keys/root_maxkeys",
                   "kernel/keys/root_maxbytes"]
LOG_DIRS = [Path("/var/log/pods"), Path("/var/log/containers")]


def build_kubernetes(timeout: float = 45 * 60) -> Path:
    """The directory with kubelet, kube-apiserver and kubectl (built once, then cached)."""
    t0 = time.monotonic()
    p = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"{BUILD_SCRIPT} exited {p.returncode}:\n"
                             f"{p.stderr[-6000:]}\n{p.stdout[-2000:]}")
    bin_dir = Path(p.stdout.strip().splitlines()[-1])
    for b in ("kubelet", "kube-apiserver", "kubectl"):
        assert (bin_dir / b).is_file(), f"{BUILD_SCRIPT}: no {b} in {bin_dir}"
    took = time.monotonic() - t0
    if took > 30:
        print(f"built Kubernetes in {took:.0f}s: {bin_dir}")
    return bin_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# cadvisor's complaints about the host's other cgroups (this host has no perf_event)
_NOISE = ("perf_event cgroup path", "Failed to get RecentStats", "unable to find data in memory cache")


def _read_tail(path: Path, n: int = 40, grep: tuple[str, ...] = ()) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    if grep:
        lines = [ln for ln in lines if any(g in ln for g in grep)
                 and not any(x in ln for x in _NOISE)]
    return "\n".join(lines[-n:])


class Kubernetes:
    def __init__(self, d: Path, bin_dir: Path, containerd: Containerd):
        self.dir = d
        self.bin = bin_dir
        self.containerd = containerd
        self.procs: dict[str, subprocess.Popen] = {}
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.api_port = free_port()
        self.token = uuid.uuid4().hex
        self.kubelet_port = free_port()
        self.kubelet_healthz_port = free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        self.kubeconfig = d / "kubeconfig"
        self.saved_tunables: dict[str, str] = {}
        self.log_entries_before: dict[Path, set[str] | None] = {}

    # ------------------------------------------------------------------ start
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = self.dir / f"{name}.log"
        with open(log, "wb") as f:
            p = subprocess.Popen([str(a) for a in argv], stdout=f, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = p
        return p

    def start(self) -> "Kubernetes":
        d = self.dir
        for t in KERNEL_TUNABLES:
            try:
                self.saved_tunables[t] = Path("/proc/sys", t).read_text().strip()
            except OSError:
                pass
        for ld in LOG_DIRS:
            self.log_entries_before[ld] = set(os.listdir(ld)) if ld.is_dir() else None

        etcd = self._spawn("etcd", [
            "etcd", "--name", "rsp", "--data-dir", d / "etcd",
            "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-cluster", f"rsp=http://127.0.0.1:{self.etcd_peer_port}",
            "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}"])
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{self.etcd_port}/health"), 30,
                 "etcd to serve", interval=0.2, proc=etcd, log=d / "etcd.log")

        sa_key = d / "sa.key"
        subprocess.run(["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True,
                       capture_output=True)
        token_file = d / "tokens.csv"
        token_file.write_text(f"{self.token},admin,admin,system:masters\n")
        token_file.chmod(0o600)
        api = self._spawn("kube-apiserver", [
            self.bin / "kube-apiserver",
            "--etcd-servers", f"http://127.0.0.1:{self.etcd_port}",
            # 1.20 takes --insecure-port=0 only: HTTPS with a self-signed serving cert
            # (made in --cert-dir) and a static bearer token
            "--insecure-port=0",
            "--bind-address", "127.0.0.1", "--secure-port", self.api_port,
            "--cert-dir", d / "apiserver-certs", "--token-auth-file", token_file,
            "--endpoint-reconciler-type", "none",
            "--service-cluster-ip-range", "10.251.0.0/24",
            "--service-account-key-file", sa_key,
            "--service-account-signing-key-file", sa_key,
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--authorization-mode", "AlwaysAllow",
            "--disable-admission-plugins", "ServiceAccount",
            "--kubelet-preferred-address-types", "Hostname",
            "--enable-priority-and-fairness=false",
            "--profiling=false", "--logtostderr", "--v=1"])
        wait_for(lambda: _http_ok(f"{self.server}/readyz", self.token), 90, "kube-apiserver to be ready",
                 interval=0.5, proc=api, log=d / "kube-apiserver.log")

        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "rsp", "cluster": {"server": self.server,
                                                     "insecure-skip-tls-verify": True}}],
            "users": [{"name": "rsp", "user": {"token": self.token}}],
            "contexts": [{"name": "rsp", "context": {"cluster": "rsp", "user": "rsp"}}],
            "current-context": "rsp"}))

        root = d / "kubelet"
        kubelet = self._spawn("kubelet", [
            self.bin / "kubelet",
            "--kubeconfig", self.kubeconfig,
            "--container-runtime=remote",
            f"--container-runtime-endpoint=unix://{self.containerd.sock}",
            "--runtime-request-timeout=5m",
            "--root-dir", root, "--cert-dir", root / "pki",
            "--volume-plugin-dir", root / "volume-plugins",
            "--hostname-override", NODE, "--register-node=true",
            "--address", "127.0.0.1", "--port", self.kubelet_port, "--read-only-port=0",
            "--healthz-bind-address", "127.0.0.1", "--healthz-port", self.kubelet_healthz_port,
            "--anonymous-auth=true", "--authorization-mode=AlwaysAllow",
            # this host: cgroup v1 inside a VM without CAP_SYS_RESOURCE, no swap policy
            "--fail-swap-on=false", "--cgroup-driver=cgroupfs",
            "--cgroups-per-qos=false", "--enforce-node-allocatable=",
            "--oom-score-adj=0", "--protect-kernel-defaults=false",
            "--make-iptables-util-chains=false",
            "--pod-infra-container-image", PAUSE_IMAGE,
            # the offline images must never be garbage-collected
            "--image-gc-high-threshold=100", "--image-gc-low-threshold=99",
            "--eviction-hard=memory.available<1Mi",
            "--serialize-image-pulls=false",
            "--logtostderr", "--v=2"])
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{self.kubelet_healthz_port}/healthz"),
                 90, "kubelet healthz", interval=0.5, proc=kubelet, log=d / "kubelet.log")
        wait_for(self.node_ready, 120, f"node {NODE} Ready", interval=1, proc=kubelet,
                 log=d / "kubelet.log")
        return self

    def node_ready(self) -> bool:
        p = self.kubectl("get", "node", NODE, "-o",
                         'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
                         check=False)
        return p.returncode == 0 and p.stdout.strip() == "True"

    # ------------------------------------------------------------------ use
    def kubectl(self, *args, check: bool = True, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / "kubectl"), "--kubeconfig", str(self.kubeconfig),
               *[str(a) for a in args]]
        p = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(self.explain(
                f"{' '.join(cmd[3:])} exited {p.returncode}\nstdout:\n{p.stdout}\n"
                f"stderr:\n{p.stderr}"))
        return p

    def apply(self, obj: dict) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def get(self, kind: str, name: str, check: bool = True) -> dict | None:
        p = self.kubectl("get", kind, name, "-o", "json", check=check)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def explain(self, msg: str) -> str:
        errs = ("E1", "E0", "W1", "W0", "rror", "ailed")
        return (f"{msg}\n--- kubelet log (errors, warnings) ---\n"
                f"{_read_tail(self.dir / 'kubelet.log', 40, errs)}\n"
                f"--- kube-apiserver log (errors) ---\n"
                f"{_read_tail(self.dir / 'kube-apiserver.log', 15, ('E1', 'E0'))}\n"
                + self.containerd.explain("(containerd)"))

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        # kubelet first (it would restart what containerd stops), then the control plane
        for name in ("kubelet", "kube-apiserver", "etcd"):
            p = self.procs.get(name)
            if p is not None:
                stop_process(p)
        for t, v in self.saved_tunables.items():
            try:
                path = Path("/proc/sys", t)
                if path.read_text().strip() != v:
                    path.write_text(v + "\n")
            except OSError:
                pass
        import shutil

        for ld, before in self.log_entries_before.items():
            if not ld.is_dir():
                continue
            for name in set(os.listdir(ld)) - (before or set()):
                p = ld / name
                if p.is_symlink() or p.is_file():
                    p.unlink(missing_ok=True)
                else:
                    shutil.rmtree(p, ignore_errors=True)
            if before is None:      # the kubelet made the directory
                try:
                    ld.rmdir()
                except OSError:
                    pass


def _http_ok(url: str, token: str | None = None) -> bool:
    import ssl
    import urllib.request

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE   # the apiserver's self-signed cert
    try:
        req = urllib.request.Request(url)
        if token:   # with AlwaysAllow the apiserver turns anonymous requests away
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=2, context=ctx) as r:
            return r.status == 200
    except Exception:
        return False


__all__ = ["Kubernetes", "build_kubernetes", "NODE", "POD_IMAGE", "PAUSE_IMAGE"]
