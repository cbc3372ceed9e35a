"""runsc-py under a private containerd, driven by `ctr` through the io.containerd.runc.v2
shim with --runc-binary (as a containerd runtime class with BinaryName does)."""
from __future__ import annotations

import time

import pytest

from _containerd import Containerd
from _itutil import need, wait_for


@pytest.fixture
def containerd(workdir, recorder, oci_image):
    need("containerd", "ctr", "containerd-shim-runc-v2")
    c = Containerd(workdir, recorder)
    try:
        c.start()
        c.image = c.import_image(oci_image.oci_tar)
        yield c
    finally:
        c.stop()


def _run_args(c: Containerd) -> list[str]:
    return ["--runtime", "io.containerd.runc.v2", "--runc-binary", str(c.recorder.path),
            "--runc-root", str(c.runtime_root), "--snapshotter", "native",
            "--fifo-dir", str(c.dir / "fifo")]


def test_ctr_run_output_and_exit_code(containerd):
    c = containerd
    p = c.ctr("run", "--rm", *_run_args(c), c.image, "rsp-run1",
              "sh", "-c", "echo hi; echo err >&2; exit 3", check=False)
    assert "hi" in p.stdout.splitlines(), c.explain(f"stdout={p.stdout!r} stderr={p.stderr!r}")
    assert p.returncode == 3, c.explain(f"exit {p.returncode}, stderr={p.stderr!r}")
    cmds = c.recorder.commands()
    assert cmds[:2] == ["create", "start"], c.explain(f"calls: {cmds}")
    assert "delete" in cmds, c.explain(f"calls: {cmds}")
    # --rm: nothing left in containerd
    assert "rsp-run1" not in c.ctr("containers", "ls", "-q").stdout


def test_ctr_task_exec_and_kill(containerd):
    c = containerd
    c.ctr("run", "-d", *_run_args(c), c.image, "rsp-exec1", "sleep", "1000")
    wait_for(lambda: "RUNNING" in c.ctr("tasks", "ls").stdout, 30, "task RUNNING")

    p = c.ctr("task", "exec", "--exec-id", "e1", "--fifo-dir", str(c.dir / "fifo"),
              "rsp-exec1", "sh", "-c", "echo from-exec; exit 7", check=False)
    assert "from-exec" in p.stdout, c.explain(f"exec stdout={p.stdout!r} stderr={p.stderr!r}")
    assert p.returncode == 7, c.explain(f"exec exit {p.returncode} stderr={p.stderr!r}")
    assert any(a[:1] != [] and "exec" in a for a in c.recorder.argvs())

    p = c.ctr("task", "ps", "rsp-exec1", check=False)
    assert p.returncode == 0, c.explain(f"task ps: {p.stderr}")

    c.ctr("task", "kill", "-s", "SIGTERM", "rsp-exec1")
    # sleep as pid 1 of its namespace ignores SIGTERM (no handler): SIGKILL then
    time.sleep(1)
    if "STOPPED" not in c.ctr("tasks", "ls").stdout:
        c.ctr("task", "kill", "-s", "SIGKILL", "rsp-exec1")
    wait_for(lambda: "STOPPED" in c.ctr("tasks", "ls").stdout, 30, "task STOPPED",
             log=c.recorder.log)
    c.ctr("task", "delete", "rsp-exec1")
    c.ctr("containers", "delete", "rsp-exec1")
    cmds = c.recorder.commands()
    assert "kill" in cmds and "delete" in cmds, c.explain(f"calls: {cmds}")
