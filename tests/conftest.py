"""Shared fixtures for runsc-py tests.

Fixtures:
  helper_bin (session)        Path of the compiled static rsphelper binary.
  rootfs_template (session)   Path of a cached busybox rootfs (do not modify it).
  rootfs                      Path of a per-test `cp -a` copy of rootfs_template.
  bundle                      factory: bundle(args, name=None, **overrides) -> Path
                              (rootfs copy + config.json from `runc spec`, see
                              helpers.make_bundle / helpers.apply_overrides).
  runtime_root                Path (short, under /tmp) passed as --root; at teardown
                              every container in it is `delete --force`d and leaked
                              processes mentioning the root are killed -> test error.
  rt                          Runtime: rt.run(*cli_args, check=False, timeout=60, ...)
                              -> CompletedProcess(text) of
                              [sys.executable, '-m', 'runsc_py', '--root', ROOT,
                               '--platform', P, *args]: parametrised over every platform
                              (seccomp, ptrace), so each end-to-end test runs on both, as
                              gVisor runs its syscall tests per platform. rt.platform is P.

Set RUNSC_PY_TESTS_STRICT=1 (as .ci/run does) to turn any skipped test into a
failing run.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers  # noqa: E402
from helpers import (  # noqa: E402
    STRICT_ENV,
    build_helper,
    copy_tree,
    describe_pid,
    make_bundle,
    make_busybox_rootfs,
    pids_with_cmdline_containing,
    require,
)

from sentry.platform import PLATFORMS  # noqa: E402

RUNTIME_CMD = [sys.executable, "-m", "runsc_py"]


# --------------------------------------------------------------------------
# strict mode: skips fail the run

def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if os.environ.get(STRICT_ENV) != "1":
        return
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"{STRICT_ENV}=1: {len(skipped)} test(s) skipped; failing the run "
            "(in CI nothing may skip)", red=True)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get(STRICT_ENV) != "1":
        return
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None and tr.stats.get("skipped") and session.exitstatus == 0:
        session.exitstatus = 1


# --------------------------------------------------------------------------
# helper binary and rootfs

@pytest.fixture(scope="session")
def helper_bin(tmp_path_factory) -> Path:
    require(gcc=True)
    return build_helper(tmp_path_factory.getbasetemp() / "rsphelper-cache")


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory, helper_bin) -> Path:
    require(busybox=True)
    dest = tmp_path_factory.mktemp("rootfs-template") / "rootfs"
    return make_busybox_rootfs(dest, helper=helper_bin)


@pytest.fixture
def rootfs(tmp_path, rootfs_template) -> Path:
    return copy_tree(rootfs_template, tmp_path / "rootfs")


@pytest.fixture
def bundle(tmp_path, rootfs_template):
    """Factory: bundle(args, name=None, **overrides) -> Path of a fresh bundle dir."""
    require(runc=True)
    counter = [0]

    def make(args, name=None, **overrides) -> Path:
        counter[0] += 1
        d = tmp_path / (name or f"bundle{counter[0]}")
        return make_bundle(d, args, rootfs_template=rootfs_template, **overrides)

    return make


# --------------------------------------------------------------------------
# runtime

def _container_ids(root: Path) -> list[str]:
    ids: set[str] = set()
    try:
        p = subprocess.run([*RUNTIME_CMD, "--root", str(root), "list", "--format", "json"],
                           capture_output=True, text=True, timeout=30)
        if p.returncode == 0 and p.stdout.strip():
            data = json.loads(p.stdout)
            for c in data or []:
                if isinstance(c, dict) and c.get("id"):
                    ids.add(c["id"])
    except (subprocess.SubprocessError, ValueError, OSError):
        pass
    # Fallback: one directory per container id (runc's layout).
    try:
        for ent in root.iterdir():
            if ent.is_dir() and not ent.name.startswith("."):
                ids.add(ent.name)
    except OSError:
        pass
    return sorted(ids)


@pytest.fixture
def runtime_root():
    """A fresh --root dir (short path under /tmp, for unix socket limits)."""
    require(root=True)
    root = Path(tempfile.mkdtemp(prefix="rsp-root-", dir="/tmp"))
    os.chmod(root, 0o711)
    yield root

    problems = []
    for cid in _container_ids(root):
        try:
            p = subprocess.run([*RUNTIME_CMD, "--root", str(root), "delete", "--force", cid],
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 0 and "not exist" not in (p.stderr + p.stdout).lower():
                problems.append(f"delete --force {cid} exited {p.returncode}: {p.stderr.strip()}")
        except subprocess.TimeoutExpired:
            problems.append(f"delete --force {cid} timed out")

    # Give the sandbox a moment to go away, then kill what is left.
    deadline = time.monotonic() + 5
    leaked = pids_with_cmdline_containing(str(root))
    while leaked and time.monotonic() < deadline:
        time.sleep(0.1)
        leaked = pids_with_cmdline_containing(str(root))
    if leaked:
        desc = [describe_pid(p) for p in leaked]
        for pid in leaked:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        problems.append("leaked processes after delete --force: " + "; ".join(desc))
    shutil.rmtree(root, ignore_errors=True)
    assert not problems, "\n".join(problems)


class Runtime:
    """Runs the runsc-py CLI against one --root."""

    def __init__(self, root: Path, platform: str = "seccomp"):
        self.root = Path(root)
        self.platform = platform
        self.base = [*RUNTIME_CMD, "--root", str(self.root), "--platform", platform]

    def cmd(self, *args) -> list[str]:
        return [*self.base, *(str(a) for a in args)]

    def run(self, *args, check: bool = False, timeout: float = 60, input=None,
            env=None, cwd=None) -> subprocess.CompletedProcess:
        p = subprocess.run(self.cmd(*args), capture_output=True, text=True,
                           timeout=timeout, input=input, env=env, cwd=cwd)
        if check and p.returncode != 0:
            raise AssertionError(
                f"runsc-py {' '.join(map(str, args))} exited {p.returncode}\n"
                f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def popen(self, *args, **kw) -> subprocess.Popen:
        """Start the CLI in the background (stdout/stderr piped, text mode by default)."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        return subprocess.Popen(self.cmd(*args), **kw)

    def state(self, cid: str) -> dict:
        return json.loads(self.run("state", cid, check=True).stdout)

    def __repr__(self) -> str:
        return f"Runtime(root={self.root}, platform={self.platform})"


@pytest.fixture(params=PLATFORMS)
def rt(request, runtime_root) -> Runtime:
    return Runtime(runtime_root, request.param)


@pytest.fixture
def runtime_on(runtime_root):
    """runtime_on(platform) -> a Runtime on the test's --root (for tests that choose the
    platform themselves, e.g. to run runc beside both)."""
    return lambda platform: Runtime(runtime_root, platform)


__all__ = ["Runtime", "helpers"]
