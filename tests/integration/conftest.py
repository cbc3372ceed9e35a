"""Fixtures for the integration tests: runsc-py under real containerd (ctr and CRI),
podman and docker, each started privately on unix sockets in a temp dir and stopped by
pid afterwards; images built offline from the busybox rootfs with umoci.

Fixtures:
  runsc_binary (session)   the installed runsc-py executable (runsc_py.install.default_binary)
  recorder                 a wrapper script around runsc_binary that appends each call's
                           argv (and exit code) to a log: .path, .text(), .argvs()
  oci_image (session)      OCI image layout (tags "latest": busybox, cmd sh; "pause":
                           busybox, cmd sleep) + tars: .layout, .oci_tar, .docker_tar
  workdir                  a short temp dir under /tmp (unix socket paths stay < 108 bytes);
                           at teardown: processes mentioning it are killed by pid, mounts
                           under it are unmounted, the dir is removed.

Every tool a test needs is installed by scripts/install-deps.sh; a missing one skips the
test, which fails the run in CI (RUNSC_PY_TESTS_STRICT=1).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _itutil import OciImage, Recorder, build_oci_image, cleanup_dir  # noqa: E402


@pytest.fixture(scope="session")
def runsc_binary() -> str:
    from runsc_py.install import default_binary

    return default_binary()


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="rsp-it-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    cleanup_dir(d)


@pytest.fixture
def recorder(workdir, runsc_binary) -> Recorder:
    d = workdir / "rec"
    d.mkdir()
    return Recorder(d, runsc_binary)


@pytest.fixture(scope="session")
def oci_image(tmp_path_factory, helper_bin) -> OciImage:
    return build_oci_image(tmp_path_factory.mktemp("oci-image"), helper_bin)
