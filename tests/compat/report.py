#!/usr/bin/env python3
"""The compatibility report: every program of programs.py and every CPython test module
of cpython.py, run in the Debian rootfs under runc and under runsc-py; prints one row per
program/module (result and time under each runtime) and the totals, and writes the table
into docs/compatibility.md's "Results" section (with the date and the command).

    python tests/compat/report.py                 # everything (tens of minutes)
    python tests/compat/report.py --programs      # only the programs
    python tests/compat/report.py --modules       # only the CPython modules
    python tests/compat/report.py test_os py_pty  # just these
    --no-write: print only; --json FILE: also dump the raw results
    --platform ptrace: runsc-py on its ptrace platform (default seccomp; print only)

Needs root, runc and debootstrap (the rootfs is built on first use and cached; see
compatlib.py). A row whose runc result is PASS and runsc-py result is not is a runsc-py
bug (or a documented limitation): its failing tests and the sandbox log's
"unsupported syscall"/"refused syscall" lines are printed under the table.
"""
from __future__ import annotations

import argparse
import datetime
import difflib
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compatlib  # noqa: E402
import cpython  # noqa: E402
from programs import PROGRAMS  # noqa: E402

DOC = compatlib.REPO_ROOT / "docs" / "compatibility.md"
SANDBOX = "runsc-py"  # the compatlib runtime reported on (--platform picks it)
BEGIN = "<!-- results:begin (written by tests/compat/report.py) -->"
END = "<!-- results:end -->"


def run_program(name: str) -> dict:
    prog = PROGRAMS[name]
    res = compatlib.run_both(list(prog.args), name=name, timeout=prog.timeout,
                             stdin=prog.stdin, runtimes=("runc", SANDBOX))
    norm = prog.normalize or (lambda s: s)
    runc, rsp = res["runc"], res[SANDBOX]
    want, got = norm(runc.stdout), norm(rsp.stdout)
    v_runc = "PASS" if runc.rc == 0 else ("TIMEOUT" if runc.timed_out else f"rc={runc.rc}")
    same = (rsp.rc, got) == (runc.rc, want)
    v_rsp = "PASS" if same and rsp.rc == 0 else ("SAME" if same else
                                                  ("TIMEOUT" if rsp.timed_out else "DIFF"))
    diff = list(difflib.unified_diff(want.splitlines(), got.splitlines(), "runc",
                                     "runsc-py", lineterm="", n=0))[2:]
    return dict(kind="program", name=name, runc=v_runc, rsp=v_rsp,
                t_runc=runc.duration, t_rsp=rsp.duration,
                details=diff[:20] + [ln for ln in rsp.stderr.splitlines()[-5:]],
                log=rsp.log_lines, log_path=rsp.log_path)


def run_module(name: str) -> dict:
    timeout = cpython.MODULES[name]
    res = compatlib.run_both(cpython.args_for(name, timeout), name=name, timeout=timeout,
                             tmp_size="2g", runtimes=("runc", SANDBOX))
    runc, rsp = res["runc"], res[SANDBOX]
    out_runc, out_rsp = runc.stdout + runc.stderr, rsp.stdout + rsp.stderr
    f_runc = set(cpython.failed_tests(out_runc))
    extra = [t for t in cpython.failed_tests(out_rsp) if t not in f_runc]
    return dict(kind="module", name=name, runc=cpython.verdict(runc.rc, out_runc),
                rsp=cpython.verdict(rsp.rc, out_rsp), t_runc=runc.duration,
                t_rsp=rsp.duration, runc_failed=sorted(f_runc), details=extra
                + [ln for ln in cpython.error_lines(out_rsp) if ln.split(":")[0:2]],
                log=rsp.log_lines, log_path=rsp.log_path)


def regression(row: dict) -> bool:
    return row["runc"] == "PASS" and row["rsp"] != "PASS"


def table(rows: list[dict]) -> list[str]:
    out = ["| kind | program / module | runc | runsc-py | time runc | time runsc-py |",
           "|---|---|---|---|---:|---:|"]
    for r in rows:
        flag = " **(regression)**" if regression(r) else ""
        out.append(f"| {r['kind']} | `{r['name']}` | {r['runc']} | {r['rsp']}{flag} | "
                   f"{r['t_runc']:.1f}s | {r['t_rsp']:.1f}s |")
    return out


def totals(rows: list[dict]) -> list[str]:
    out = []
    for kind in ("program", "module"):
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        p_runc = sum(r["runc"] == "PASS" for r in rs)
        p_rsp = sum(r["rsp"] == "PASS" for r in rs)
        both = sum(r["runc"] == "PASS" and r["rsp"] == "PASS" for r in rs)
        out.append(f"{kind}s: {len(rs)}; pass under runc {p_runc}, under runsc-py {p_rsp}; "
                   f"pass under runc but not runsc-py: {sum(map(regression, rs))} "
                   f"(both pass: {both}); time runc {sum(r['t_runc'] for r in rs):.0f}s, "
                   f"runsc-py {sum(r['t_rsp'] for r in rs):.0f}s")
    return out


_SYSCALL_RE = re.compile(r'(unsupported syscall \w+|refused syscall \w+|handler for syscall '
                         r'\w+ failed)')


def failures(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        if not regression(r):
            continue
        out.append(f"- `{r['name']}` ({r['kind']}): runc {r['runc']}, runsc-py {r['rsp']}")
        for d in r["details"][:25]:
            out.append(f"    - {d}")
        syscalls = sorted({m.group(1) for ln in r["log"] for m in [_SYSCALL_RE.search(ln)] if m})
        if syscalls:
            out.append(f"    - sandbox log: {'; '.join(syscalls)}")
    return out


def write_doc(lines: list[str], cmd: str) -> None:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = [BEGIN, "", f"Run on {stamp} with `{cmd}`.", "", *lines, "", END]
    text = DOC.read_text() if DOC.exists() else "# Compatibility\n\n## Results\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + "\n".join(block) + tail
    else:
        text = text.rstrip() + "\n\n## Results\n\n" + "\n".join(block) + "\n"
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--programs", action="store_true")
    ap.add_argument("--modules", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--platform", default="seccomp",
                    choices=sorted(compatlib.SANDBOXES.values()))
    a = ap.parse_args(argv)
    global SANDBOX
    SANDBOX = next(rt for rt, platform in compatlib.SANDBOXES.items() if platform == a.platform)
    if a.platform != "seccomp":
        a.no_write = True  # docs/compatibility.md's table is the seccomp platform's
    reasons = compatlib.missing_requirements()
    if reasons:
        print("report: " + "; ".join(reasons), file=sys.stderr)
        return 2
    compatlib.rootfs_dir(log=lambda m: print(m, file=sys.stderr))
    todo: list[tuple[str, str]] = []
    if a.names:
        for n in a.names:
            if n in PROGRAMS:
                todo.append(("program", n))
            elif n in cpython.MODULES:
                todo.append(("module", n))
            else:
                ap.error(f"unknown program or module {n!r}")
    else:
        if a.programs or not a.modules:
            todo += [("program", n) for n in sorted(PROGRAMS)]
        if a.modules or not a.programs:
            todo += [("module", n) for n in cpython.MODULES]
    rows = []
    start = time.monotonic()
    for kind, name in todo:
        row = run_program(name) if kind == "program" else run_module(name)
        rows.append(row)
        print(f"{kind:8} {name:28} runc {row['runc']:8} {row['t_runc']:6.1f}s   "
              f"runsc-py {row['rsp']:8} {row['t_rsp']:6.1f}s"
              + ("   <-- regression" if regression(row) else ""), flush=True)
    lines = [*table(rows), "", "Totals:", "", *("- " + t for t in totals(rows)),
             f"- wall time {time.monotonic() - start:.0f}s"]
    fails = failures(rows)
    if fails:
        lines += ["", "Passing under runc, not under runsc-py:", "", *fails]
    print("\n".join(lines))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    if not a.no_write:
        cmd = "python tests/compat/report.py" + (" " + " ".join(argv or sys.argv[1:])
                                                 if (argv or sys.argv[1:]) else "")
        write_doc(lines, cmd)
        print(f"report: wrote {DOC}", file=sys.stderr)
    return 1 if any(map(regression, rows)) else 0


if __name__ == "__main__":
    sys.exit(main())
