#!/usr/bin/env python3
"""runsc-py benchmark suite: every workload under native, runc, gVisor and runsc-py.

    python benchmarks/run.py [--reps N] [--only a,b] [--runtimes native,runc,gvisor,runsc-py]
                             [--seconds S] [--latency-n N] [--json PATH]

Needs root. Builds benchmarks/workload.c and benchmarks/notify_floor.c statically, a
busybox rootfs bundle (tests/helpers), then runs repetitions interleaved: for each rep,
for each workload, each runtime in turn (A B C D A B C D ...). Prints a markdown table
and writes JSON (default benchmarks/results/latest.json). See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

RUNTIMES = ["native", "runc", "gvisor", "runsc-py", "runsc-py-ptrace"]
TITLES = {"native": "native", "runc": "runc", "gvisor": "gVisor (ptrace)", "runsc-py": "runsc-py",
          "runsc-py-ptrace": "runsc-py (ptrace)"}
SANDBOXES = {"runsc-py": "seccomp", "runsc-py-ptrace": "ptrace"}  # runsc-py, per platform

# row name -> (workload argv with {R} = rootfs prefix and {T} = tmp dir, unit kind)
#   unit kind: "ns" (ns/op), "mbs" (64 MiB passes: show MB/s), "files" (show files/s)
ROWS: list[tuple[str, list[str], str]] = [
    ("getppid", ["getppid"], "ns"),
    ("clock_syscall", ["clock_syscall"], "ns"),
    ("clock_vdso", ["clock_vdso"], "ns"),
    ("read_zero", ["read_zero"], "ns"),
    ("open_close", ["open_close", "{R}/bin/busybox"], "ns"),
    ("stat", ["stat", "{R}/bin/busybox"], "ns"),
    ("seq_read_rootfs", ["seq_read", "seq_read_rootfs", "{R}/bench/data64"], "mbs"),
    ("seq_write_rootfs", ["seq_write", "seq_write_rootfs", "{R}/bench/wfile"], "mbs"),
    ("seq_read_tmp", ["seq_read", "seq_read_tmp", "{T}/rfile"], "mbs"),
    ("seq_write_tmp", ["seq_write", "seq_write_tmp", "{T}/wfile"], "mbs"),
    ("fork_exit_wait", ["fork_exit_wait"], "ns"),
    ("fork_exec_true", ["fork_exec_true", "{R}/bin/true"], "ns"),
    ("file_mix_rootfs", ["file_mix", "file_mix_rootfs", "{R}/bench"], "files"),
    ("file_mix_tmp", ["file_mix", "file_mix_tmp", "{T}"], "files"),
    ("pipe_pingpong", ["pipe_pingpong"], "ns"),
    ("futex_pingpong", ["futex_pingpong"], "ns"),
    ("mmap_munmap", ["mmap_munmap"], "ns"),
]
EXTRA = ["latency", "memory", "floor"]
SEQ_BYTES = 64 << 20

RUN_TIMEOUT = 180.0
# runsc-py is this checkout's code, run by this interpreter itself (not a `runsc-py` on
# PATH, which may be another checkout's install or a pyenv shim that adds ~60 ms)
RUNSC_PY = [sys.executable, "-m", "runsc_py"]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ processes

def _ppid_map() -> dict[int, int]:
    out = {}
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        try:
            with open(f"/proc/{ent}/stat") as f:
                st = f.read()
            out[int(ent)] = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            pass
    return out


def descendants(pid: int) -> list[int]:
    pm = _ppid_map()
    kids: dict[int, list[int]] = {}
    for p, pp in pm.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return sorted(out)


def proc_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        return cmd[:80] or "?"
    except OSError:
        return "<gone>"


def pss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group we started (start_new_session=True), by its pid."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


# ------------------------------------------------------------------ the bench

class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="runsc-py-bench-"))
        self.native_tmp = Path(tempfile.mkdtemp(prefix="runsc-py-bench-", dir="/dev/shm"))
        self.roots = {rt: self.work / f"root-{rt}" for rt in RUNTIMES}
        for p in self.roots.values():
            p.mkdir()
        self.bundle = self.work / "bundle"
        self.counter = 0
        self.runtimes = [rt for rt in args.runtimes.split(",") if rt]
        self.notes: list[str] = []
        self.failures: list[dict] = []

    # ---- setup
    def build(self) -> None:
        from helpers import make_bundle, tmpfs_mount, load_config

        bindir = self.work / "bin"
        bindir.mkdir()
        for name, extra in (("workload", ["-pthread"]), ("notify_floor", [])):
            subprocess.run(["gcc", "-O2", "-Wall", "-static", *extra, "-o", str(bindir / name),
                            str(HERE / f"{name}.c")], check=True)
        # the gofer's C hot path, if this checkout lacks it (setup.py builds it on install;
        # without it the gofer serves everything in Python)
        if subprocess.run([sys.executable, "-c", "import gofer._native._fast"], cwd=REPO,
                          capture_output=True).returncode != 0:
            subprocess.run([sys.executable, "-m", "gofer._native.build"], cwd=REPO, check=True)
        # bytecode, as `pip install` leaves it: a checkout run with
        # PYTHONDONTWRITEBYTECODE=1 would compile every module on every start (~100 ms)
        subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(REPO / p) for p in
                        ("runsc_py", "sentry", "gofer"))], check=True, stdout=subprocess.DEVNULL)
        self.workload = bindir / "workload"
        self.floor_bin = bindir / "notify_floor"
        log("building the busybox bundle ...")
        make_bundle(self.bundle, ["/bin/true"], readonly=False, mounts=[tmpfs_mount("/tmp")])
        rootfs = self.bundle / "rootfs"
        self.rootfs = rootfs
        shutil.copy2(self.workload, rootfs / "bin" / "workload")
        (rootfs / "bench").mkdir(exist_ok=True)
        with open(rootfs / "bench" / "data64", "wb") as f:
            chunk = b"d" * (1 << 20)
            for _ in range(64):
                f.write(chunk)
        self.base_cfg = load_config(self.bundle)

    def check_runtimes(self) -> None:
        keep = []
        for rt in self.runtimes:
            exe = {"runc": "runc", "gvisor": "runsc"}.get(rt)
            if exe and shutil.which(exe) is None:
                note = f"{TITLES[rt]} skipped: `{exe}` not installed"
                if rt == "gvisor":
                    note += " (apt-get install -y runsc)"
                self.notes.append(note)
                log(note)
                continue
            keep.append(rt)
        self.runtimes = keep

    # ---- running one container
    def set_args(self, argv: list[str]) -> None:
        cfg = json.loads(json.dumps(self.base_cfg))
        cfg["process"]["args"] = argv
        (self.bundle / "config.json").write_text(json.dumps(cfg, indent=2))

    def new_id(self) -> str:
        self.counter += 1
        return f"bench-{os.getpid()}-{self.counter}"

    def cli(self, rt: str) -> list[str]:
        root = str(self.roots[rt])
        if rt == "runc":
            return ["runc", "--root", root]
        if rt == "gvisor":
            return ["runsc", "--root", root, "--network=none", "--platform=ptrace"]
        if rt in SANDBOXES:
            return RUNSC_PY + ["--root", root, "--platform", SANDBOXES[rt]]
        raise ValueError(rt)

    def delete(self, rt: str, cid: str) -> None:
        if rt == "native":
            return
        subprocess.run(self.cli(rt) + ["delete", "--force", cid], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)

    def command(self, rt: str, argv: list[str]) -> tuple[list[str], str | None]:
        """The host command that runs container argv under rt (the bundle is rewritten)."""
        if rt == "native":
            host = [str(self.workload) if a == "/bin/workload" else a for a in argv]
            return host, None
        self.set_args(argv)
        cid = self.new_id()
        return self.cli(rt) + ["run", "--bundle", str(self.bundle), cid], cid

    def expand(self, rt: str, argv: list[str]) -> list[str]:
        R = str(self.rootfs) if rt == "native" else ""
        T = str(self.native_tmp) if rt == "native" else "/tmp"
        return [a.replace("{R}", R).replace("{T}", T) for a in argv]

    def run_once(self, rt: str, argv: list[str]) -> tuple[int | None, str, str, float]:
        cmd, cid = self.command(rt, argv)
        t0 = time.monotonic_ns()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            rc = None
            err += f"\n[timed out after {RUN_TIMEOUT}s]".encode()
        wall = (time.monotonic_ns() - t0) / 1e9
        if cid:
            self.delete(rt, cid)
        return rc, out.decode(errors="replace"), err.decode(errors="replace"), wall

    # ---- workloads
    def run_workload(self, rt: str, row: str, argv: list[str]) -> tuple[float | None, str]:
        full = ["/bin/workload", "-t", str(self.args.seconds)] + self.expand(rt, argv)
        rc, out, err, _ = self.run_once(rt, full)
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == row:
                try:
                    if rc == 0:
                        return float(parts[1]), ""
                except ValueError:
                    pass
        msg = f"rc={rc}; stdout={out.strip()[-300:]!r}; stderr={err.strip()[-800:]!r}"
        return None, msg

    def floor(self) -> dict[str, float]:
        proc = subprocess.run([str(self.floor_bin), "-t", str(self.args.seconds)],
                              capture_output=True, text=True, timeout=120)
        res = {}
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                try:
                    res[parts[0]] = float(parts[1])
                except ValueError:
                    self.notes.append(f"notify floor: {line.strip()}")
        if proc.returncode != 0:
            self.notes.append(f"notify_floor failed: {proc.stderr.strip()}")
        return res

    def latency(self, rt: str) -> tuple[float | None, str]:
        argv = ["/bin/true"] if rt != "native" else [str(self.rootfs / "bin" / "true")]
        if rt == "native":
            t0 = time.monotonic_ns()
            p = subprocess.run(argv)
            return (time.monotonic_ns() - t0) / 1e6, "" if p.returncode == 0 else f"rc={p.returncode}"
        rc, out, err, wall = self.run_once(rt, argv)
        if rc != 0:
            return None, f"rc={rc}; stderr={err.strip()[-800:]!r}"
        return wall * 1e3, ""

    def memory(self, rt: str, argv_tail: list[str]) -> tuple[dict | None, str]:
        """Start the workload `idle...`; once it prints ready, sum the PSS of the
        runtime's processes (all descendants of the CLI; the CLI itself only if it is
        the sentry), sampled 5 times over ~0.5 s, max of the sums."""
        argv = ["/bin/workload"] + self.expand(rt, argv_tail)
        cmd, cid = self.command(rt, argv)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            ready = False
            deadline = time.monotonic() + 120
            buf = b""
            while time.monotonic() < deadline:
                r, _, _ = select.select([proc.stdout], [], [], 1.0)
                if r:
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    buf += chunk
                    if b"ready" in buf:
                        ready = True
                        break
                if proc.poll() is not None:
                    break
            if not ready:
                kill_group(proc)
                err = proc.stderr.read().decode(errors="replace")
                return None, f"never ready: rc={proc.returncode}; stderr={err.strip()[-800:]!r}"
            time.sleep(0.3)
            best, best_procs = 0, {}
            for _ in range(5):
                pids = descendants(proc.pid)
                if "sentry" in proc_name(proc.pid):
                    pids.append(proc.pid)
                if rt == "native":
                    pids = [proc.pid]
                procs = {}
                for p in pids:
                    v = pss_kib(p)
                    if v is not None:
                        procs[f"{p} {proc_name(p)}"] = v
                total = sum(procs.values())
                if total > best:
                    best, best_procs = total, procs
                time.sleep(0.1)
            m = {"pss_kib": best, "processes": best_procs, "host_tmpfs_kib": 0}
            if "idle_file" in argv and rt != "gvisor":
                # runc/runsc-py/native keep /tmp's file in a host tmpfs, outside any PSS;
                # gVisor keeps it in the sandbox's own memory (inside its PSS).
                m["host_tmpfs_kib"] = self.host_tmpfs_kib(rt, proc.pid, argv[-1])
            m["total_kib"] = m["pss_kib"] + m["host_tmpfs_kib"]
            return m, ""
        finally:
            if cid:
                subprocess.run(self.cli(rt) + ["kill", cid, "KILL"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            kill_group(proc)
            if cid:
                self.delete(rt, cid)
            if rt == "native":
                for f in self.native_tmp.iterdir():
                    f.unlink()

    def host_tmpfs_kib(self, rt: str, top: int, path: str) -> int:
        if rt == "native":
            return os.stat(path).st_blocks // 2
        for p in descendants(top):
            if proc_name(p).startswith("/bin/workload"):
                st = os.statvfs(f"/proc/{p}/root/tmp")
                return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024
        return 0

    # ---- the whole suite
    def main(self) -> dict:
        a = self.args
        only = set(a.only.split(",")) if a.only else None
        rows = [r for r in ROWS if only is None or r[0] in only]
        extras = [e for e in EXTRA if only is None or e in only]
        self.check_runtimes()
        self.build()
        res: dict = {"workloads": {r[0]: {rt: [] for rt in self.runtimes} for r in rows},
                     "errors": {}, "floor": {}, "latency_ms": {rt: [] for rt in self.runtimes},
                     "memory": {}}
        for rep in range(a.reps):
            log(f"== rep {rep + 1}/{a.reps}")
            if "floor" in extras:
                for k, v in self.floor().items():
                    res["floor"].setdefault(k, []).append(v)
            for row, argv, _ in rows:
                for rt in self.runtimes:
                    v, err = self.run_workload(rt, row, argv)
                    log(f"  {row:18s} {rt:9s} " + (f"{v:.1f} ns" if v is not None else "FAILED " + err))
                    res["workloads"][row][rt].append(v)
                    if v is None:
                        res["errors"].setdefault(f"{row}/{rt}", []).append(err)
            if "latency" in extras:
                for i in range(a.latency_n):
                    for rt in self.runtimes:
                        v, err = self.latency(rt)
                        res["latency_ms"][rt].append(v)
                        if v is None:
                            res["errors"].setdefault(f"latency/{rt}", []).append(err)
                log("  latency: " + ", ".join(
                    f"{rt}={_med(res['latency_ms'][rt]) or float('nan'):.1f}ms" for rt in self.runtimes))
        if "memory" in extras:
            for label, tail in (("idle", ["idle"]),
                                ("64MiB_tmp_file", ["idle_file", "{T}/memfile"])):
                res["memory"][label] = {}
                for rt in self.runtimes:
                    m, err = self.memory(rt, tail)
                    res["memory"][label][rt] = m
                    if m is None:
                        res["errors"].setdefault(f"memory_{label}/{rt}", []).append(err)
                    log(f"  memory {label:14s} {rt:9s} " +
                        (f"{m['total_kib'] / 1024:.1f} MiB" if m else "FAILED " + err))
        return res

    def cleanup(self) -> None:
        for rt in RUNTIMES:
            root = self.roots.get(rt)
            if rt != "native" and root and root.exists() and (rt in SANDBOXES or
                                                               shutil.which(self.cli(rt)[0])):
                for ent in root.iterdir():  # leftover containers
                    if ent.is_dir() and ent.name.startswith("bench-"):
                        self.delete(rt, ent.name)
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.native_tmp, ignore_errors=True)


# ------------------------------------------------------------------ reporting

def _med(vals):
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None


def _fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def _cell(vals, kind: str) -> str:
    v = [x for x in vals if x is not None]
    if not v:
        return "FAIL" if vals else "—"
    fails = len(vals) - len(v)
    if kind == "mbs":
        conv = [SEQ_BYTES / 1e6 / (x / 1e9) for x in v]
        s = f"{statistics.median(conv):.0f} MB/s ({min(conv):.0f}–{max(conv):.0f})"
    elif kind == "files":
        conv = [1e9 / x for x in v]
        s = f"{statistics.median(conv):.0f}/s ({min(conv):.0f}–{max(conv):.0f})"
    else:
        s = f"{_fmt_ns(statistics.median(v))} ({_fmt_ns(min(v))}–{_fmt_ns(max(v))})"
    if len(v) == 1:
        s = s.split(" (")[0]
    if fails:
        s += f" [{fails} fail]"
    return s


def pair_ratios(a: list, b: list) -> list[float]:
    return [x / y for x, y in zip(a, b) if x is not None and y]


def _ratio_cell(r: list[float]) -> str:
    if not r:
        return "—"
    return f"{statistics.median(r):.2f}× ({min(r):.2f}–{max(r):.2f})" if len(r) > 1 \
        else f"{r[0]:.2f}×"


def report(res: dict, runtimes: list[str], notes: list[str]) -> tuple[str, dict]:
    summary: dict = {"workloads": {}, "latency_ms": {}, "memory_mib": {}, "floor_ns": {}}
    lines = []
    hdr = ["workload"] + [TITLES[rt] for rt in runtimes]
    # (sandbox, other, header): each runsc-py platform against runc and gVisor
    pairs = [(sb, o, f"{TITLES[sb]} / {TITLES[o].split()[0]}") for sb in SANDBOXES
             for o in ("runc", "gvisor") if sb in runtimes and o in runtimes]
    hdr += [p[2] for p in pairs]
    lines.append("| " + " | ".join(hdr) + " |")
    lines.append("|" + "---|" * len(hdr))
    kinds = {r[0]: r[2] for r in ROWS}
    for row, per in res["workloads"].items():
        cells = [row] + [_cell(per[rt], kinds[row]) for rt in runtimes]
        srow = {rt: {"ns_per_op": per[rt], "median": _med(per[rt])} for rt in runtimes}
        for sb, o, _ in pairs:
            r = pair_ratios(per[sb], per[o])
            cells.append(_ratio_cell(r))
            srow[f"ratio_{sb}/{o}"] = _med(r)
        summary["workloads"][row] = srow
        lines.append("| " + " | ".join(cells) + " |")
    if any(res["latency_ms"].get(rt) for rt in runtimes):
        cells = ["`run /bin/true` start→exit"]
        for rt in runtimes:
            v = [x for x in res["latency_ms"][rt] if x is not None]
            cells.append(f"{statistics.median(v):.1f} ms ({min(v):.1f}–{max(v):.1f})" if v else "FAIL")
            summary["latency_ms"][rt] = _med(res["latency_ms"][rt])
        for sb, o, _ in pairs:
            r = pair_ratios(res["latency_ms"][sb], res["latency_ms"][o])
            cells.append(_ratio_cell(r))
        lines.append("| " + " | ".join(cells) + " |")
    for label, per in res["memory"].items():
        cells = [f"memory PSS, {label.replace('_', ' ')}"]
        summary["memory_mib"][label] = {}
        for rt in runtimes:
            m = per.get(rt)
            if m and m["host_tmpfs_kib"]:
                cells.append(f"{m['total_kib'] / 1024:.1f} MiB "
                             f"({m['pss_kib'] / 1024:.1f} + {m['host_tmpfs_kib'] / 1024:.0f} tmpfs)")
            else:
                cells.append(f"{m['total_kib'] / 1024:.1f} MiB" if m else "FAIL")
            summary["memory_mib"][label][rt] = m["total_kib"] / 1024 if m else None
        for sb, o, _ in pairs:
            x, y = per.get(sb), per.get(o)
            cells.append(f"{x['total_kib'] / y['total_kib']:.2f}×" if x and y and y["total_kib"] else "—")
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    extra = []
    if res["floor"]:
        extra.append("\nNotify floor (C seccomp user-notification round trip, native, same run):\n")
        extra.append("| mode | ns per trapped call, median (min–max) |\n|---|---|")
        for k, v in res["floor"].items():
            extra.append(f"| {k} | {_cell(v, 'ns')} |")
            summary["floor_ns"][k] = statistics.median(v)
        fl = summary["floor_ns"].get("floor_unpinned")
        for sb in (sb for sb in SANDBOXES if fl and sb in runtimes):
            for row in ("open_close", "stat"):
                w = summary["workloads"].get(row)
                if w and w[sb]["median"] and w.get("native", {}).get("median") is not None:
                    over = w[sb]["median"] - w["native"]["median"]
                    extra.append(f"\n{TITLES[sb]} {row}: {_fmt_ns(over)} over native = "
                                 f"{over / fl:.2f}× the unpinned floor")
                    summary["workloads"][row][f"{sb}_overhead_vs_floor"] = over / fl
    if notes:
        extra.append("\nNotes:\n" + "\n".join(f"- {n}" for n in notes))
    extra.append("\nRatios are time ratios (runsc-py's time / the other's time, per repetition, "
                 "median (min–max)): below 1 means runsc-py is faster; for MB/s and files/s "
                 "rows too.")
    return table + "\n" + "\n".join(extra), summary


def machine() -> dict:
    return {"nproc": os.cpu_count(), "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "runsc": _version(["runsc", "--version"]), "runc": _version(["runc", "--version"])}


def _version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
    except (OSError, subprocess.TimeoutExpired):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    ap.add_argument("--only", default="", help="comma-separated rows: workload names, "
                    "latency, memory, floor (default: all)")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES))
    ap.add_argument("--seconds", type=float, default=0.5,
                    help="target duration of each workload's timed loop (default 0.5)")
    ap.add_argument("--latency-n", type=int, default=10,
                    help="`run /bin/true` samples per runtime per rep (default 10)")
    ap.add_argument("--json", default=str(HERE / "results" / "latest.json"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("benchmarks/run.py needs root (containers, namespaces, seccomp); run it as root.",
              file=sys.stderr)
        return 2
    names = {r[0] for r in ROWS} | set(EXTRA)
    bad = [x for x in a.only.split(",") if x and x not in names]
    if bad:
        print(f"unknown --only rows: {bad}; known: {sorted(names)}", file=sys.stderr)
        return 2
    b = Bench(a)
    try:
        res = b.main()
    finally:
        b.cleanup()
    text, summary = report(res, b.runtimes, b.notes)
    m = machine()
    cmdline = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    print(f"\nmachine: nproc={m['nproc']} kernel={m['kernel']} date={m['date']}")
    print(f"command: {cmdline}\n")
    print(text)
    if res["errors"]:
        print("\nFailures:")
        for k, v in res["errors"].items():
            print(f"- {k}: {v[0]}" + (f" (x{len(v)})" if len(v) > 1 else ""))
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": m, "command": cmdline, "reps": a.reps,
                               "seconds": a.seconds, "runtimes": b.runtimes, "raw": res,
                               "summary": summary, "notes": b.notes, "table": text},
                              indent=2, default=str))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
