"""Helpers of the compatibility suite: a cached Debian rootfs, bundles on it, and running
one command under runc and under runsc-py side by side.

Public API (used by conftest.py, the test modules and report.py):

    rootfs_dir() -> Path              the cached bookworm minbase rootfs (built on demand)
    make_bundle(dir, args, ...) -> Path
                                      config.json from `runc spec`, root = the cached rootfs
                                      read-only, a tmpfs on /tmp
    run_one(runtime, args, ...) -> Result
    run_both(args, ...) -> dict[str, Result]   {"runc": ..., "runsc-py": ..., "runsc-py-ptrace": ...}
    diagnose(result) -> list[str]     the interesting lines of a runsc-py sandbox log

The rootfs is built once with debootstrap (from the Debian mirror the machine's apt is
configured for) into RUNSC_PY_COMPAT_CACHE (default /var/cache/runsc-py-compat), in a
directory named after a hash of the suite, variant and package list: it is built into a
temporary directory next to it and renamed into place when complete, under a lock, so
concurrent runs build it once. Nothing ever writes to it afterwards: bundles use it as
their root read-only, with a tmpfs on /tmp.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO_ROOT = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers import apply_overrides, runc_spec, save_config  # noqa: E402

SUITE = "bookworm"
VARIANT = "minbase"
PACKAGES = ("python3", "libpython3.11-testsuite", "sqlite3", "coreutils", "findutils",
            "procps")
CACHE_ENV = "RUNSC_PY_COMPAT_CACHE"
MIRROR_ENV = "RUNSC_PY_COMPAT_MIRROR"
LOG_DIR_ENV = "RUNSC_PY_COMPAT_LOGS"
DEFAULT_CACHE = Path("/var/cache/runsc-py-compat")

# The capabilities Docker and containerd give a container by default (runc spec's
# own default is only AUDIT_WRITE, KILL, NET_BIND_SERVICE): real images run with these,
# and CPython's tests as root expect chown, mknod and the like to work.
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

# every runsc-py platform is compared with runc
SANDBOXES = {"runsc-py": "seccomp", "runsc-py-ptrace": "ptrace"}
RUNTIMES = ("runc", *SANDBOXES)
RUNSC_PY_CMD = [sys.executable, "-m", "runsc_py"]
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "HOME=/root", "LANG=C.UTF-8", "TERM=dumb", "PYTHONDONTWRITEBYTECODE=1"]


# --------------------------------------------------------------------------
# requirements

def missing_requirements() -> list[str]:
    out = []
    if os.geteuid() != 0:
        out.append("needs root (euid != 0)")
    if shutil.which("runc") is None:
        out.append("runc not found (apt-get install runc)")
    if shutil.which("debootstrap") is None and not _cached_rootfs().exists():
        out.append("debootstrap not found (apt-get install debootstrap; "
                   "see scripts/install-deps.sh)")
    return out


# --------------------------------------------------------------------------
# the rootfs

def apt_mirror() -> str:
    """The Debian mirror apt is configured with (deb822 or one-line sources), for SUITE."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    files = [Path("/etc/apt/sources.list")]
    d = Path("/etc/apt/sources.list.d")
    if d.is_dir():
        files += sorted(d.iterdir())
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    k, _, v = line.partition(":")
                    fields[k.strip().lower()] = v.strip()
                suites = fields.get("suites", "").split()
                if SUITE in suites and "deb" in fields.get("types", "").split():
                    for uri in fields.get("uris", "").split():
                        if "security" not in uri:
                            return uri.rstrip("/")
        else:
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 3 and parts[0] == "deb":
                    rest = [p for p in parts[1:] if not p.startswith("[")]
                    if len(rest) >= 2 and rest[1] == SUITE and "security" not in rest[0]:
                        return rest[0].rstrip("/")
    raise RuntimeError(f"no Debian mirror for {SUITE} in apt's sources; set {MIRROR_ENV}")


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def rootfs_key() -> str:
    h = hashlib.sha256(f"{SUITE}\n{VARIANT}\n{','.join(sorted(PACKAGES))}".encode())
    return f"{SUITE}-{h.hexdigest()[:12]}"


def _cached_rootfs() -> Path:
    return cache_dir() / rootfs_key()


def rootfs_dir(log=None) -> Path:
    """The cached rootfs, built with debootstrap on first use (minutes; then instant)."""
    final = _cached_rootfs()
    if (final / ".complete").exists():
        return final
    base = cache_dir()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / ".complete").exists():
            return final
        if final.exists():  # a half-made tree left by a crash; never renamed in, but be safe
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{rootfs_key()}-", dir=base))
        target = tmp / "rootfs"
        mirror = apt_mirror()
        cmd = ["debootstrap", f"--variant={VARIANT}", f"--include={','.join(PACKAGES)}",
               SUITE, str(target), mirror]
        if log:
            log(f"compat: building {final} with: {' '.join(cmd)}")
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
            if p.returncode != 0:
                raise RuntimeError(f"debootstrap failed ({p.returncode}):\n"
                                   f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
            finish_rootfs(target)
            (target / ".complete").write_text(" ".join(cmd) + "\n")
            os.rename(target, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def finish_rootfs(target: Path) -> None:
    """Make the debootstrapped tree usable read-only: drop apt caches, add mount points."""
    shutil.rmtree(target / "var/cache/apt/archives", ignore_errors=True)
    (target / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    for d in ("proc", "sys", "dev", "tmp", "root"):
        (target / d).mkdir(exist_ok=True)
    os.chmod(target / "tmp", 0o1777)


# --------------------------------------------------------------------------
# bundles

def make_bundle(bundle_dir: os.PathLike | str, args: Iterable[str], *,
                rootfs: os.PathLike | str | None = None, cwd: str = "/tmp",
                tmp_size: str = "1g", env: Iterable[str] = (), **overrides) -> Path:
    """An OCI bundle whose root is the cached rootfs, read-only, with a tmpfs on /tmp.

    config.json comes from `runc spec` (its usual proc/dev/devpts/shm/mqueue/sysfs
    mounts and network namespace), then terminal=false, args, env (PATH, HOME,
    LANG=C.UTF-8, plus `env`), cwd, and `overrides` (see tests/helpers.apply_overrides).
    """
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    cfg = runc_spec(bundle_dir)
    cfg["root"] = {"path": str(rootfs or rootfs_dir()), "readonly": True}
    cfg["hostname"] = "compat"
    proc = cfg["process"]
    proc["terminal"] = False
    proc["args"] = [str(a) for a in args]
    proc["env"] = ENV + list(env)
    proc["cwd"] = cwd
    proc["capabilities"] = {k: list(DEFAULT_CAPS)
                            for k in ("bounding", "effective", "permitted")}
    cfg.setdefault("mounts", []).append(
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777", f"size={tmp_size}"]})
    cfg = apply_overrides(cfg, **overrides)
    save_config(bundle_dir, cfg)
    return bundle_dir


# --------------------------------------------------------------------------
# running

@dataclass
class Result:
    runtime: str
    rc: int | None            # None: timed out
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    log_path: str | None = None  # runsc-py's --log file (kept for diagnosis)
    log_lines: list[str] = field(default_factory=list)  # its interesting lines

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def summary(self, tail: int = 40) -> str:
        out = [f"--- {self.runtime}: rc={self.rc} timed_out={self.timed_out} "
               f"{self.duration:.1f}s"]
        if self.stdout.strip():
            out.append("stdout (tail):")
            out += self.stdout.rstrip().splitlines()[-tail:]
        if self.stderr.strip():
            out.append("stderr (tail):")
            out += self.stderr.rstrip().splitlines()[-tail:]
        if self.log_lines:
            out.append(f"sandbox log ({self.log_path}):")
            out += self.log_lines[:40]
        return "\n".join(out)


_ids = itertools.count()
_DIAG_RE = re.compile(r"unsupported syscall|refused syscall|failed|Traceback|Error|error|"
                      r"native syscall .* was trapped")


def log_dir() -> Path:
    d = Path(os.environ.get(LOG_DIR_ENV) or (Path(tempfile.gettempdir()) / "runsc-py-compat-logs"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def diagnose(log_path: str | os.PathLike | None, limit: int = 200) -> list[str]:
    """The lines of a runsc-py log that tell what went wrong (unsupported/refused
    syscalls, handler failures, errors), deduplicated, in order."""
    if not log_path or not os.path.exists(log_path):
        return []
    seen: set[str] = set()
    out: list[str] = []
    with open(log_path, errors="replace") as f:
        for line in f:
            if not _DIAG_RE.search(line):
                continue
            # drop the timestamp / pid prefix when deduplicating
            key = re.sub(r"^\S+ \S+ ", "", line.strip())
            key = re.sub(r"\b\d{3,}\b", "N", key)
            if key in seen:
                continue
            seen.add(key)
            out.append(line.rstrip())
            if len(out) >= limit:
                break
    return out


def _runtime_cmd(runtime: str, root: Path, log_path: Path | None) -> list[str]:
    if runtime == "runc":
        return ["runc", "--root", str(root)]
    if runtime in SANDBOXES:
        cmd = [*RUNSC_PY_CMD, "--root", str(root), "--platform", SANDBOXES[runtime]]
        if log_path is not None:
            cmd += ["--log", str(log_path), "--debug"]
        return cmd
    raise ValueError(f"unknown runtime {runtime!r}")


def _kill_group(p: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)


def run_one(runtime: str, args: Iterable[str], *, timeout: float = 120,
            name: str = "c", keep_log: bool = True, stdin: str | None = None,
            **bundle_kw) -> Result:
    """Runs args in a fresh container of `runtime` on the cached rootfs; always deletes
    the container and its --root afterwards. stdout/stderr are captured (text)."""
    args = [str(a) for a in args]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
    cid = f"compat-{safe}-{os.getpid()}-{next(_ids)}"
    work = Path(tempfile.mkdtemp(prefix="rsp-compat-", dir="/tmp"))
    root = work / "r"
    root.mkdir(mode=0o711)
    bundle = make_bundle(work / "b", args, **bundle_kw)
    log_path = None
    if runtime in SANDBOXES:
        log_path = log_dir() / f"{cid}.log"
        with contextlib.suppress(FileNotFoundError):
            log_path.unlink()
    base = _runtime_cmd(runtime, root, log_path)
    start = time.monotonic()
    timed_out = False
    p = subprocess.Popen([*base, "run", "--bundle", str(bundle), cid],
                         stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, cwd=str(work))
    try:
        out, err = p.communicate(input=stdin.encode() if stdin is not None else None,
                                 timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        # runc would leave the container running; stop it through the runtime first
        subprocess.run([*base, "kill", cid, "KILL"], capture_output=True, timeout=30)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(p)
            out, err = p.communicate()
    duration = time.monotonic() - start
    try:
        # without --log: a "does not exist" from an already removed container is no news
        subprocess.run([*_runtime_cmd(runtime, root, None), "delete", "--force", cid],
                       capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        pass
    shutil.rmtree(work, ignore_errors=True)
    res = Result(runtime=runtime, rc=None if timed_out else p.returncode,
                 stdout=out.decode(errors="replace"), stderr=err.decode(errors="replace"),
                 duration=duration, timed_out=timed_out)
    if log_path is not None:
        res.log_lines = diagnose(log_path)
        if keep_log:
            res.log_path = str(log_path)
        else:
            with contextlib.suppress(FileNotFoundError):
                log_path.unlink()
    return res


def run_both(args: Iterable[str], *, parallel: bool = False,
             runtimes: Iterable[str] = RUNTIMES, **kw) -> dict[str, Result]:
    """Runs the same command under runc and under runsc-py (each platform);
    {runtime: Result}.

    parallel=True runs the two at once (halves the wall time; only for commands that
    are not timing-sensitive)."""
    args = list(args)
    runtimes = list(runtimes)
    if not parallel:
        return {rt: run_one(rt, args, **kw) for rt in runtimes}
    results: dict[str, Result] = {}

    def go(rt: str) -> None:
        results[rt] = run_one(rt, args, **kw)

    threads = [threading.Thread(target=go, args=(rt,)) for rt in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {rt: results[rt] for rt in runtimes}


def describe(results: dict[str, Result], tail: int = 40) -> str:
    return "\n".join(r.summary(tail) for r in results.values())


def shell(script: str) -> list[str]:
    return ["sh", "-c", script]


def python(code: str) -> list[str]:
    return ["python3", "-c", code]
