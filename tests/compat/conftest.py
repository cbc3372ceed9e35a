"""Fixtures of the compatibility suite (tests/compat, marker `compat`).

  compat_rootfs (session)  Path of the cached Debian bookworm minbase rootfs
                           (debootstrap on the first run; see compatlib.rootfs_dir).
  both                     run_both(args, **kw) -> {"runc": Result, "runsc-py": Result}
                           (see compatlib.run_both / run_one / make_bundle).

Every test here is marked `compat` automatically. The suite runs when asked for:
`pytest tests/compat`, `pytest -m compat tests`, or RUNSC_PY_COMPAT=1 (for .ci/run);
a bare `pytest tests` deselects it (RUNSC_PY_COMPAT=0 always does).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compatlib  # noqa: E402

_HERE = Path(__file__).resolve().parent


ENABLE_ENV = "RUNSC_PY_COMPAT"


def _compat_requested(config) -> bool:
    """The suite takes minutes: it runs when asked for, by RUNSC_PY_COMPAT=1, by a `-m`
    expression naming `compat`, or by naming tests/compat (or a file in it) on the
    command line; a bare `pytest tests` deselects it (deselected, not skipped, so the
    strict mode of .ci/run does not count it)."""
    if os.environ.get(ENABLE_ENV) == "1":
        return True
    if os.environ.get(ENABLE_ENV) == "0":
        return False
    if "compat" in (config.getoption("markexpr", "") or ""):
        return True
    for arg in config.args:
        p = Path(str(arg).split("::", 1)[0]).resolve()
        if p == _HERE or _HERE in p.parents:
            return True
    return False


def pytest_collection_modifyitems(config, items):
    mine = [it for it in items if _HERE in Path(str(it.fspath)).resolve().parents]
    for item in mine:
        item.add_marker(pytest.mark.compat)
    if mine and not _compat_requested(config):
        ids = {id(it) for it in mine}
        items[:] = [it for it in items if id(it) not in ids]
        config.hook.pytest_deselected(items=mine)


@pytest.fixture(scope="session")
def compat_rootfs(request) -> Path:
    reasons = compatlib.missing_requirements()
    if reasons:
        msg = "; ".join(reasons)
        if os.environ.get("RUNSC_PY_TESTS_STRICT") == "1":
            pytest.fail(f"requirement missing in strict mode: {msg}", pytrace=False)
        pytest.skip(msg)
    tr = request.config.pluginmanager.get_plugin("terminalreporter")

    def log(msg):
        if tr is not None:
            tr.write_line(msg)

    return compatlib.rootfs_dir(log=log)


@pytest.fixture
def both(compat_rootfs):
    def run(args, **kw):
        kw.setdefault("name", "t")
        return compatlib.run_both(args, rootfs=compat_rootfs, **kw)

    return run
