"""CPython's regression test modules in the Debian rootfs: every module that passes
under runc must pass under runsc-py (see cpython.py for the list and the verdicts)."""
from __future__ import annotations

import pytest

import cpython
from compatlib import SANDBOXES

pytestmark = pytest.mark.compat


@pytest.mark.parametrize("module", list(cpython.MODULES))
def test_cpython_module(module, both):
    timeout = cpython.MODULES[module]
    res = both(cpython.args_for(module, timeout), name=module, timeout=timeout,
               tmp_size="2g")
    runc = res["runc"]
    v_runc = cpython.verdict(runc.rc, runc.stdout + runc.stderr)
    failures = []
    for sandbox in SANDBOXES:  # every platform
        rsp = res[sandbox]
        v_rsp = cpython.verdict(rsp.rc, rsp.stdout + rsp.stderr)
        if v_runc != "PASS":
            # not a runsc-py question: the module does not pass natively either
            # (recorded by report.py); runsc-py must still not do better by hiding a failure
            if not (v_rsp in ("PASS", "SKIP", v_runc) or v_runc in ("FAIL", "TIMEOUT")):
                failures.append(f"{module}: runc {v_runc}, {sandbox} {v_rsp}")
            continue
        if v_rsp != "PASS":
            out = rsp.stdout + rsp.stderr
            failures.append("\n".join([
                f"{module}: passes under runc ({runc.duration:.0f}s), {v_rsp} under "
                f"{sandbox} ({rsp.duration:.0f}s)",
                "failing tests: " + ", ".join(cpython.failed_tests(out)),
                *cpython.error_lines(out),
                f"sandbox log {rsp.log_path}:", *rsp.log_lines[:40],
                rsp.summary(tail=60)]))
    assert not failures, "\n".join(failures)
