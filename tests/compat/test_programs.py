"""Real programs in a Debian bookworm rootfs: under runsc-py they must exit and print
exactly as under runc (see programs.py for the programs, compatlib.py for the runner)."""
from __future__ import annotations

import difflib

import pytest

from compatlib import SANDBOXES
from programs import PROGRAMS

pytestmark = pytest.mark.compat


def _norm(prog, out: str) -> str:
    return prog.normalize(out) if prog.normalize else out


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program(name, both):
    prog = PROGRAMS[name]
    res = both(list(prog.args), name=name, timeout=prog.timeout, stdin=prog.stdin)
    runc = res["runc"]
    assert not runc.timed_out, f"{name} timed out under runc\n{runc.summary()}"
    want = _norm(prog, runc.stdout)
    failures = []
    for sandbox in SANDBOXES:  # every platform
        rsp = res[sandbox]
        got = _norm(prog, rsp.stdout)
        if (rsp.rc, got) != (runc.rc, want):
            diff = "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(),
                                                  "runc", sandbox, lineterm=""))
            failures.append(f"{name}: {sandbox} differs from runc\n{diff}\n"
                            + "\n".join(r.summary() for r in (runc, rsp)))
    assert not failures, "\n".join(failures)
