"""Python stubs for the Kubernetes CRI (runtime.v1), generated at test time with
grpcio-tools from the `api.proto` vendored in Debian's containerd source package
(k8s.io/cri-api). The proto is not part of this repository; the generated modules are
cached in $RUNSC_PY_CRI_CACHE (default ~/.cache/runsc-py-tests/cri-<version>).

Where the proto comes from, first found wins:
  $RUNSC_PY_CRI_PROTO          a path to api.proto
  `apt-get source --download-only containerd`   (needs a deb-src entry: scripts/
                                install-deps.sh adds one for the machine's Debian suites)
"""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PROTO_MEMBER = "vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto"
STUB_VERSION = "v1-1"


def cache_dir() -> Path:
    env = os.environ.get("RUNSC_PY_CRI_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "runsc-py-tests" / f"cri-{STUB_VERSION}"


def _proto_from_debian_source(work: Path) -> str:
    p = subprocess.run(["apt-get", "source", "--download-only", "containerd"],
                       cwd=work, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("apt-get source --download-only containerd failed (is there a "
                           "deb-src entry? scripts/install-deps.sh adds one):\n"
                           + p.stderr[-2000:])
    for tarball in sorted(work.glob("containerd_*.orig.tar.*")):
        with tarfile.open(tarball) as tf:
            for member in tf:
                if member.name.endswith(PROTO_MEMBER):
                    f = tf.extractfile(member)
                    assert f is not None
                    return f.read().decode()
    raise RuntimeError(f"no {PROTO_MEMBER} in {[t.name for t in work.iterdir()]}")


def _strip_gogo(text: str) -> str:
    """Drop gogoproto's import and options: protoc does not need them for Python."""
    text = re.sub(r'^import "github.com/gogo/protobuf/gogoproto/gogo.proto";\n', "", text,
                  flags=re.M)
    text = re.sub(r"^option \(gogoproto\.[^;]*;\n", "", text, flags=re.M)
    # field options like [(gogoproto.nullable) = false] (none in v1 today)
    text = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", text)
    return text


def load_stubs():
    """(api_pb2, api_pb2_grpc) for runtime.v1, generating them if not cached."""
    out = cache_dir()
    if not (out / "api_pb2_grpc.py").exists():
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="rsp-cri-") as tmp:
            work = Path(tmp)
            src = os.environ.get("RUNSC_PY_CRI_PROTO")
            text = Path(src).read_text() if src else _proto_from_debian_source(work)
            proto = work / "api.proto"
            proto.write_text(_strip_gogo(text))
            from grpc_tools import protoc  # grpcio-tools, the `test` extra
            import grpc_tools

            include = Path(grpc_tools.__file__).parent / "_proto"
            staging = Path(tempfile.mkdtemp(prefix="stubs-", dir=out))
            rc = protoc.main(["protoc", f"-I{work}", f"-I{include}",
                              f"--python_out={staging}", f"--grpc_python_out={staging}",
                              str(proto)])
            if rc != 0:
                raise RuntimeError(f"protoc failed ({rc}) on the CRI api.proto")
            for name in ("api_pb2.py", "api_pb2_grpc.py"):
                os.replace(staging / name, out / name)
            os.rmdir(staging)
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")
