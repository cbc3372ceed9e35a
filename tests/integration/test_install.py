"""runsc_py.install: registering runsc-py with containerd (config.toml) and Docker
(daemon.json), merging with what is there and keeping a backup."""
from __future__ import annotations

import json
import shutil
import subprocess
import tomllib

import pytest

from runsc_py.errors import RuntimeFailure
from runsc_py.install import install

BIN = "/usr/local/bin/runsc-py"
CRI = "io.containerd.grpc.v1.cri"


def _entry(doc: dict, name: str = "runsc-py", plugin: str = CRI) -> dict:
    return doc["plugins"][plugin]["containerd"]["runtimes"][name]


def test_containerd_new_file(tmp_path):
    cfg = tmp_path / "etc" / "config.toml"
    report = install("containerd", str(cfg), "runsc-py", False, BIN)
    doc = tomllib.loads(cfg.read_text())
    assert doc["version"] == 2
    assert _entry(doc) == {"runtime_type": "io.containerd.runc.v2",
                           "options": {"BinaryName": BIN}}
    assert not (tmp_path / "etc" / "config.toml.bak").exists()
    assert "restart containerd" in report


DEBIAN_DEFAULT = """version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.6"
    # a comment that must survive
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
"""


def test_containerd_merge_keeps_everything_else(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(DEBIAN_DEFAULT)
    install("containerd", str(cfg), "runsc-py", False, BIN)
    text = cfg.read_text()
    assert text.startswith(DEBIAN_DEFAULT)  # appended, nothing rewritten
    assert "# a comment that must survive" in text
    doc = tomllib.loads(text)
    assert _entry(doc)["options"]["BinaryName"] == BIN
    assert _entry(doc, "runc")["options"] == {"SystemdCgroup": True}
    assert doc["plugins"][CRI]["sandbox_image"] == "registry.k8s.io/pause:3.6"
    assert (tmp_path / "config.toml.bak").read_text() == DEBIAN_DEFAULT


def test_containerd_replaces_an_earlier_entry(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(DEBIAN_DEFAULT)
    install("containerd", str(cfg), "runsc-py", False, "/old/runsc-py")
    first = cfg.read_text()
    install("containerd", str(cfg), "runsc-py", False, BIN)
    text = cfg.read_text()
    assert text.count("runtimes.runsc-py]") == 1
    assert text.count("runtimes.runsc-py.options]") == 1
    assert "/old/runsc-py" not in text
    assert _entry(tomllib.loads(text))["options"]["BinaryName"] == BIN
    assert (tmp_path / "config.toml.bak").read_text() == first


def test_containerd_entry_in_the_middle_keeps_extra_keys(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""version = 2
[plugins."{CRI}".containerd.runtimes."runsc-py"]
  runtime_type = "io.containerd.runsc.v1"
  privileged_without_host_devices = true
[plugins."{CRI}".containerd.runtimes."runsc-py".options]
  BinaryName = "/elsewhere"
  Root = "/run/x"
[plugins."{CRI}".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
""")
    install("containerd", str(cfg), "runsc-py", False, BIN)
    doc = tomllib.loads(cfg.read_text())
    e = _entry(doc)
    assert e["runtime_type"] == "io.containerd.runc.v2"
    assert e["privileged_without_host_devices"] is True
    assert e["options"] == {"BinaryName": BIN}
    assert _entry(doc, "runc") == {"runtime_type": "io.containerd.runc.v2"}


def test_containerd_other_name_and_version3(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('version = 3\n[plugins."io.containerd.cri.v1.runtime"]\n'
                   '  enable_selinux = false\n')
    install("containerd", str(cfg), "sandboxed", False, BIN)
    doc = tomllib.loads(cfg.read_text())
    assert _entry(doc, "sandboxed", "io.containerd.cri.v1.runtime")["options"] == {
        "BinaryName": BIN}


def test_containerd_version1_uses_the_cri_plugin_name(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('root = "/var/lib/containerd"\n')
    install("containerd", str(cfg), "runsc-py", False, BIN)
    doc = tomllib.loads(cfg.read_text())
    assert _entry(doc, plugin="cri")["runtime_type"] == "io.containerd.runc.v2"
    assert doc["root"] == "/var/lib/containerd"


def test_containerd_dry_run_writes_nothing(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(DEBIAN_DEFAULT)
    text = install("containerd", str(cfg), "runsc-py", True, BIN)
    assert cfg.read_text() == DEBIAN_DEFAULT
    assert not (tmp_path / "config.toml.bak").exists()
    assert _entry(tomllib.loads(text))["options"]["BinaryName"] == BIN
    # dry run of a missing file prints a whole config and creates nothing
    text = install("containerd", str(tmp_path / "none.toml"), "runsc-py", True, BIN)
    assert tomllib.loads(text)["version"] == 2
    assert not (tmp_path / "none.toml").exists()


def test_containerd_warns_when_cri_is_disabled(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('version = 2\ndisabled_plugins = ["cri"]\n')
    report = install("containerd", str(cfg), "runsc-py", False, BIN)
    assert "disables the CRI plugin" in report


def test_containerd_refuses_what_it_cannot_merge(tmp_path):
    cfg = tmp_path / "config.toml"
    original = (f'version = 2\n[plugins."{CRI}".containerd]\n'
                '  runtimes = { "runsc-py" = { runtime_type = "x" } }\n')
    cfg.write_text(original)
    with pytest.raises(RuntimeFailure, match="add it by hand"):
        install("containerd", str(cfg), "runsc-py", False, BIN)
    assert cfg.read_text() == original
    cfg.write_text("not = [toml")
    with pytest.raises(RuntimeFailure, match="invalid TOML"):
        install("containerd", str(cfg), "runsc-py", False, BIN)


def test_bad_arguments(tmp_path):
    with pytest.raises(RuntimeFailure, match="unknown target"):
        install("cri-o", None, "runsc-py", True, BIN)
    with pytest.raises(RuntimeFailure, match="absolute"):
        install("docker", str(tmp_path / "d.json"), "runsc-py", True, "runsc-py")
    with pytest.raises(RuntimeFailure, match="invalid runtime name"):
        install("docker", str(tmp_path / "d.json"), "a b", True, BIN)


def test_docker_new_and_merge(tmp_path):
    cfg = tmp_path / "docker" / "daemon.json"
    install("docker", str(cfg), "runsc-py", False, BIN)
    assert json.loads(cfg.read_text()) == {"runtimes": {"runsc-py": {"path": BIN}}}

    cfg.write_text(json.dumps({"log-driver": "journald", "runtimes": {
        "runsc": {"path": "/usr/bin/runsc"},
        "runsc-py": {"path": "/old", "runtimeArgs": ["--debug"]}}}))
    before = cfg.read_text()
    install("docker", str(cfg), "runsc-py", False, BIN)
    doc = json.loads(cfg.read_text())
    assert doc["log-driver"] == "journald"
    assert doc["runtimes"]["runsc"] == {"path": "/usr/bin/runsc"}
    assert doc["runtimes"]["runsc-py"] == {"path": BIN, "runtimeArgs": ["--debug"]}
    assert (tmp_path / "docker" / "daemon.json.bak").read_text() == before


def test_docker_dry_run_and_bad_json(tmp_path):
    cfg = tmp_path / "daemon.json"
    cfg.write_text('{"debug": true}')
    out = install("docker", str(cfg), "rsp", True, BIN)
    assert json.loads(out) == {"debug": True, "runtimes": {"rsp": {"path": BIN}}}
    assert cfg.read_text() == '{"debug": true}'
    cfg.write_text("{")
    with pytest.raises(RuntimeFailure, match="invalid JSON"):
        install("docker", str(cfg), "rsp", False, BIN)


def test_containerd_accepts_the_written_config(tmp_path):
    """containerd itself parses what we write (`containerd config dump`)."""
    if shutil.which("containerd") is None:
        pytest.skip("missing containerd: run scripts/install-deps.sh")
    cfg = tmp_path / "config.toml"
    cfg.write_text(DEBIAN_DEFAULT)
    install("containerd", str(cfg), "runsc-py", False, BIN)
    p = subprocess.run(["containerd", "--config", str(cfg), "config", "dump"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    dumped = tomllib.loads(p.stdout)
    assert _entry(dumped)["options"]["BinaryName"] == BIN
    assert _entry(dumped)["runtime_type"] == "io.containerd.runc.v2"


def test_runtimeclass_manifest():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "deploy" / "runtimeclass.yaml").read_text()
    lines = [ln.split("#")[0].rstrip() for ln in text.splitlines()]
    assert "kind: RuntimeClass" in lines and "apiVersion: node.k8s.io/v1" in lines
    assert "handler: runsc-py" in lines
    assert "overhead:" in lines and "  podFixed:" in lines
    assert '    runsc-py.io/enabled: "true"' in lines
