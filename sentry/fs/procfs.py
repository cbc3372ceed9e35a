"""The sandbox's /proc: the tasks of the init's pid namespace, under their sandbox pids,
and a few global files. Nothing of the host's /proc is reachable by name."""
from __future__ import annotations

import errno
import os
import re
import time
from typing import TYPE_CHECKING, Callable

from sentry.errors import SyscallError, TaskGone
from sentry.fs.node import (
    Dir, File, MagicFd, Node, Symlink, SyntheticFS, host_read, open_host, sandbox_name, text,
)
from sentry.task import host_ids_seen

if TYPE_CHECKING:
    from sentry.syscalls.result import Result
    from sentry.task import Task

PROC_SUPER_MAGIC = 0x9FA0


# -- pid namespace -------------------------------------------------------------------
def _status_fields(hp: int) -> dict[str, str]:
    return _parse_status(host_read(f"/proc/{hp}/status"))


def _parse_status(raw_bytes: bytes) -> dict[str, str]:
    raw = raw_bytes.decode(errors="replace")
    out = {}
    for line in raw.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def _status_line(raw: bytes, key: bytes) -> bytes | None:
    """The value of one line of a /proc/PID/status ("\nKey:\tvalue"), found without
    parsing the ~60 others (its Name line is escaped: no newline inside a field)."""
    i = raw.find(b"\n" + key + b":")
    if i < 0:
        return None
    i += len(key) + 2
    j = raw.find(b"\n", i)
    return raw[i:j if j >= 0 else len(raw)]


_CALLERS_MAX = 4096
_PID_DIRS_MAX = 64


class PidNS:
    """Host pid ↔ sandbox pid for the init's pid namespace."""

    def __init__(self, kernel) -> None:  # type: ignore[no-untyped-def]
        self.kernel = kernel
        self._init = 0
        self._ns = ""
        self._level = 0
        self._by_sandbox: dict[int, int] = {}
        # host tid → (its /proc/<tid> inode, sandbox tgid, sandbox tid, host tgid)
        self._callers: dict[int, tuple[int, int, int, int]] = {}
        self._last_task: Task | None = None  # the notification last asked about, and
        self._last_ids = (0, 0, 0)  # its answer

    def _ensure(self) -> None:
        init = self.kernel.init_pid
        if init and init != self._init:
            try:
                self._ns = os.readlink(f"/proc/{init}/ns/pid")
                self._level = len(_status_fields(init).get("NSpid", "x").split()) - 1
            except (OSError, SyscallError):
                raise SyscallError(errno.ESRCH) from None
            self._init = init
            self._by_sandbox = {}
            self._callers = {}
            self._last_task = None

    @property
    def level(self) -> int:
        self._ensure()
        return self._level

    def member(self, hp: int) -> bool:
        self._ensure()
        if not self._init:
            return False
        try:
            return os.readlink(f"/proc/{hp}/ns/pid") == self._ns
        except OSError:
            return False

    def to_sandbox(self, hp: int) -> int:
        """hp's pid (or tid) in the sandbox, 0 when outside it."""
        if hp <= 0 or not self.member(hp):
            return 0
        try:
            ns = _status_fields(hp).get("NSpid", "").split()
        except SyscallError:
            return 0
        return int(ns[self._level]) if len(ns) > self._level else 0

    def tasks(self) -> dict[int, int]:
        """sandbox pid → host pid of every thread-group leader in the sandbox."""
        self._ensure()
        out: dict[int, int] = {}
        if not self._init:
            return out
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            hp = int(name)
            sp = self.to_sandbox(hp)
            if sp:
                out[sp] = hp
        self._by_sandbox = dict(out)
        return out

    def to_host(self, sp: int) -> int:
        hp = self._by_sandbox.get(sp)
        if hp and self.to_sandbox(hp) == sp:
            return hp
        return self.tasks().get(sp, 0)

    def parent_inside(self, t: Task) -> bool:
        """Whether the calling task's parent is a task of the sandbox (the parent of
        the init and of an exec'd process, the sentry, is not)."""
        ppid = (_status_line(t.proc_status(), b"PPid") or b"").strip()
        return ppid.isdigit() and self.member(int(ppid))

    def tid_to_host(self, sp: int) -> int:
        """The host tid of sandbox pid or tid sp (threads are not listed in /proc but
        found there too), 0 when there is none."""
        hp = self.to_host(sp)
        if hp:
            return hp
        for leader in self.tasks().values():
            for tid_s in _listdir(f"/proc/{leader}/task"):
                if self.to_sandbox(int(tid_s)) == sp:
                    return int(tid_s)
        return 0

    def caller(self, t: Task) -> tuple[int, int]:
        """(sandbox tgid, sandbox tid) of the calling task (t.pid is its host tid)."""
        return self.caller_ids(t)[:2]

    def caller_ids(self, t: Task) -> tuple[int, int, int]:
        """(sandbox tgid, sandbox tid, host tgid) of the calling task. Cached per host
        tid and keyed by its /proc/<tid> inode, as Task.creds is: a task's pid numbers
        are fixed for its life (an exec by a thread takes the leader's numbers, whole),
        and a recycled tid comes with another inode. So /proc/self costs a stat of a
        task already met, not a read and parse of its status."""
        self._ensure()
        if self._last_task is t:  # (a walk through /proc/self asks twice)
            return self._last_ids
        try:
            ino = os.stat(f"/proc/{t.pid}").st_ino
        except OSError:
            raise TaskGone() from None
        hit = self._callers.get(t.pid)
        if hit is not None and hit[0] == ino:
            self._last_task, self._last_ids = t, (hit[1], hit[2], hit[3])
            return self._last_ids
        raw = t.proc_status()
        tgid = _status_line(raw, b"Tgid") or b"0"
        tgids = (_status_line(raw, b"NStgid") or tgid).split()
        tids = (_status_line(raw, b"NSpid") or _status_line(raw, b"Pid") or b"0").split()
        lv = self._level
        if not self.member(t.pid) or len(tids) <= lv:
            raise SyscallError(errno.ENOENT)
        ids = (int(tgids[lv]), int(tids[lv]), int(tgid))
        if len(self._callers) >= _CALLERS_MAX:
            self._callers.clear()
        self._callers[t.pid] = (ino, *ids)
        self._last_task, self._last_ids = t, ids
        return ids


def pidns_of(kernel) -> PidNS:  # type: ignore[no-untyped-def]
    ns = getattr(kernel, "pidns", None)
    if ns is None:
        ns = PidNS(kernel)
        kernel.pidns = ns
    return ns


# -- per-task files ------------------------------------------------------------------
_PID_LINES = {"Tgid", "Pid", "PPid", "TracerPid", "Ngid", "NStgid", "NSpid", "NSpgid", "NSsid"}


_ID_LINES = {"Uid": lambda i: host_ids_seen(i, 0)[0], "Gid": lambda i: host_ids_seen(0, i)[1],
             "Groups": lambda i: host_ids_seen(0, i)[1]}


def status_text(ns: PidNS, hp: int, reader: int = 0) -> bytes:
    """/proc/<hp>/status as the sandbox shows it; reader is the host tid reading it."""
    raw = host_read(f"/proc/{hp}/status").decode(errors="replace")
    lv = ns.level
    out = []
    for line in raw.splitlines():
        key, _, value = line.partition(":")
        if key == "State" and reader == hp:
            line = "State:\tR (running)"  # (see stat_text)
        if key in _ID_LINES:  # (the kernel's separators kept: Groups ends in a space)
            line = key + ":" + re.sub(r"\d+", lambda m: str(_ID_LINES[key](int(m[0]))), value)
        elif key in _PID_LINES:
            v = value.strip()
            if key.startswith("NS"):
                v = "\t".join(v.split()[lv:])
            elif key in ("PPid", "TracerPid"):
                v = str(ns.to_sandbox(int(v or 0)))
            elif key == "Ngid":
                v = "0"
            else:
                fields = _status_fields(hp)
                src = "NStgid" if key == "Tgid" else "NSpid"
                parts = fields.get(src, v).split()
                v = parts[lv] if len(parts) > lv else "0"
            line = f"{key}:\t{v}"
        out.append(line)
    return ("\n".join(out) + "\n").encode()


def stat_text(ns: PidNS, hp: int, reader: int = 0) -> bytes:
    """/proc/<hp>/stat as the sandbox shows it; reader is the host tid reading it.
    A task reading its own state is running, as on Linux, though the host sees it
    waiting for the sentry's answer (S, or t on the ptrace platform)."""
    raw = host_read(f"/proc/{hp}/stat").decode(errors="replace")
    head, _, tail = raw.rpartition(")")
    _pid, _, comm = head.partition(" (")
    fields = tail.split()
    # fields: state ppid pgrp session tty_nr tpgid ...
    if reader == hp:
        fields[0] = "R"
    st = _status_fields(hp)
    lv = ns.level

    def at(key: str) -> str:
        parts = st.get(key, "").split()
        return parts[lv] if len(parts) > lv else "0"

    fields[1] = str(ns.to_sandbox(int(fields[1])))
    fields[2] = at("NSpgid")
    fields[3] = at("NSsid")
    if int(fields[5]) > 0:
        fields[5] = str(ns.to_sandbox(int(fields[5])))
    return f"{at('NSpid')} ({comm}) {' '.join(fields)}\n".encode()


def maps_text(hp: int) -> bytes:
    raw = host_read(f"/proc/{hp}/maps").decode(errors="replace")
    return re.sub(r"/memfd:runsc-py:(\S[^\n]*?) \(deleted\)$", r"\1", raw,
                  flags=re.M).encode()


def mounts_text(kernel) -> bytes:  # type: ignore[no-untyped-def]
    lines = []
    for m in sorted(kernel.mounts.mounts, key=lambda m: len(m.dest)):
        lines.append(f"{m.source} {m.dest} {m.fstype} {m.options} 0 0")
    return ("\n".join(lines) + "\n").encode()


def mountinfo_text(kernel) -> bytes:  # type: ignore[no-untyped-def]
    table = kernel.mounts
    ms = sorted(table.mounts, key=table.mount_id)
    lines = []
    for i, m in enumerate(ms):
        parent = 99
        for other in ms[:i][::-1]:
            if other.dest == "/" or m.dest.startswith(other.dest + "/"):
                parent = table.mount_id(other)
                break
        lines.append(f"{table.mount_id(m)} {parent} 0:{50 + i} / {m.dest} {m.options} - "
                     f"{m.fstype} {m.source} {m.options}")
    return ("\n".join(lines) + "\n").encode()


def _uuid4() -> str:
    """A random (version 4) UUID, as uuid.uuid4() makes it; the uuid module imports
    `platform`, whose regular expressions cost the sentry's start-up ~3 ms."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class ProcFS(SyntheticFS):
    name = "proc"
    magic = PROC_SUPER_MAGIC
    dev = os.makedev(0, 0x14)

    def __init__(self, kernel) -> None:  # type: ignore[no-untyped-def]
        self.ns = pidns_of(kernel)
        self.boot_id = _uuid4()
        self._pid_dirs: dict[tuple[int, int, bool], Dir] = {}
        super().__init__(kernel, Dir(self._root_entries, self._root_lookup))
        self.statics = self._statics()

    # -- root ------------------------------------------------------------------------
    def _caller_host_tgid(self, t: Task, sp: int) -> int:
        """The caller's host tgid if sp is its sandbox tgid, else 0."""
        try:
            sandbox_tgid, _tid, host_tgid = self.ns.caller_ids(t)
        except (SyscallError, IndexError, ValueError):
            return 0
        return host_tgid if sandbox_tgid == sp else 0

    def _root_entries(self, t: Task) -> dict[str, Node]:
        out: dict[str, Node] = dict(self.statics)
        for sp, hp in sorted(self.ns.tasks().items()):
            out[str(sp)] = self.pid_dir(hp, sp)
        return out

    def _root_lookup(self, t: Task, name: str) -> Node | None:
        if name.isdigit() and not name.startswith("0"):
            sp = int(name)
            # the caller's own pid (what /proc/self leads to) needs no search of /proc
            hp = self._caller_host_tgid(t, sp) or self.ns.tid_to_host(sp)
            return self.pid_dir(hp, sp) if hp else None
        return self.statics.get(name)

    def _statics(self) -> dict[str, Node]:
        k = self.kernel
        cfg = k.config

        def self_link(t: Task) -> str:
            return str(self.ns.caller(t)[0])

        def thread_self(t: Task) -> str:
            tg, tid = self.ns.caller(t)
            return f"{tg}/task/{tid}"

        def uptime(t: Task) -> bytes:
            up = max(0.0, time.monotonic() - getattr(k, "started_at", time.monotonic()))
            return f"{up:.2f} {up * (os.cpu_count() or 1):.2f}\n".encode()

        def loadavg(t: Task) -> bytes:
            a, b, c = os.getloadavg()
            tasks = self.ns.tasks()
            running = 0
            for hp in tasks.values():
                try:
                    if _status_fields(hp).get("State", "").startswith("R"):
                        running += 1
                except SyscallError:
                    pass
            last = max(tasks, default=0)
            return f"{a:.2f} {b:.2f} {c:.2f} {running}/{len(tasks)} {last}\n".encode()

        def hostname(t: Task) -> bytes:
            return (getattr(k, "hostname", None) or cfg.hostname).encode() + b"\n"

        def domainname(t: Task) -> bytes:
            return (getattr(k, "domainname", None) or "(none)").encode() + b"\n"

        def host(path: str, default: bytes = b"") -> File:
            return File(lambda t: host_read(path, default))

        fs_types = ["sysfs", "tmpfs", "proc", "cgroup", "cgroup2", "devpts", "mqueue",
                    "overlay"]
        filesystems = "".join(f"nodev\t{n}\n" for n in fs_types) + "\text4\n\txfs\n"
        kernel_dir = Dir({
            "hostname": File(hostname),
            "domainname": File(domainname),
            "osrelease": text(cfg.kernel_release + "\n"),
            "ostype": text("Linux\n"),
            "version": text(cfg.kernel_version + "\n"),
            "pid_max": host("/proc/sys/kernel/pid_max", b"4194304\n"),
            "threads-max": host("/proc/sys/kernel/threads-max", b"63536\n"),
            "ngroups_max": text("65536\n"),
            "cap_last_cap": host("/proc/sys/kernel/cap_last_cap", b"40\n"),
            "overflowuid": text("65534\n"),
            "overflowgid": text("65534\n"),
            "shmmax": host("/proc/sys/kernel/shmmax", b"18446744073692774399\n"),
            "shmall": host("/proc/sys/kernel/shmall", b"18446744073692774399\n"),
            "shmmni": host("/proc/sys/kernel/shmmni", b"4096\n"),
            "msgmax": host("/proc/sys/kernel/msgmax", b"8192\n"),
            "msgmnb": host("/proc/sys/kernel/msgmnb", b"16384\n"),
            "msgmni": host("/proc/sys/kernel/msgmni", b"32000\n"),
            "printk": text("4\t4\t1\t7\n"),
            "core_pattern": text("core\n"),  # the host's may name a host program
            "keys": Dir({"maxkeys": text("200\n"), "maxbytes": text("20000\n")}),
            "sem": host("/proc/sys/kernel/sem", b"32000\t1024000000\t500\t32000\n"),
            "random": Dir({
                "boot_id": text(self.boot_id + "\n"),
                "uuid": File(lambda t: (_uuid4() + "\n").encode()),
                "entropy_avail": text("256\n"),
            }),
        })
        sys_dir = Dir({
            "kernel": kernel_dir,
            "fs": Dir({
                "file-max": host("/proc/sys/fs/file-max", b"9223372036854775807\n"),
                "nr_open": host("/proc/sys/fs/nr_open", b"1048576\n"),
                "pipe-max-size": host("/proc/sys/fs/pipe-max-size", b"1048576\n"),
                "file-nr": host("/proc/sys/fs/file-nr", b"0\t0\t9223372036854775807\n"),
                "inode-nr": host("/proc/sys/fs/inode-nr", b"0\t0\n"),
                "protected_symlinks": host("/proc/sys/fs/protected_symlinks", b"1\n"),
                "protected_hardlinks": host("/proc/sys/fs/protected_hardlinks", b"1\n"),
                "suid_dumpable": host("/proc/sys/fs/suid_dumpable", b"0\n"),
                "mqueue": Dir({
                    n: host(f"/proc/sys/fs/mqueue/{n}", default)
                    for n, default in (("msg_max", b"10\n"), ("msgsize_max", b"8192\n"),
                                       ("queues_max", b"256\n"))
                }),
                "inotify": Dir({
                    n: host(f"/proc/sys/fs/inotify/{n}", b"8192\n")
                    for n in ("max_user_instances", "max_user_watches", "max_queued_events")
                }),
            }),
            "vm": Dir({
                "overcommit_memory": host("/proc/sys/vm/overcommit_memory", b"0\n"),
                "max_map_count": host("/proc/sys/vm/max_map_count", b"65530\n"),
                "overcommit_ratio": host("/proc/sys/vm/overcommit_ratio", b"50\n"),
                "mmap_min_addr": host("/proc/sys/vm/mmap_min_addr", b"65536\n"),
                "swappiness": host("/proc/sys/vm/swappiness", b"60\n"),
                "dirty_ratio": host("/proc/sys/vm/dirty_ratio", b"20\n"),
            }),
            # the values a new network namespace starts with, as the workload's does:
            # the sentry's /proc/sys/net is the host's (also what a spec sharing the
            # host's network would want: not served); the buffer limits are global
            "net": Dir({
                "core": Dir({
                    "somaxconn": text("4096\n"),
                    "rmem_max": host("/proc/sys/net/core/rmem_max", b"212992\n"),
                    "wmem_max": host("/proc/sys/net/core/wmem_max", b"212992\n"),
                }),
                "ipv4": Dir({
                    "ip_forward": text("0\n"),
                    "ip_local_port_range": text("32768\t60999\n"),
                    "ip_unprivileged_port_start": text("1024\n"),
                    "ping_group_range": text("1\t0\n"),
                    "tcp_fin_timeout": text("60\n"),
                    "tcp_keepalive_time": text("7200\n"),
                }),
                "ipv6": Dir({"conf": Dir({"all": Dir({"disable_ipv6": text("0\n")})})}),
                "unix": Dir({"max_dgram_qlen": text("10\n")}),
            }),
        })
        return {
            "self": Symlink(self_link),
            "thread-self": Symlink(thread_self),
            "mounts": Symlink("self/mounts"),
            "meminfo": host("/proc/meminfo"),
            "cpuinfo": host("/proc/cpuinfo"),
            "stat": host("/proc/stat"),
            "uptime": File(uptime),
            "loadavg": File(loadavg),
            "filesystems": text(filesystems),
            "devices": host("/proc/devices"),
            "version": text(f"Linux version {cfg.kernel_release} (runsc-py) "
                            f"{cfg.kernel_version}\n"),
            "cmdline": text("\n"),
            "swaps": text("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"),
            "sys": sys_dir,
            # always empty, and masked by default
            "kcore": File(b""), "keys": File(b""), "timer_list": File(b""),
            "sched_debug": File(b""), "latency_stats": File(b""),
            "acpi": Dir(), "scsi": Dir(),
        }

    # -- /proc/PID -------------------------------------------------------------------
    def pid_dir(self, hp: int, sp: int, *, thread: bool = False) -> Dir:
        """The /proc/<sp> directory of host task hp. Its nodes hold nothing but hp, sp
        and the kernel (what they show is read when asked), so one built for the same
        numbers serves again: the last few are kept."""
        key = (hp, sp, thread)
        d = self._pid_dirs.get(key)
        if d is None:
            if len(self._pid_dirs) >= _PID_DIRS_MAX:
                self._pid_dirs.clear()
            d = self._pid_dirs[key] = self._make_pid_dir(hp, sp, thread)
        return d

    def _make_pid_dir(self, hp: int, sp: int, thread: bool) -> Dir:
        k = self.kernel
        ns = self.ns

        def owner() -> tuple[int, int]:
            try:
                st = os.stat(f"/proc/{hp}")
            except OSError:
                return (0, 0)
            return host_ids_seen(st.st_uid, st.st_gid)

        def hfile(name: str) -> File:
            return File(lambda t: host_read(f"/proc/{hp}/{name}"), owner=owner)

        def link(name: str) -> Symlink:
            def target(t: Task) -> str:
                try:
                    return sandbox_name(os.readlink(f"/proc/{hp}/{name}"))
                except OSError:
                    raise SyscallError(errno.ENOENT) from None
            return Symlink(target, owner=owner)

        def may_inspect(t: Task) -> None:
            """Linux's ptrace-read check, approximated: root, or the same user."""
            c = t.creds()
            if c.uid != 0 and c.uid != owner()[0]:
                raise SyscallError(errno.EACCES)

        def fds(t: Task) -> dict[str, Node]:
            may_inspect(t)
            return {n: ProcFd(ns, hp, int(n), owner) for n in _listdir(f"/proc/{hp}/fd")}

        def fd_lookup(t: Task, name: str) -> Node | None:
            may_inspect(t)
            if name.isdigit() and os.path.lexists(f"/proc/{hp}/fd/{name}"):
                return ProcFd(ns, hp, int(name), owner)
            return None

        def comm_open(t: Task, flags: int) -> int | None:
            """A write opens the task's host comm file: the host kernel renames only
            a thread of the writer's own process (EINVAL otherwise), as it should."""
            if flags & _ACCMODE == os.O_RDONLY:
                return None
            may_write(t, 0o644, owner())
            return open_host(f"/proc/{hp}/comm", flags & ~os.O_TRUNC)

        def mem_open(t: Task, flags: int) -> int:
            """The task's own memory, through the host's /proc/<hp>/mem, after the
            check Linux makes of the opener (ptrace attach): the sentry's own open
            would pass any check."""
            may_ptrace_attach(t, ns, hp)
            return open_host(f"/proc/{hp}/mem", flags & (_ACCMODE | os.O_CLOEXEC))

        def ns_entries(t: Task) -> dict[str, Node]:
            return {n: NsLink(hp, n, owner, may_inspect) for n in _NAMESPACES}

        def fdinfo(t: Task) -> dict[str, Node]:
            may_inspect(t)
            return {n: hfile(f"fdinfo/{n}") for n in _listdir(f"/proc/{hp}/fdinfo")}

        def tasks(t: Task) -> dict[str, Node]:
            out: dict[str, Node] = {}
            for tid_s in _listdir(f"/proc/{hp}/task"):
                tid = ns.to_sandbox(int(tid_s))
                if tid:
                    out[str(tid)] = self.pid_dir(int(tid_s), tid, thread=True)
            return out

        # each node is made when looked up: a lookup (/proc/self/exe) makes one
        makers: dict[str, Callable[[], Node]] = {
            "status": lambda: File(lambda t: status_text(ns, hp, t.pid), owner=owner),
            "stat": lambda: File(lambda t: stat_text(ns, hp, t.pid), owner=owner),
            "cmdline": lambda: hfile("cmdline"),
            "comm": lambda: File(lambda t: host_read(f"/proc/{hp}/comm"), mode=0o644,
                                 owner=owner, opener=comm_open),
            "io": lambda: File(lambda t: host_read(f"/proc/{hp}/io"), mode=0o400,
                               owner=owner, check=may_inspect),
            "mem": lambda: File(b"", mode=0o600, owner=owner, opener=mem_open),
            "environ": lambda: File(lambda t: host_read(f"/proc/{hp}/environ"), mode=0o400,
                                    owner=owner, check=may_inspect),
            "exe": lambda: link("exe"),
            "cwd": lambda: link("cwd"),
            "root": lambda: Symlink("/", owner=owner),
            "fd": lambda: Dir(fds, fd_lookup, mode=0o500, owner=owner),
            "fdinfo": lambda: Dir(fdinfo, mode=0o500, owner=owner),
            "maps": lambda: File(lambda t: maps_text(hp), owner=owner, check=may_inspect),
            "mounts": lambda: File(lambda t: mounts_text(k), owner=owner),
            "mountinfo": lambda: File(lambda t: mountinfo_text(k), owner=owner),
            "limits": lambda: hfile("limits"),
            # as the host shows them to the sentry: from the parent of the tasks' user
            # namespace, or from inside it when the sentry shares it (rootless)
            "uid_map": lambda: hfile("uid_map"),
            "gid_map": lambda: hfile("gid_map"),
            "setgroups": lambda: hfile("setgroups"),
            "statm": lambda: hfile("statm"),
            "auxv": lambda: File(lambda t: host_read(f"/proc/{hp}/auxv"), mode=0o400,
                                 owner=owner, check=may_inspect),
            "oom_score_adj": lambda: hfile("oom_score_adj"),
            "cgroup": lambda: File(b"0::/\n", owner=owner),
            "ns": lambda: Dir(ns_entries, owner=owner, mode=0o511),
        }
        if thread:
            makers["children"] = lambda: File(lambda t: children_text(ns, hp), owner=owner)
        else:
            makers["task"] = lambda: Dir(tasks, owner=owner)

        def check_alive() -> None:
            if not os.path.exists(f"/proc/{hp}"):
                raise SyscallError(errno.ENOENT)

        def entries(t: Task) -> dict[str, Node]:
            check_alive()
            return {name: make() for name, make in makers.items()}

        def lookup(t: Task, name: str) -> Node | None:
            check_alive()
            make = makers.get(name)
            return make() if make is not None else None

        return Dir(entries, lookup, owner=owner)


_ACCMODE = 3
_NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time",
               "time_for_children", "user", "uts")
CAP_DAC_OVERRIDE, CAP_SYS_PTRACE = 1, 19


def may_write(t: Task, mode: int, ids: tuple[int, int]) -> None:
    """Write permission by mode bits, as generic_permission grants it."""
    c = t.creds()
    if c.has_cap(CAP_DAC_OVERRIDE):
        return
    uid, gid = ids
    bit = 0o200 if c.fsuid == uid else 0o020 if gid == c.fsgid or gid in c.groups else 0o002
    if not mode & bit:
        raise SyscallError(errno.EACCES)


def _ids_line(raw: bytes, key: bytes) -> list[int]:
    return [int(x) for x in (_status_line(raw, key) or b"").split()]


def _cap_line(raw: bytes, key: bytes) -> int:
    return int(_status_line(raw, key) or b"0", 16)


def may_ptrace_attach(t: Task, ns: PidNS, hp: int) -> None:
    """Linux's ptrace_may_access(PTRACE_MODE_ATTACH_FSCREDS) of the caller over host
    task hp (what opening /proc/PID/mem asks): a thread of its own process always;
    otherwise CAP_SYS_PTRACE, or the same ids (fsuid/fsgid against the target's real,
    effective and saved ones) over a dumpable task whose permitted capabilities are
    the caller's too; and Yama's ptrace_scope over it (1: a descendant of the caller).
    A task's dumpability shows only as the owner of its /proc files (root when it is
    not dumpable), which says nothing for a root task: without CAP_SYS_PTRACE, a
    root task is open only to its ancestors (as under ptrace_scope 1), whatever the
    host's scope; a non-dumpable root child is still open to its root parent."""
    try:
        _sp, _tid, caller_tgid = ns.caller_ids(t)
        target = host_read(f"/proc/{hp}/status")
        target_tgid = int(_status_line(target, b"Tgid") or b"0")
        owner_uid = os.stat(f"/proc/{hp}/mem").st_uid  # (its directory's keeps the uid)
    except (OSError, ValueError):
        raise SyscallError(errno.ENOENT) from None
    if target_tgid == caller_tgid:
        return
    c = t.creds()
    privileged = c.has_cap(CAP_SYS_PTRACE)
    if not privileged:
        uids, gids = _ids_line(target, b"Uid")[:3], _ids_line(target, b"Gid")[:3]
        mine = t.proc_status()
        if any(u != c.fsuid for u in uids) or any(g != c.fsgid for g in gids) \
                or owner_uid != (uids[1] if uids else -1) \
                or _cap_line(target, b"CapPrm") & ~_cap_line(mine, b"CapPrm"):
            raise SyscallError(errno.EACCES)
        if owner_uid == 0 and not _descends_from(hp, caller_tgid):
            raise SyscallError(errno.EACCES)
    scope = host_read("/proc/sys/kernel/yama/ptrace_scope", b"0").strip()
    if scope == b"3" or (scope == b"2" and not privileged):
        raise SyscallError(errno.EACCES)
    if scope == b"1" and not privileged and not _descends_from(hp, caller_tgid):
        raise SyscallError(errno.EACCES)


def _descends_from(hp: int, ancestor: int) -> bool:
    seen = 0
    while hp > 1 and seen < 4096:
        try:
            hp = int(_status_line(host_read(f"/proc/{hp}/status"), b"PPid") or b"0")
        except (SyscallError, ValueError):
            return False
        if hp == ancestor:
            return True
        seen += 1
    return False


def children_text(ns: PidNS, hp: int) -> bytes:
    """task/<tid>/children: the thread's children, by their sandbox pids."""
    raw = host_read(f"/proc/{hp}/task/{hp}/children", b"")
    return "".join(f"{ns.to_sandbox(int(c))} " for c in raw.split()).encode()


class ProcFd(MagicFd):
    """/proc/PID/fd/N of a sandbox task. Files the sentry opened in the host's /proc
    for the task (its /proc/PID/mem, comm) read back under their sandbox pid; reopening
    a /proc/PID/mem through such a link asks the caller's own right to it (the
    sentry's reopen would pass any check)."""

    def __init__(self, ns: PidNS, hp: int, n: int, owner=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(hp, n, owner)
        self.ns = ns

    def _host_proc(self) -> tuple[int, str] | None:
        try:
            target = os.readlink(self.link)
        except OSError:
            return None
        m = _HOST_PROC.match(target)
        try:
            if m is None or os.stat(self.link).st_dev != os.stat("/proc").st_dev:
                return None  # (a file of the skeleton: its own /proc path)
        except OSError:
            return None
        return int(m.group(1)), m.group(2) or ""

    def host_target(self) -> str:
        hit = self._host_proc()
        if hit is not None:
            sp = self.ns.to_sandbox(hit[0])
            if sp:
                return f"/proc/{sp}{hit[1]}"
        return super().host_target()

    def open(self, t: Task, flags: int) -> int | Result:
        hit = self._host_proc()
        if hit is not None and hit[1] == "/mem":
            # the check of an open by name; a reopen as the caller (MagicFd.open) would
            # lack what the caller holds but the sentry does not (its capabilities)
            may_ptrace_attach(t, self.ns, hit[0])
            return open_host(f"/proc/{hit[0]}/mem", flags & (_ACCMODE | os.O_CLOEXEC))
        return super().open(t, flags)


_HOST_PROC = re.compile(r"/proc/(\d+)(/.*)?$")


class NsLink(MagicFd):
    """/proc/PID/ns/NAME: reads as the host names it ("net:[4026531840]"); an open
    gives the task that namespace's nsfs file, which it can compare and fstat but not
    enter (setns is refused) nor query (its ioctls are not in the allowed set)."""

    def __init__(self, hp: int, name: str, owner, check) -> None:  # type: ignore[no-untyped-def]
        super().__init__(hp, -1, owner)
        self.name = name
        self.check = check

    @property
    def link(self) -> str:
        return f"/proc/{self.hp}/ns/{self.name}"

    def host_target(self) -> str:
        try:
            return os.readlink(self.link)
        except OSError:
            raise SyscallError(errno.ENOENT) from None

    def target(self, t: Task) -> str:
        self.check(t)
        return self.host_target()

    def open(self, t: Task, flags: int) -> int:
        self.check(t)
        if flags & _ACCMODE != os.O_RDONLY:
            raise SyscallError(errno.EACCES)
        return open_host(self.link, os.O_RDONLY | (flags & os.O_CLOEXEC))


def _listdir(path: str) -> list[str]:
    try:
        return sorted((n for n in os.listdir(path) if n.isdigit()), key=int)
    except OSError:
        return []
