"""runsc-py under a real single-node Kubernetes 1.20 (see _kubernetes.py): etcd,
kube-apiserver and a kubelet whose remote runtime is the private containerd with a
`runsc-py` runtime class; a `RuntimeClass` (handler runsc-py) selects it for pods with
`runtimeClassName: runsc-py`. Pods run, log, exit with their codes, take `kubectl exec`
and stop when deleted. The same pods without runtimeClassName run under runc (the
baseline: every check that passes with runc must pass with runsc-py).

The kubelet, kube-apiserver and kubectl are built from Debian's `kubernetes` source
package by scripts/build-kubernetes.sh the first time (several minutes), then cached
in /var/cache/runsc-py-k8s/<version>."""
from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

import pytest

from _containerd import CRI_NS, Containerd
from _itutil import Recorder, cleanup_dir, install_pod_network, need, wait_for
from _kubernetes import NODE, POD_IMAGE, Kubernetes, build_kubernetes
from helpers import pids_with_cmdline_containing

# The pod network: the same private plugin as test_cri.py (a veth pair with both ends
# inside the pod's netns, a link-local address; the host is not touched).


# container states the kubelet would only retry: the runtime refused the container
FATAL_WAITING = {"RunContainerError", "CreateContainerError", "CreateContainerConfigError",
                 "ErrImageNeverPull", "InvalidImageName", "CrashLoopBackOff"}

RUNTIME_CLASS_MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "runtimeclass.yaml"


@pytest.fixture(scope="module")
def cri_api():
    pytest.importorskip("grpc", reason="grpcio: pip install -e '.[test]'")
    from _cri import load_stubs

    return load_stubs()


@pytest.fixture(scope="module")
def k8s(runsc_binary, oci_image):
    need("containerd", "ctr", "containerd-shim-runc-v2", "runc", "etcd", "openssl",
         "nsenter", "ip")
    loopback = "/usr/lib/cni/loopback"  # containernetworking-plugins
    if not os.path.exists(loopback):
        pytest.skip("missing /usr/lib/cni/loopback: run scripts/install-deps.sh")
    bin_dir = build_kubernetes()
    d = Path(tempfile.mkdtemp(prefix="rsp-k8s-", dir="/tmp"))
    os.chmod(d, 0o755)
    (d / "rec").mkdir()
    c = Containerd(d, Recorder(d / "rec", runsc_binary))
    install_pod_network(d / "cni", loopback)
    k = Kubernetes(d, bin_dir, c)
    try:
        c.start()
        c.import_image(oci_image.oci_tar, ns=CRI_NS)
        k.start()
        # the RuntimeClass users apply (deploy/runtimeclass.yaml: handler runsc-py,
        # overhead, a node selector on runsc-py.io/enabled=true); the node is labelled
        # as deploy/README.md says
        k.kubectl("label", "node", NODE, "runsc-py.io/enabled=true")
        k.kubectl("apply", "-f", RUNTIME_CLASS_MANIFEST)
        rc = k.get("runtimeclass", "runsc-py")
        assert rc["handler"] == "runsc-py", rc
        yield k
    finally:
        if "kubelet" in k.procs:    # let the kubelet stop what is left, then kill by pid
            try:
                k.kubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s",
                          check=False)
            except Exception:
                pass
        k.stop()
        c.stop()
        cleanup_dir(d)


class Pods:
    """Pods of one test, deleted at its end."""

    def __init__(self, k: Kubernetes, runtime_class: str | None, cri_api):
        self.k = k
        self.runtime_class = runtime_class
        self.names: list[str] = []
        self.pb, grpc_mod = cri_api
        import grpc

        self.channel = grpc.insecure_channel(f"unix://{k.containerd.sock}")
        self.rt = grpc_mod.RuntimeServiceStub(self.channel)

    def create(self, base: str, command: list[str], restart: str = "Never") -> str:
        name = f"{base}-{uuid.uuid4().hex[:6]}"
        spec = {
            "nodeName": NODE,
            "restartPolicy": restart,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "main", "image": POD_IMAGE, "imagePullPolicy": "Never",
                            "command": command}],
        }
        if self.runtime_class:
            spec["runtimeClassName"] = self.runtime_class
        self.k.apply({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": name, "namespace": "default"}, "spec": spec})
        self.names.append(name)
        return name

    def get(self, name: str) -> dict:
        return self.k.get("pod", name)

    def wait_phase(self, name: str, phases: tuple[str, ...], timeout: float = 120) -> dict:
        def check():
            pod = self.get(name)
            phase = pod["status"].get("phase")
            if phase in phases:
                return pod
            if phase in ("Failed", "Succeeded"):
                raise AssertionError(f"pod {name} ended ({phase}), wanted {phases}")
            for cs in pod["status"].get("containerStatuses", []):
                waiting = cs.get("state", {}).get("waiting") or {}
                if waiting.get("reason") in FATAL_WAITING:
                    raise AssertionError(f"pod {name}: container {cs['name']} "
                                         f"{waiting['reason']}: {waiting.get('message')}")
            return None

        try:
            return wait_for(check, timeout, f"pod {name} in {phases}", interval=1)
        except AssertionError as e:
            pod = self.k.get("pod", name, check=False)
            ev = self.k.kubectl("get", "events", "--field-selector",
                                f"involvedObject.name={name}", check=False).stdout
            raise AssertionError(self.k.explain(
                f"{e}\npod status: {json.dumps(pod and pod.get('status'), indent=1)}\n"
                f"events:\n{ev}")) from None

    def sandboxes(self, uid: str) -> list:
        req = self.pb.ListPodSandboxRequest(filter=self.pb.PodSandboxFilter(
            label_selector={"io.kubernetes.pod.uid": uid}))
        return list(self.rt.ListPodSandbox(req, timeout=30).items)

    def cleanup(self) -> None:
        for name in self.names:
            self.k.kubectl("delete", "pod", name, "--grace-period=1", "--timeout=60s",
                           "--ignore-not-found", check=False)
        self.channel.close()


@pytest.fixture(params=["runc", "runsc-py"])
def pods(request, k8s, cri_api):
    p = Pods(k8s, None if request.param == "runc" else "runsc-py", cri_api)
    p.handler = request.param
    try:
        yield p
    finally:
        p.cleanup()


def _pids_running(argv: list[str]) -> list[int]:
    want = "\0".join(argv).encode() + b"\0"
    out = []
    for ent in os.listdir("/proc"):
        if ent.isdigit():
            try:
                if Path(f"/proc/{ent}/cmdline").read_bytes() == want:
                    out.append(int(ent))
            except OSError:
                pass
    return out


def _container_id(pod: dict) -> str:
    cid = pod["status"]["containerStatuses"][0]["containerID"]
    assert cid.startswith("containerd://"), cid
    return cid[len("containerd://"):]


def _check_handler(pods: Pods, pod: dict) -> str:
    """The pod's sandbox was created by containerd with the expected runtime handler;
    for runsc-py, the recorder saw runsc-py create both the sandbox and the container.
    Returns the sandbox id."""
    k = pods.k
    sbs = pods.sandboxes(pod["metadata"]["uid"])
    assert len(sbs) == 1, k.explain(f"sandboxes of {pod['metadata']['name']}: {sbs}")
    sb = sbs[0]
    handler = getattr(sb, "runtime_handler", "")
    want = "" if pods.handler == "runc" else "runsc-py"
    assert handler in ((want, "runc") if pods.handler == "runc" else (want,)), \
        k.explain(f"sandbox {sb.id[:12]} runtime_handler={handler!r}, want {want!r}")
    if pods.handler == "runsc-py":
        # the RuntimeClass admission plugin put the class's overhead and node selector
        rc = k.get("runtimeclass", "runsc-py")
        assert pod["spec"].get("overhead") == rc["overhead"]["podFixed"], pod["spec"]
        for key, v in rc["scheduling"]["nodeSelector"].items():
            assert pod["spec"].get("nodeSelector", {}).get(key) == v, pod["spec"]
    cid = _container_id(pod)
    created = {a[-1] for a in k.containerd.recorder.argvs() if "create" in a}
    if pods.handler == "runsc-py":
        assert sb.id in created and cid in created, k.explain(
            f"runsc-py create not called for sandbox {sb.id[:12]} / container {cid[:12]}: "
            f"{sorted(x[:12] for x in created)}")
    else:
        assert sb.id not in created and cid not in created, k.explain(
            f"runsc-py was called for a runc pod ({sb.id[:12]} / {cid[:12]})")
    return sb.id


def test_pod_exit_code_and_logs(pods):
    k = pods.k
    name = pods.create("rsp-exit", ["sh", "-c", "echo hello; exit 3"])
    pod = pods.wait_phase(name, ("Failed", "Succeeded"))
    assert pod["status"]["phase"] == "Failed", k.explain(json.dumps(pod["status"]))
    term = pod["status"]["containerStatuses"][0]["state"].get("terminated")
    assert term and term["exitCode"] == 3, k.explain(
        f"container state {json.dumps(term)}, want exitCode 3\n"
        f"pod status: {json.dumps(pod['status'])}")
    logs = k.kubectl("logs", name).stdout
    assert logs == "hello\n", k.explain(f"kubectl logs {name}: {logs!r}")
    _check_handler(pods, pod)

    name2 = pods.create("rsp-ok", ["sh", "-c", "echo fine"])
    pod2 = pods.wait_phase(name2, ("Failed", "Succeeded"))
    assert pod2["status"]["phase"] == "Succeeded", k.explain(json.dumps(pod2["status"]))
    assert k.kubectl("logs", name2).stdout == "fine\n"


def test_pod_exec_and_delete(pods):
    k = pods.k
    name = pods.create("rsp-sleeper", ["sleep", "1003"])
    pod = pods.wait_phase(name, ("Running",))
    sandbox = _check_handler(pods, pod)
    cid = _container_id(pod)

    r = k.kubectl("exec", name, "--", "sh", "-c", "echo in-exec; echo err >&2; exit 4",
                  check=False)
    assert r.returncode == 4, k.explain(f"kubectl exec rc={r.returncode}\n{r.stdout}\n"
                                        f"{r.stderr}")
    assert r.stdout == "in-exec\n", k.explain(f"kubectl exec stdout {r.stdout!r}")
    assert "err" in r.stderr, r.stderr
    r = k.kubectl("exec", name, "--", "hostname")
    assert r.stdout.strip() == name
    if pods.handler == "runsc-py":
        assert "exec" in k.containerd.recorder.commands(), k.explain("runsc-py exec not called")

    # the shim of the pod mentions its sandbox id; its workload is `sleep 1003`
    assert pids_with_cmdline_containing(sandbox), k.explain(f"no process for {sandbox}")
    assert _pids_running(["sleep", "1003"]), k.explain("no `sleep 1003` process")
    k.kubectl("delete", "pod", name, "--grace-period=2", "--timeout=90s")
    assert k.get("pod", name, check=False) is None
    wait_for(lambda: not pids_with_cmdline_containing(sandbox)
             and not pids_with_cmdline_containing(cid), 60,
             f"the processes of pod {name} (sandbox {sandbox[:12]}) to be gone")
    wait_for(lambda: not _pids_running(["sleep", "1003"]), 30,
             "the workload `sleep 1003` to be gone")
    tasks = k.containerd.ctr("tasks", "ls", "-q", ns=CRI_NS).stdout.split()
    assert sandbox not in tasks and cid not in tasks, k.explain(f"tasks left: {tasks}")
    if pods.handler == "runsc-py":
        for cmd in ("kill", "delete"):
            assert cmd in k.containerd.recorder.commands(), k.explain(f"no runsc-py {cmd}")
