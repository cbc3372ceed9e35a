"""runsc-py through containerd's CRI endpoint, driven by a Python CRI client acting as
the kubelet: a pod sandbox with runtime_handler "runsc-py" (its pause container and app
containers run by runsc-py; the app containers join the pause container's namespaces by
path), exit codes, logs, ExecSync, stop and removal."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from _containerd import CRI_NS, IMAGE, Containerd
from _itutil import install_pod_network, need, wait_for

# The pod network: containerd's CRI wants an eth0 with an address in the pod's netns.
# This plugin makes one without touching the host: a veth pair with both ends inside
# the pod's netns and a link-local address (no route leaves the namespace).



@pytest.fixture(scope="module")
def cri_api():
    pytest.importorskip("grpc", reason="grpcio: pip install -e '.[test]'")
    from _cri import load_stubs

    return load_stubs()


class CRI:
    def __init__(self, c: Containerd, api):
        import grpc

        self.c = c
        self.pb, grpc_mod = api
        self.channel = grpc.insecure_channel(f"unix://{c.sock}")
        self.rt = grpc_mod.RuntimeServiceStub(self.channel)
        self.img = grpc_mod.ImageServiceStub(self.channel)
        self.pods: list[str] = []

    def call(self, method: str, request, timeout: float = 60):
        import grpc

        try:
            return getattr(self.rt, method)(request, timeout=timeout)
        except grpc.RpcError as e:
            raise AssertionError(self.c.explain(
                f"CRI {method} failed: {e.code()}: {e.details()}")) from None

    def cleanup(self) -> None:
        for pod in self.pods:
            for method in ("StopPodSandbox", "RemovePodSandbox"):
                req = getattr(self.pb, method + "Request")(pod_sandbox_id=pod)
                try:
                    getattr(self.rt, method)(req, timeout=30)
                except Exception:
                    pass
        self.channel.close()


# runc is the baseline: every check that passes with runc must pass with runsc-py.
@pytest.fixture(params=["runc", "runsc-py"])
def cri(request, workdir, recorder, oci_image, cri_api):
    need("containerd", "ctr", "containerd-shim-runc-v2")
    need("nsenter", "ip")
    c = Containerd(workdir, recorder)
    loopback = "/usr/lib/cni/loopback"  # containernetworking-plugins
    if not os.path.exists(loopback):
        pytest.skip("missing /usr/lib/cni/loopback: run scripts/install-deps.sh")
    install_pod_network(workdir / "cni", loopback)
    client = None
    try:
        c.start()
        c.import_image(oci_image.oci_tar, ns=CRI_NS)
        client = CRI(c, cri_api)
        client.handler = request.param
        if request.param == "runc":
            need("runc")
        yield client
    finally:
        if client is not None:
            client.cleanup()
        c.stop()


def _pod_config(pb, d, name: str, pid_mode: int):
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=uuid.uuid4().hex, namespace="default",
                                       attempt=0),
        hostname=name,
        log_directory=str(d / "logs" / name),
        linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=pb.NamespaceOption(network=pb.POD, pid=pid_mode, ipc=pb.POD))),
    )


def _container_config(pb, name: str, args: list[str], pid_mode: int):
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=name, attempt=0),
        image=pb.ImageSpec(image=f"{IMAGE}:latest"),
        command=args[:1], args=args[1:],
        log_path=f"{name}.log",
        linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
            namespace_options=pb.NamespaceOption(network=pb.POD, pid=pid_mode,
                                                 ipc=pb.POD))),
    )


def _run_pod(cri: CRI, name: str, pid_mode: int):
    pb = cri.pb
    v = cri.call("Version", pb.VersionRequest(version="v1"))
    assert v.runtime_name == "containerd"
    config = _pod_config(pb, cri.c.dir, name, pid_mode)
    (cri.c.dir / "logs" / name).mkdir(parents=True)
    pod = cri.call("RunPodSandbox", pb.RunPodSandboxRequest(
        config=config, runtime_handler=cri.handler), timeout=120).pod_sandbox_id
    cri.pods.append(pod)
    st = cri.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod))
    assert st.status.state == pb.SANDBOX_READY, cri.c.explain(f"pod status {st.status}")
    assert st.status.runtime_handler == cri.handler
    return pod, config


def _start_container(cri: CRI, pod: str, config, name: str, args: list[str]) -> str:
    pb = cri.pb
    pid_mode = config.linux.security_context.namespace_options.pid
    cid = cri.call("CreateContainer", pb.CreateContainerRequest(
        pod_sandbox_id=pod, config=_container_config(pb, name, args, pid_mode),
        sandbox_config=config)).container_id
    cri.call("StartContainer", pb.StartContainerRequest(container_id=cid))
    return cid


def _wait_exited(cri: CRI, cid: str, timeout: float = 60):
    pb = cri.pb

    def exited():
        s = cri.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid)).status
        return s if s.state == pb.CONTAINER_EXITED else None

    return wait_for(exited, timeout, f"container {cid[:12]} to exit",
                    log=cri.c.recorder.log)


def _cri_log_lines(path: str) -> list[str]:
    """The message part of CRI log lines: `<time> <stream> <F|P> <message>`."""
    out = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 3)
            if len(parts) == 4:
                out.append(parts[3])
    return out


def _pod_netns(cri: CRI, pod: str) -> str:
    pb = cri.pb
    st = cri.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod,
                                                                 verbose=True))
    spec = json.loads(st.info["info"])["runtimeSpec"]
    return next(n["path"] for n in spec["linux"]["namespaces"] if n["type"] == "network")


def _ns(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _pids_by_cmdline(cmdline: str) -> list[int]:
    out = []
    for ent in os.listdir("/proc"):
        if ent.isdigit():
            try:
                with open(f"/proc/{ent}/cmdline", "rb") as f:
                    if f.read().rstrip(b"\0").replace(b"\0", b" ").decode() == cmdline:
                        out.append(int(ent))
            except OSError:
                pass
    return out


def _workload(cri: CRI, cmdline: str, netns: str | None = None) -> int:
    """The host pid of the workload process running `cmdline` (in `netns` if given)."""
    want = f"net:[{os.stat(netns).st_ino}]" if netns else None

    def find():
        pids = [p for p in _pids_by_cmdline(cmdline) if want is None or _ns(p, "net") == want]
        return pids[0] if len(pids) == 1 else None

    return wait_for(find, 10, f"one process {cmdline!r}" + (f" in {netns}" if netns else ""))


def _namespace_report(cri: CRI, app: int, pause: int) -> str:
    kinds = ("net", "ipc", "uts", "pid")
    rows = [f"{k}: pause={_ns(pause, k)} app={_ns(app, k)} host={_ns(os.getpid(), k)}"
            for k in kinds]
    return cri.c.explain("namespaces (workload processes, host side):\n" + "\n".join(rows))


def test_cri_pod_lifecycle(cri):
    pb = cri.pb
    pod, config = _run_pod(cri, "rsp-pod1", pid_mode=pb.CONTAINER)
    netns = _pod_netns(cri, pod)
    pause = _workload(cri, "sleep 2147483647", netns)

    cid = _start_container(cri, pod, config, "app",
                           ["sh", "-c", "echo hi; echo oops >&2; exit 3"])
    st = _wait_exited(cri, cid)
    assert st.exit_code == 3, cri.c.explain(f"status {st}")
    assert st.log_path
    lines = wait_for(lambda: _cri_log_lines(st.log_path) or None, 10, "container log")
    assert "hi" in lines and "oops" in lines, f"log {st.log_path}: {lines}"

    # a long-running container: ExecSync into it
    cid2 = _start_container(cri, pod, config, "sleeper", ["sleep", "1001"])
    s = cri.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid2)).status
    assert s.state == pb.CONTAINER_RUNNING, cri.c.explain(f"status {s}")
    r = cri.call("ExecSync", pb.ExecSyncRequest(
        container_id=cid2, cmd=["sh", "-c", "echo from-exec; echo e >&2; exit 7"],
        timeout=30))
    assert r.exit_code == 7, cri.c.explain(f"ExecSync {r}")
    assert r.stdout == b"from-exec\n" and r.stderr == b"e\n", cri.c.explain(f"ExecSync {r}")

    # The app container joins the pause container's net, ipc and uts namespaces (the
    # CRI gives it /proc/<pid in the pause's init.pid>/ns/<kind> paths) and keeps a pid
    # namespace of its own (pid=CONTAINER).
    app = _workload(cri, "sleep 1001")
    report = _namespace_report(cri, app, pause)
    for kind in ("net", "ipc", "uts"):
        assert _ns(app, kind) == _ns(pause, kind), f"{kind} not shared\n{report}"
    assert _ns(app, "net") == f"net:[{os.stat(netns).st_ino}]", report
    assert _ns(app, "pid") not in (_ns(pause, "pid"), _ns(os.getpid(), "pid")), report
    r = cri.call("ExecSync", pb.ExecSyncRequest(container_id=cid2, cmd=["hostname"],
                                                timeout=30))
    assert r.stdout.decode().strip() == "rsp-pod1", cri.c.explain(
        f"hostname in the app container: {r.stdout!r} (the pod's is rsp-pod1)")

    cri.call("StopContainer", pb.StopContainerRequest(container_id=cid2, timeout=2))
    st2 = _wait_exited(cri, cid2)
    assert st2.exit_code in (137, 143), cri.c.explain(f"status {st2}")

    cri.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod))
    st = cri.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod))
    assert st.status.state == pb.SANDBOX_NOTREADY
    cri.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
    cri.pods.remove(pod)
    left = cri.call("ListContainers", pb.ListContainersRequest()).containers
    assert not [c for c in left if c.pod_sandbox_id == pod]
    if cri.handler == "runsc-py":
        cmds = cri.c.recorder.commands()
        for cmd in ("create", "start", "exec", "kill", "delete"):
            assert cmd in cmds, cri.c.explain(f"{cmd} never called: {cmds}")


def test_cri_pod_shared_pid_namespace(cri):
    """pid=POD: app containers join the pause container's pid namespace by path and
    each still has its own init whose exit code the shim reports."""
    pb = cri.pb
    pod, config = _run_pod(cri, "rsp-pod2", pid_mode=pb.POD)
    pause = _workload(cri, "sleep 2147483647", _pod_netns(cri, pod))
    cid = _start_container(cri, pod, config, "sleeper", ["sleep", "1002"])
    app = _workload(cri, "sleep 1002")
    report = _namespace_report(cri, app, pause)
    for kind in ("net", "ipc", "uts", "pid"):
        assert _ns(app, kind) == _ns(pause, kind), f"{kind} not shared\n{report}"

    r = cri.call("ExecSync", pb.ExecSyncRequest(container_id=cid, cmd=["ps", "-o", "args"],
                                                timeout=30))
    assert r.exit_code == 0, cri.c.explain(f"ExecSync ps {r}")
    procs = sorted(ln.strip() for ln in r.stdout.decode().splitlines()[1:])
    assert procs == ["ps -o args", "sleep 1002", "sleep 2147483647"], cri.c.explain(
        f"ps in a pid=POD container shows: {procs[:20]}")
    cid2 = _start_container(cri, pod, config, "quick", ["sh", "-c", "exit 9"])
    st = _wait_exited(cri, cid2)
    assert st.exit_code == 9, cri.c.explain(f"status {st}")
    cri.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod))
    cri.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
    cri.pods.remove(pod)
