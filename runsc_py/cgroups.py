"""linux.resources (pids, memory, cpu) enforced through the host's cgroups.

One cgroup per sandbox, named `runsc-py/<cid>` (`runsc-py/<cid>-<hash of --root>` when
the caller passes the root as `scope`, as the runtime does), in every hierarchy that carries a
controller we need. The sentry makes it first thing (`prepare`) and moves itself, the
gofer, the spawner and the init into it before the init may start, so the
sentry, the gofer and every workload task are charged to the same limits: a workload
cannot escape a memory limit by making the sentry allocate for it, nor a pids limit by
making the gofer fork.

Layouts, detected at run time from /proc/self/mountinfo:
  - cgroup v1 (and hybrid): one mount per controller set, e.g. /sys/fs/cgroup/pids,
    /sys/fs/cgroup/memory, /sys/fs/cgroup/cpu,cpuacct (or cpu and cpuacct apart);
  - cgroup v2 (unified): one mount, controllers listed in cgroup.controllers and
    enabled for children through each ancestor's cgroup.subtree_control.
A hybrid host has both; a controller bound to v1 is used there, and the v2 cgroup (even
with no controllers) is still made because it gives us cgroup.kill and cgroup.freeze.

Where: under the cgroup the runtime itself runs in (as runc does for a relative
cgroupsPath), so a runtime started inside a limited cgroup (a systemd unit, a CI job)
keeps its sandboxes inside that cgroup's accounting. On pure v2 that cgroup may hold
processes, which forbids enabling controllers below it (the no-internal-process rule):
then the hierarchy's root is used instead.
"""
from __future__ import annotations

import binascii
import errno
import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from runsc_py.errors import RuntimeFailure

log = logging.getLogger("runsc-py.cgroups")

PREFIX = "runsc-py"
# controllers we use; cpuacct only exists on v1 (v2's cpu.stat has the usage)
WANTED = ("pids", "memory", "cpu", "cpuacct", "freezer")
V2_WANTED = ("pids", "memory", "cpu")
MOUNTINFO = "/proc/self/mountinfo"


# --------------------------------------------------------------------------
# discovery

@dataclass(frozen=True)
class Hierarchy:
    version: int                   # 1 or 2
    mount: str                     # where it is mounted
    controllers: frozenset[str]    # v1: from the mount options; v2: root cgroup.controllers
    own: str                       # the calling process's cgroup in it ("/" at the root)

    def path(self, rel: str) -> str:
        return os.path.join(self.mount, rel.lstrip("/"))


def _own_cgroups() -> dict[str, str]:
    """/proc/self/cgroup as {"v2": path, "pids": path, "cpu,cpuacct": path, ...}."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                hid, ctrls, path = line.rstrip("\n").split(":", 2)
                out["v2" if hid == "0" and not ctrls else ctrls] = path
    except OSError:
        pass
    return out


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def discover() -> list[Hierarchy]:
    """The cgroup hierarchies mounted here that carry a controller we use (every v1
    hierarchy with pids/memory/cpu/cpuacct/freezer, and the v2 hierarchy if any)."""
    own = _own_cgroups()
    found: list[Hierarchy] = []
    seen: set[frozenset[str]] = set()
    have_v2 = False
    try:
        lines = _read(MOUNTINFO).splitlines()
    except OSError:
        return []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        mount_root = fields[3]
        mountpoint = fields[4].replace("\\040", " ")
        fstype, superopts = rfields[0], rfields[2].split(",")
        if fstype == "cgroup":
            ctrls = frozenset(o for o in superopts if o in WANTED)
            if not ctrls or ctrls in seen:  # name=systemd, devices...; bind mounts
                continue
            seen.add(ctrls)
            key = next((k for k in own if k != "v2" and ctrls <= set(k.split(","))), None)
            rel = _relative(own.get(key, "/") if key else "/", mount_root)
            found.append(Hierarchy(1, mountpoint, ctrls, rel))
        elif fstype == "cgroup2" and not have_v2:
            have_v2 = True
            try:
                ctrls = frozenset(_read(os.path.join(mountpoint, "cgroup.controllers")).split())
            except OSError:
                ctrls = frozenset()
            rel = _relative(own.get("v2", "/"), mount_root)
            found.append(Hierarchy(2, mountpoint, ctrls, rel))
    # on a hybrid host a controller bound to v1 is not available on v2 anyway; drop
    # from the v2 entry whatever v1 already serves so each limit is written once
    v1 = frozenset().union(*(h.controllers for h in found if h.version == 1))
    return [Hierarchy(2, h.mount, h.controllers - v1, h.own) if h.version == 2 else h
            for h in found]


def _relative(path: str, mount_root: str) -> str:
    """A /proc/self/cgroup path made relative to what the mount shows (a mount of a
    subtree, e.g. inside a container, has a root other than "/")."""
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root):] or "/"
    return path


def layout() -> str:
    """"v1", "v2", "hybrid" or "none": for messages and tests."""
    hiers = discover()
    versions = {h.version for h in hiers}
    v1_ctrls = any(h.controllers for h in hiers if h.version == 1)
    if versions == {2}:
        return "v2"
    if 1 in versions and 2 in versions and v1_ctrls:
        return "hybrid"
    return "v1" if 1 in versions else "none"


# --------------------------------------------------------------------------
# conversions (as runc does them)

def _limit(section: dict, key: str, name: str) -> int | None:
    """An OCI int64 limit: None when unset or 0 (runc treats 0 as unset), -1 = no limit."""
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise RuntimeFailure(f"linux.resources.{name}.{key}: {value!r} is not an integer")
    return None if value == 0 else value


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] to cpu.weight [1, 10000] (runc's formula; 1024 -> 39)."""
    shares = max(2, min(262144, shares))
    return 1 + ((shares - 2) * 9999) // 262142


def has_limits(resources: dict | None) -> bool:
    r = resources or {}
    return any(isinstance(r.get(k), dict) and r.get(k) for k in ("pids", "memory", "cpu"))


def cgroup_name(cid: str, scope: str | os.PathLike | None = None) -> str:
    """The leaf name: the id, plus a short hash of `scope` (the --root) when given, so
    that two roots (two test runs, two daemons) using the same id never share, or
    kill, each other's cgroup: pids and cpu hierarchies are host-wide."""
    if not cid or "/" in cid or cid in (".", ".."):
        raise RuntimeFailure(f"cgroup: invalid container id {cid!r}")
    if scope is None:
        return cid
    # (crc32, not sha256: hashlib's OpenSSL start-up is ~3 ms of every `create`)
    tag = f"{binascii.crc32(os.fsencode(os.path.realpath(os.fspath(scope)))):08x}"
    return f"{cid}-{tag}"


# --------------------------------------------------------------------------
# the cgroup of one sandbox

@dataclass
class _Dir:
    hier: Hierarchy
    path: str


class SandboxCgroup:
    """The cgroup `runsc-py/<cid>` of one sandbox, in every relevant hierarchy."""

    def __init__(self, cid: str, dirs: list[_Dir]) -> None:
        self.cid = cid
        self.dirs = dirs

    # ---- construction

    @classmethod
    def create(cls, cid: str, resources: dict | None,
               scope: str | os.PathLike | None = None) -> SandboxCgroup:
        """Make the cgroups and apply `resources` (linux.resources). Raises RuntimeFailure."""
        name = cgroup_name(cid, scope)
        hiers = discover()
        if not hiers:
            raise RuntimeFailure("cgroup: no cgroup hierarchy is mounted")
        self = cls(cid, [])
        try:
            for h in hiers:
                self.dirs.append(_Dir(h, _make(h, name)))
            self.update(resources or {})
        except BaseException:
            self.destroy()
            raise
        return self

    @classmethod
    def existing(cls, cid: str, scope: str | os.PathLike | None = None) -> SandboxCgroup | None:
        """The cgroup of `cid` made earlier (by this or another process), if any."""
        name = cgroup_name(cid, scope)
        dirs = [_Dir(h, p) for h in discover() for p in _candidates(h, name)
                if os.path.isdir(p)]
        return cls(cid, dirs) if dirs else None

    def _dir(self, controller: str) -> str | None:
        for d in self.dirs:
            if controller in d.hier.controllers:
                return d.path
        return None

    def _v2(self) -> str | None:
        return next((d.path for d in self.dirs if d.hier.version == 2), None)

    # ---- members

    def add(self, pid: int) -> None:
        """Move process `pid` (all its threads) into every hierarchy's cgroup."""
        for d in self.dirs:
            _write(os.path.join(d.path, "cgroup.procs"), str(pid), f"process {pid}")

    def procs(self) -> list[int]:
        """Every process in the cgroup, its child cgroups included."""
        pids: set[int] = set()
        for d in self.dirs:
            for top, _subdirs, _files in os.walk(d.path):
                try:
                    pids.update(int(x) for x in _read(os.path.join(top, "cgroup.procs")).split())
                except OSError:
                    pass
        return sorted(pids)

    def part(self, name: str) -> SandboxCgroup:
        """A child cgroup: `sandbox` holds the sentry and the gofer, `workload` the
        container's tasks. The limits set on the parent cover both; pause freezes only
        the workload (freezing the sentry would stop the very process serving pause)."""
        dirs = []
        for d in self.dirs:
            if d.hier.version == 2:
                _enable_v2(d.hier, os.path.relpath(d.path, d.hier.mount))
            path = os.path.join(d.path, name)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as e:
                raise RuntimeFailure(f"cgroup: cannot create {path}: {e.strerror}") from e
            dirs.append(_Dir(d.hier, path))
        return SandboxCgroup(self.cid, dirs)

    # ---- limits

    def update(self, resources: dict) -> None:
        """Apply linux.resources' pids, memory and cpu (also for `runsc-py update`).
        A limit asked for but not enforceable here is an error, never ignored."""
        pids = resources.get("pids") or {}
        mem = resources.get("memory") or {}
        cpu = resources.get("cpu") or {}
        for name, val in (("pids", pids), ("memory", mem), ("cpu", cpu)):
            if not isinstance(val, dict):
                raise RuntimeFailure(f"linux.resources.{name} must be an object")

        limit = _limit(pids, "limit", "pids")
        if limit is not None:
            d = self._need("pids", "linux.resources.pids.limit")
            _write(os.path.join(d, "pids.max"), "max" if limit < 0 else str(limit),
                   "linux.resources.pids.limit")

        self._memory(mem)
        self._cpu(cpu)

    def _need(self, controller: str, what: str) -> str:
        d = self._dir(controller)
        if d is None:
            raise RuntimeFailure(f"{what}: the {controller} cgroup controller is not "
                                 "available on this host")
        return d

    def _memory(self, mem: dict) -> None:
        limit, swap = _limit(mem, "limit", "memory"), _limit(mem, "swap", "memory")
        reservation = _limit(mem, "reservation", "memory")
        if limit is None and swap is None and reservation is None:
            return
        d = self._need("memory", "linux.resources.memory.limit")
        v2 = self._hier_of(d).version == 2
        # OCI's swap is memory+swap (runc's semantics). With a limit and no swap given
        # the workload gets no swap: otherwise a hog just pages out and the host suffers.
        if limit is not None and limit > 0 and swap is None:
            swap = limit
        if v2:
            if limit is not None:
                _write(os.path.join(d, "memory.max"), "max" if limit < 0 else str(limit),
                       "linux.resources.memory.limit")
            if swap is not None and os.path.exists(os.path.join(d, "memory.swap.max")):
                val = "max" if swap < 0 or (limit or -1) < 0 else str(max(0, swap - limit))
                _write(os.path.join(d, "memory.swap.max"), val, "linux.resources.memory.swap")
            if reservation is not None:
                _write(os.path.join(d, "memory.low"),
                       "max" if reservation < 0 else str(reservation),
                       "linux.resources.memory.reservation")
            return
        lim_f = os.path.join(d, "memory.limit_in_bytes")
        sw_f = os.path.join(d, "memory.memsw.limit_in_bytes")
        has_sw = os.path.exists(sw_f)  # absent when the kernel has no swap accounting
        if limit is not None:
            # v1 insists memsw >= limit at every moment: raise memsw first when growing
            grow = has_sw and swap is not None and (swap < 0 or swap > _int(sw_f))
            if grow:
                _write(sw_f, str(swap), "linux.resources.memory.swap")
            _write(lim_f, str(limit), "linux.resources.memory.limit")
            if has_sw and swap is not None and not grow:
                _write(sw_f, str(swap), "linux.resources.memory.swap")
        elif swap is not None and has_sw:
            _write(sw_f, str(swap), "linux.resources.memory.swap")
        if reservation is not None:
            _write(os.path.join(d, "memory.soft_limit_in_bytes"), str(reservation),
                   "linux.resources.memory.reservation")

    def _cpu(self, cpu: dict) -> None:
        shares, quota = _limit(cpu, "shares", "cpu"), _limit(cpu, "quota", "cpu")
        period = _limit(cpu, "period", "cpu")
        if shares is None and quota is None and period is None:
            return
        d = self._need("cpu", "linux.resources.cpu")
        if self._hier_of(d).version == 2:
            if quota is not None or period is not None:
                cur_q, _, cur_p = _read(os.path.join(d, "cpu.max")).strip().partition(" ")
                q = cur_q if quota is None else ("max" if quota < 0 else str(quota))
                p = cur_p if period is None else str(period)
                _write(os.path.join(d, "cpu.max"), f"{q} {p}",
                       "linux.resources.cpu.quota/period")
            if shares is not None:
                _write(os.path.join(d, "cpu.weight"), str(shares_to_weight(shares)),
                       "linux.resources.cpu.shares")
            return
        # v1 checks quota against the period: set the period first
        if period is not None:
            _write(os.path.join(d, "cpu.cfs_period_us"), str(period),
                   "linux.resources.cpu.period")
        if quota is not None:
            _write(os.path.join(d, "cpu.cfs_quota_us"), str(-1 if quota < 0 else quota),
                   "linux.resources.cpu.quota")
        if shares is not None:
            _write(os.path.join(d, "cpu.shares"), str(shares), "linux.resources.cpu.shares")

    def _hier_of(self, path: str) -> Hierarchy:
        return next(d.hier for d in self.dirs if d.path == path)

    # ---- pause / resume

    def freeze(self, timeout: float = 5.0) -> None:
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        self._set_frozen(False, timeout)

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        what = "freeze" if frozen else "thaw"
        v2, v1 = self._v2(), self._dir("freezer")
        if v2 is not None and os.path.exists(os.path.join(v2, "cgroup.freeze")):
            _write(os.path.join(v2, "cgroup.freeze"), "1" if frozen else "0", what)
            want = f"frozen {int(frozen)}"
            done = lambda: want in _read(os.path.join(v2, "cgroup.events")).splitlines()  # noqa: E731
        elif v1 is not None:
            state = "FROZEN" if frozen else "THAWED"
            _write(os.path.join(v1, "freezer.state"), state, what)
            done = lambda: _read(os.path.join(v1, "freezer.state")).strip() == state  # noqa: E731
        else:
            raise RuntimeFailure(f"cgroup: cannot {what}: no freezer on this host")
        # freezing is asynchronous (a task in an uninterruptible sleep freezes later)
        deadline = time.monotonic() + timeout
        pause = _Backoff()
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"cgroup: {what} of {self.cid} timed out")
            pause()

    # ---- stats (shaped like runc's `events --stats` "data")

    def stats(self) -> dict:
        out: dict[str, Any] = {}
        if d := self._dir("pids"):
            out["pids"] = {"current": _int(os.path.join(d, "pids.current")),
                           "limit": _int(os.path.join(d, "pids.max"))}
        if d := self._dir("memory"):
            if self._hier_of(d).version == 2:
                ev = _kv(os.path.join(d, "memory.events"))
                usage = {"usage": _int(os.path.join(d, "memory.current")),
                         "max": _int(os.path.join(d, "memory.peak")),
                         "limit": _int(os.path.join(d, "memory.max")),
                         "failcnt": ev.get("max", 0)}
                oom = ev.get("oom_kill", 0)
            else:
                usage = {"usage": _int(os.path.join(d, "memory.usage_in_bytes")),
                         "max": _int(os.path.join(d, "memory.max_usage_in_bytes")),
                         "limit": _int(os.path.join(d, "memory.limit_in_bytes")),
                         "failcnt": _int(os.path.join(d, "memory.failcnt"))}
                oom = _kv(os.path.join(d, "memory.oom_control")).get("oom_kill", 0)
            out["memory"] = {"usage": usage, "oom_kill": oom,
                             "raw": _kv(os.path.join(d, "memory.stat"))}
        if (d := self._dir("cpuacct")) is not None:
            usage_ns = _int(os.path.join(d, "cpuacct.usage"))
            out["cpu"] = {"usage": {"total": usage_ns,
                                    "user": _int(os.path.join(d, "cpuacct.usage_user")),
                                    "kernel": _int(os.path.join(d, "cpuacct.usage_sys"))}}
        elif (d := self._v2()) is not None:  # cpu.stat is core on v2, controller or not
            st = _kv(os.path.join(d, "cpu.stat"))
            out["cpu"] = {"usage": {"total": st.get("usage_usec", 0) * 1000,
                                    "user": st.get("user_usec", 0) * 1000,
                                    "kernel": st.get("system_usec", 0) * 1000}}
        if (d := self._dir("cpu")) is not None:
            st = _kv(os.path.join(d, "cpu.stat"))
            out.setdefault("cpu", {})["throttling"] = {
                "periods": st.get("nr_periods", 0),
                "throttled_periods": st.get("nr_throttled", 0),
                "throttled_time": st.get("throttled_time", st.get("throttled_usec", 0) * 1000)}
        return out

    # ---- teardown

    def abandon(self) -> None:
        """For the sandbox whose setup failed after `enter`: move the caller back to the
        cgroups it came from (one cannot remove a cgroup one is in), then destroy."""
        me = str(os.getpid())
        for d in self.dirs:
            try:  # the parent of runsc-py/ is where the caller came from
                _write(os.path.join(os.path.dirname(os.path.dirname(d.path)), "cgroup.procs"),
                       me, "moving back out")
            except RuntimeFailure as e:
                log.debug("%s", e)
        self.destroy()

    def destroy(self, timeout: float = 10.0) -> None:
        """Kill everything left in the cgroup and remove its directories. The caller
        must not be inside it (it would kill itself)."""
        me = os.getpid()
        if me in self.procs():
            raise RuntimeFailure(f"cgroup: destroy of {self.cid} called from inside it")
        deadline = time.monotonic() + timeout
        v2 = self._v2()
        if v2 and os.path.exists(os.path.join(v2, "cgroup.kill")):
            # one atomic kill, forks in flight included
            try:
                _write(os.path.join(v2, "cgroup.kill"), "1", "cgroup.kill")
            except RuntimeFailure as e:
                log.debug("%s", e)
        frozen = False
        pause = _Backoff()
        while pids := self.procs():
            if not frozen:
                # without cgroup.kill a fork bomb can outrun a kill loop: freeze it
                # first so the set we signal is the whole set
                try:
                    self.freeze(timeout=1.0)
                    frozen = True
                except RuntimeFailure:
                    pass
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:  # SIGKILL is only acted on once thawed
                try:
                    self.thaw(timeout=1.0)
                except RuntimeFailure:
                    pass
                frozen = False
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"cgroup: could not kill the processes of {self.cid}: "
                                     f"{pids}")
            pause()
        # the emptied cgroup may still be busy briefly while exiting tasks release it;
        # child cgroups (sandbox, workload) go first
        for d in self.dirs:
            for top, _subdirs, _files in os.walk(d.path, topdown=False):
                _rmdir(top, deadline)
        self.dirs = []


# --------------------------------------------------------------------------
# helpers

def _candidates(h: Hierarchy, name: str) -> list[str]:
    """Where `runsc-py/<name>` can be in hierarchy h: under the caller's own cgroup, or
    at the root (the pure-v2 fallback, or a creator that ran in another cgroup)."""
    out = [h.path(os.path.join(h.own, PREFIX, name))]
    root = h.path(os.path.join("/", PREFIX, name))
    return out if root in out else out + [root]


def _make(h: Hierarchy, name: str) -> str:
    parents = [h.own, "/"] if h.version == 2 and h.own != "/" else [h.own]
    last: RuntimeFailure | None = None
    for parent in parents:
        base = h.path(os.path.join(parent, PREFIX))
        try:
            if h.version == 2:
                _enable_v2(h, parent)
            os.makedirs(base, exist_ok=True)
            if h.version == 2:
                _enable_v2(h, os.path.join(parent, PREFIX))
        except RuntimeFailure as e:
            last = e
            continue
        except OSError as e:
            raise RuntimeFailure(f"cgroup: cannot create {base}: {e.strerror}") from e
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
        except FileExistsError:
            # a leftover of a sandbox that died without `delete`: reuse it if empty;
            # a live one of the same id (another --root) must not be shared
            if _read(os.path.join(path, "cgroup.procs")).split():
                raise RuntimeFailure(f"cgroup {path} already exists and is in use "
                                     "(the same container id in another --root?)") from None
        except OSError as e:
            raise RuntimeFailure(f"cgroup: cannot create {path}: {e.strerror}") from e
        return path
    assert last is not None
    raise last


def _enable_v2(h: Hierarchy, rel: str) -> None:
    """Enable in `rel`'s cgroup.subtree_control what we need from what it has (on a
    hybrid host that is usually nothing: the controllers are bound to v1)."""
    d = h.path(rel)
    want = [c for c in V2_WANTED if c in h.controllers]
    if not want:
        return
    have = set(_read(os.path.join(d, "cgroup.subtree_control")).split())
    avail = set(_read(os.path.join(d, "cgroup.controllers")).split())
    missing = [c for c in want if c in avail and c not in have]
    if missing:
        _write(os.path.join(d, "cgroup.subtree_control"),
               " ".join("+" + c for c in missing), f"enabling {', '.join(missing)}")


def _write(path: str, value: str, what: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        hint = {errno.EBUSY: " (usage already above it?)" if "memory" in what else "",
                errno.EPERM: " (not permitted: missing CAP_SYS_ADMIN/CAP_SYS_RESOURCE "
                             "or a cgroup not delegated to us?)"}.get(e.errno, "")
        raise RuntimeFailure(f"cgroup: cannot set {what} ({value!r} to {path}): "
                             f"{e.strerror}{hint}") from e


def _int(path: str) -> int:
    """An integer cgroup file; "max" (v2) reads as -1; a missing file as 0."""
    try:
        text = _read(path).split()
    except OSError:
        return 0
    if not text or text[0] == "max":
        return -1 if text else 0
    try:
        return int(text[0])
    except ValueError:
        return 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in _read(path).splitlines():
            k, _, v = line.partition(" ")
            try:
                out[k] = int(v)
            except ValueError:
                pass
    except OSError:
        pass
    return out


class _Backoff:
    """Sleeps 1 ms, then twice as long each call, at most 10 ms: what we wait for (a
    killed sandbox's last exits, a freeze) is mostly over within a millisecond or two."""

    def __init__(self) -> None:
        self.delay = 0.001

    def __call__(self) -> None:
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, 0.01)


def _rmdir(path: str, deadline: float) -> None:
    pause = _Backoff()
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise RuntimeFailure(f"cgroup: cannot remove {path}: {e.strerror}") from e
            pause()


# --------------------------------------------------------------------------
# what the sandbox and `delete` call

def prepare(cid: str, resources: dict | None,
            scope: str | os.PathLike | None = None) -> SandboxCgroup | None:
    """Called by the sandbox process (sentry) first thing: make the cgroup and apply
    linux.resources, moving nobody yet (the sentry moves itself, the gofer, the spawner
    and the init in one burst before the init may start). A cgroup is made
    even without limits (ps, stats and pause use it). Returns None only when no limit
    is asked for and this host gives us no cgroups (none mounted, read-only, not
    delegated): limits that cannot be enforced are a RuntimeFailure, never silently
    dropped."""
    try:
        return SandboxCgroup.create(cid, resources, scope)
    except RuntimeFailure as e:
        if has_limits(resources):
            raise
        log.warning("no cgroup for %s (no limits asked for): %s", cid, e)
        return None


def enter(cid: str, resources: dict | None,
          scope: str | os.PathLike | None = None) -> SandboxCgroup | None:
    """`prepare`, then move the caller into the cgroup's `sandbox` part: all it forks
    from then on inherits it."""
    cg = prepare(cid, resources, scope)
    if cg is None:
        return None
    try:
        cg.part("sandbox").add(os.getpid())
    except RuntimeFailure:
        cg.abandon()
        raise
    return cg


def cleanup(cid: str, scope: str | os.PathLike | None = None) -> None:
    """For `delete`, after the sandbox died: kill stragglers, remove the cgroup dirs.
    Idempotent; nothing to do when they are absent. `scope` as given to `enter`."""
    cg = SandboxCgroup.existing(cid, scope)
    if cg is not None:
        cg.destroy()
