"""Issue 12, items 3 and 5: the credentials and umask the sentry acts with are the
caller's as they are now, whatever another thread or process changed them with.

Linux keeps credentials per thread (a raw set*id call changes only its caller's), the
umask per fs_struct (shared by every task cloned with CLONE_FS, copied by fork), and an
exec by a non-leader thread hands the leader's tid to the new image with the exec'ing
thread's credentials. Each test runs the same container under runc (the reference) and
under runsc-py on both platforms, and expects the same answers.
"""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from helpers import parse_kv
from sentry.platform import PLATFORMS


@pytest.fixture(params=("runc", *PLATFORMS))
def run(request, runtime_on, tmp_path):
    """run(bundle) -> CompletedProcess of the container under runc or runsc-py."""
    def go(b):
        cid = "cred-" + uuid.uuid4().hex[:10]
        if request.param != "runc":
            return runtime_on(request.param).run("run", "--bundle", b, cid, timeout=120)
        root = tmp_path / "runc-root"
        try:
            return subprocess.run(["runc", "--root", str(root), "run", "--bundle", str(b), cid],
                                  capture_output=True, text=True, timeout=120)
        finally:
            subprocess.run(["runc", "--root", str(root), "delete", "--force", cid],
                           capture_output=True)

    go.name = request.param
    return go


# Docker's default capabilities: root may become other users
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def out_of(p) -> str:
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


def _root_files(root) -> None:
    """/root/secret (0600 root) and /tmp/rootfile (root's, in the sticky /tmp)."""
    (root / "root/secret").write_text("root only\n")
    os.chmod(root / "root/secret", 0o600)
    os.chmod(root / "root", 0o755)  # searchable: only the file's own mode guards it
    (root / "tmp/rootfile").write_text("root's\n")
    os.chmod(root / "tmp/rootfile", 0o644)


@pytest.mark.parametrize("busy", [0, 1], ids=["leader-idle", "leader-busy"])
def test_exec_by_a_thread_that_dropped_to_a_user_has_that_users_rights(run, bundle, busy):
    """A non-leader thread drops to uid 1000 with raw syscalls and execs: the new image
    (on the leader's tid, which the sentry met as root) is uid 1000 to every check.
    With the leader busy making trapped calls until the exec replaces it, the sentry
    meets the old root leader on that tid right up to the exec."""
    probe = "/bin/rsphelper creds-probe /root/secret /created /tmp/rootfile"
    script = "; ".join([f"rsphelper thread-setuid-exec 1000 {busy} {probe}"] * 5)
    b = bundle(["/bin/sh", "-c", script], readonly=False, capabilities=DOCKER_CAPS)
    _root_files(b / "rootfs")
    p = run(b)
    assert p.returncode == 0, out_of(p)
    lines = p.stdout.splitlines()
    assert lines == ["uid=1000 euid=1000", "read=EACCES", "create=EACCES",
                     "unlink=EPERM"] * 5, out_of(p)
    assert not (b / "rootfs/created").exists()
    assert (b / "rootfs/tmp/rootfile").exists()


def test_a_raw_setuid_changes_only_its_threads_credentials(run, bundle):
    """The other side of per-thread credentials: after a sibling thread's raw setuid,
    that thread may not read root's file, and the leader (whose credentials it did not
    change, and whom the sentry met as root before) still may, whichever order the
    sentry meets them in."""
    b = bundle(["/bin/sh", "-c", "; ".join(["rsphelper thread-setuid-read 1000 /root/secret"] * 3)],
               readonly=False, capabilities=DOCKER_CAPS)
    _root_files(b / "rootfs")
    p = run(b)
    assert p.stdout.splitlines() == ["thread=EACCES", "leader=OK"] * 3, out_of(p)


def test_a_sibling_thread_creates_with_the_umask_the_main_thread_set(run, bundle):
    """umask is per fs_struct: threads share it (CLONE_FS)."""
    b = bundle(["/bin/sh", "-c", "rsphelper thread-umask /tmp/f"], readonly=False)
    p = run(b)
    assert p.stdout.splitlines() == ["mode=0600"], out_of(p)


@pytest.mark.parametrize("share,mode", [(1, "0600"), (0, "0644")],
                         ids=["clone-fs", "fork"])
def test_a_child_process_shares_the_umask_only_under_clone_fs(run, bundle, share, mode):
    """A child cloned with CLONE_FS (another thread group) changes its parent's umask
    too; a forked child changes only its own copy."""
    b = bundle(["/bin/sh", "-c", f"rsphelper child-umask {share} /tmp/f"], readonly=False)
    p = run(b)
    assert p.stdout.splitlines() == [f"mode={mode}"], out_of(p)
