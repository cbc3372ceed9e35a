"""Issue 3, item 4 and the acceptance battery: escape attempts run inside containers the
way an attacker would (a shell script, root, generous capabilities), then host-side
checks: nothing written outside the bundle, no host process killed, no host binary
changed, no runtime fd or host cwd leaked, no host device or loopback service reached.

Complements tests/test_escapes.py (`..`, symlinks and /proc/*/root tricks for reads,
the TOCTOU race, rsphelper bad-pointer) and tests/test_fail_closed.py (host-side fd
list of the init): nothing here repeats those.
"""
from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from helpers import bind_mount, parse_err, parse_kv

REPO = Path(__file__).resolve().parents[2]
ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
            "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
            "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
            "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP", "CAP_SYSLOG", "CAP_BPF",
            "CAP_PERFMON", "CAP_NET_BIND_SERVICE"]


def out_of(p) -> str:
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


def run(rt, b, timeout=120):
    return rt.run("run", "--bundle", b, "adv-" + uuid.uuid4().hex[:10], timeout=timeout)


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_or_none(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


# ------------------------------------------------------------------ host snapshots

WATCHED_DIRS = ["/", "/etc", "/tmp", "/root", "/var/tmp", "/dev/shm", "/run", "/dev"]
WATCHED_FILES = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/hostname", "/etc/hosts",
                 "/etc/resolv.conf", "/etc/sudoers", "/etc/crontab"]
WATCHED_KNOBS = ["/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern",
                 "/proc/sys/kernel/modprobe", "/sys/kernel/uevent_helper",
                 "/proc/sys/kernel/domainname", "/proc/sys/vm/overcommit_memory",
                 "/proc/sys/net/ipv4/ip_forward"]


class HostSnapshot:
    """Names in watched dirs, mtimes of dirs that should not churn, content hashes of
    key files, and kernel knobs an escape would write."""

    def __init__(self) -> None:
        self.names = {d: set(os.listdir(d)) if os.path.isdir(d) else set()
                      for d in WATCHED_DIRS}
        self.dir_mtimes = {d: os.stat(d).st_mtime_ns for d in ("/", "/etc")}
        self.files = {f: sha256(f) if os.path.isfile(f) else None for f in WATCHED_FILES}
        self.knobs = {k: read_or_none(k) for k in WATCHED_KNOBS}

    def check(self, token: str) -> list[str]:
        problems = []
        after = HostSnapshot()
        for d in WATCHED_DIRS:
            for name in sorted(after.names[d] - self.names[d]):
                if token in name:
                    problems.append(f"new host path {os.path.join(d, name)}")
        for d, m in self.dir_mtimes.items():
            if after.dir_mtimes[d] != m:
                new = after.names[d] ^ self.names[d]
                problems.append(f"host dir {d} modified (changed names: {sorted(new)})")
        for f, h in self.files.items():
            if after.files[f] != h:
                problems.append(f"host file {f} changed")
        for k, v in self.knobs.items():
            if after.knobs[k] != v:
                problems.append(f"host knob {k}: {v!r} -> {after.knobs[k]!r}")
        return problems


def cleanup_token(token: str) -> None:
    for d in WATCHED_DIRS:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            if token in n:
                p = os.path.join(d, n)
                subprocess.run(["rm", "-rf", "--one-file-system", p], check=False)


BATTERY = r"""
T={tok}
say() {{ echo "# $*"; }}
say writes
for p in /etc/$T /tmp/$T /root/$T /../../../tmp/$T-dd /proc/1/root/tmp/$T-p1 \
         /proc/self/root/../../tmp/$T-ps /proc/self/cwd/../../../tmp/$T-cwd /dev/shm/$T \
         /dev/$T /sys/$T /proc/$T /run/$T /var/tmp/$T; do
    rsphelper write $p x >/dev/null 2>&1; echo pwned > $p 2>/dev/null; mkdir -p $p-d 2>/dev/null
done
ln -s /tmp /hostlink 2>/dev/null; rsphelper write /hostlink/$T-l x >/dev/null
ln -s ../../../../../../tmp /rel 2>/dev/null; rsphelper write /rel/$T-r x >/dev/null
ln -s /etc/$T-s /dangling 2>/dev/null; echo x > /dangling 2>/dev/null
cp /bin/busybox /tmp/$T-bb 2>/dev/null; touch /$T-root
say mounts
mkdir -p /mnt; mount -t tmpfs none /mnt 2>&1; mount --bind / /mnt 2>&1
mount -t proc proc /mnt 2>&1; mount -t sysfs sysfs /mnt 2>&1; mount -o remount,rw / 2>&1
umount /proc 2>&1; umount -l / 2>&1
say knobs
echo h > /proc/sysrq-trigger
echo "|/tmp/$T-core" > /proc/sys/kernel/core_pattern
echo /tmp/$T-modprobe > /proc/sys/kernel/modprobe
echo $T > /proc/sys/kernel/hostname
echo /tmp/$T-uevent > /sys/kernel/uevent_helper
echo 1 > /proc/sys/net/ipv4/ip_forward
echo 2 > /proc/sys/vm/overcommit_memory
say devices
mknod /tmp/$T-sda b 8 0; mknod /$T-null c 1 3; mknod /dev/$T-mem c 1 1
say namespaces
chroot /tmp /bin/true; nsenter -t 1 -m -u -n -p true; nsenter --net=/proc/1/ns/net true
unshare -m -u -n true; unshare -U true
say exe
rsphelper write /proc/self/exe x; rsphelper write /proc/1/exe x
rsphelper append /proc/self/exe x
say signals
kill -9 -1 2>&1
say end
rsphelper cat /etc/hostname; echo done
"""


def test_battery_leaves_host_untouched(rt, bundle):
    tok = "rspadv" + uuid.uuid4().hex[:12]
    py = os.path.realpath(sys.executable)
    py_hash = sha256(py)
    snap = HostSnapshot()
    b = bundle(["/bin/sh", "-c", BATTERY.format(tok=tok)], readonly=False,
               capabilities=ALL_CAPS)
    try:
        p = run(rt, b)
        problems = snap.check(tok)
    finally:
        cleanup_token(tok)
    assert not problems, "\n".join(problems) + "\n" + out_of(p)
    assert sha256(py) == py_hash, "host python binary changed"
    lines = p.stdout.splitlines()
    assert lines[-2:] == ["runsc-py", "done"], out_of(p)  # the sandbox still serves
    # writes stayed inside the bundle's rootfs
    rootfs = b / "rootfs"
    assert (rootfs / "tmp" / tok).exists() or (rootfs / "tmp" / f"{tok}-dd").exists(), out_of(p)
    for name in os.listdir(rootfs / "tmp"):
        assert not stat.S_ISBLK(os.lstat(rootfs / "tmp" / name).st_mode), name
        assert not stat.S_ISCHR(os.lstat(rootfs / "tmp" / name).st_mode), name


# ------------------------------------------------------------------ kill(-1)

def test_kill_minus_one_reaches_only_sandbox_tasks(rt, bundle):
    canary = subprocess.Popen(["sleep", "300"])
    try:
        script = (
            "sleep 300 & a=$!; sleep 300 & b=$!; "
            "rsphelper syscall 62 -1 9; "  # kill(-1, SIGKILL): caller and init spared
            f"rsphelper syscall 62 {canary.pid} 9; "  # a host pid by number
            f"rsphelper syscall 62 -{canary.pid} 9; "  # ... and its process group
            "wait $a; echo a=$?; wait $b; echo b=$?; "
            "sleep 300 & c=$!; sh -c 'kill -9 -1'; wait $c; echo c=$?; "
            "rsphelper syscall 39; echo alive")
        b = bundle(["/bin/sh", "-c", script], capabilities=ALL_CAPS)
        p = run(rt, b)
        time.sleep(0.2)
        assert canary.poll() is None, "host canary was killed\n" + out_of(p)
        os.kill(canary.pid, 0)
        lines = p.stdout.splitlines()
        assert lines[0] == "ret=0", out_of(p)
        assert parse_err(lines[1]) == ("ESRCH", 3), out_of(p)
        assert parse_err(lines[2]) == ("ESRCH", 3), out_of(p)
        assert lines[3:6] == ["a=137", "b=137", "c=137"], out_of(p)
        assert lines[6].startswith("ret=") and lines[7] == "alive", out_of(p)
        assert p.returncode == 0, out_of(p)
    finally:
        canary.kill()
        canary.wait()


# ------------------------------------------------------------------ CVE-2019-5736

def runtime_files() -> list[Path]:
    out = []
    for d in ("runsc_py", "sentry", "gofer"):
        for path in (REPO / d).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".so", ".c"):
                out.append(path)
    return out


def test_proc_self_exe_cannot_reach_host_binaries(rt, bundle):
    tok = "PWNED-" + uuid.uuid4().hex
    py = os.path.realpath(sys.executable)
    py_hash = sha256(py)
    script = (
        f"rsphelper write /proc/self/exe {tok}; "
        f"rsphelper append /proc/self/exe {tok}; "
        f"rsphelper write /proc/1/exe {tok}; "
        f"rsphelper write /proc/self/root/proc/self/exe {tok}; "
        # the classic: keep a read fd to the exe, then reopen it for writing through
        # /proc/self/fd once the binary is no longer running
        f"exec 7</proc/self/exe; rsphelper write /proc/self/fd/7 {tok}; exec 7<&-; "
        "rsphelper readlink /proc/self/exe; md5sum /proc/self/exe; "
        # a #! script naming /proc/self/exe
        "/evil; echo evil=$?; echo end")
    b = bundle(["/bin/sh", "-c", script], readonly=False, capabilities=ALL_CAPS)
    (b / "rootfs" / "evil").write_text("#!/proc/self/exe\n")
    os.chmod(b / "rootfs" / "evil", 0o755)
    bb_hash = sha256(b / "rootfs/bin/busybox")
    p = run(rt, b)
    lines = p.stdout.splitlines()
    for i in range(5):
        assert parse_err(lines[i]) is not None, f"write #{i} to the exe succeeded\n" + out_of(p)
    assert lines[5] == "/bin/rsphelper", out_of(p)
    md5 = hashlib.md5((b / "rootfs/bin/busybox").read_bytes()).hexdigest()
    assert lines[6].split()[0] == md5, "/proc/self/exe is not the container's busybox\n" + out_of(p)
    assert lines[-1] == "end", out_of(p)
    assert sha256(py) == py_hash, "host python binary changed"
    assert sha256(b / "rootfs/bin/busybox") == bb_hash
    hit = [str(f) for f in runtime_files() if tok.encode() in f.read_bytes()]
    assert not hit, f"runtime files written from the sandbox: {hit}"
    assert tok.encode() not in Path(py).read_bytes()


def test_exec_of_proc_self_exe_runs_nothing_of_the_host(rt, bundle, tmp_path):
    """runsc-py exec CID /proc/self/exe: the exe is resolved in the sandbox."""
    py_hash = sha256(os.path.realpath(sys.executable))
    b = bundle(["/bin/rsphelper", "pause-forever"])
    cid = "adv-" + uuid.uuid4().hex[:10]
    with open(tmp_path / "o", "wb") as fo:
        c = subprocess.run(rt.cmd("create", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                           stdout=fo, stderr=fo, timeout=60)
    assert c.returncode == 0, (tmp_path / "o").read_text()
    try:
        rt.run("start", cid, check=True)
        p = rt.run("exec", cid, "/proc/self/exe", "-c", "import os; print('HOSTPY')",
                   timeout=30)
        assert "HOSTPY" not in p.stdout, out_of(p)
        p2 = rt.run("exec", cid, "/bin/rsphelper", "readlink", "/proc/self/exe", timeout=30)
        assert p2.stdout.strip() == "/bin/rsphelper", out_of(p2)
    finally:
        rt.run("delete", "--force", cid)
    assert sha256(os.path.realpath(sys.executable)) == py_hash


# ------------------------------------------------------------------ CVE-2024-21626

def fd_lines(text: str) -> dict[int, str]:
    out = {}
    for l in text.splitlines():
        if " -> " in l and l.split()[0].isdigit():
            fd, _, target = l.partition(" -> ")
            out[int(fd)] = target
    return out


def test_no_runtime_fds_in_children_or_exec(rt, bundle, tmp_path):
    b = bundle(["/bin/sh", "-c", "rsphelper fds; echo --; sh -c 'rsphelper fds'; echo --; "
                "ls -l /proc/self/fd/ /proc/1/fd/; readlink /proc/self/cwd; readlink /proc/1/cwd"])
    p = run(rt, b)
    parts = p.stdout.split("--\n")
    assert len(parts) == 3, out_of(p)
    for part in parts[:2]:
        assert sorted(fd_lines(part)) == [0, 1, 2], out_of(p)
    tail = parts[2]
    for host_path in (str(b), str(rt.root), str(REPO), "/tmp/pytest"):
        assert host_path not in p.stdout, out_of(p)
    assert tail.splitlines()[-2:] == ["/", "/"], out_of(p)
    # an exec'd process is fresh as well
    cid = "adv-" + uuid.uuid4().hex[:10]
    b2 = bundle(["/bin/rsphelper", "pause-forever"])
    with open(tmp_path / "o", "wb") as fo:
        c = subprocess.run(rt.cmd("create", "--bundle", b2, cid), stdin=subprocess.DEVNULL,
                           stdout=fo, stderr=fo, timeout=60)
    assert c.returncode == 0, (tmp_path / "o").read_text()
    try:
        rt.run("start", cid, check=True)
        e = rt.run("exec", cid, "/bin/rsphelper", "fds", timeout=30)
        assert e.returncode == 0 and sorted(fd_lines(e.stdout)) == [0, 1, 2], out_of(e)
        assert str(b2) not in e.stdout
        e = rt.run("exec", "--cwd", "/tmp", cid, "/bin/sh", "-c",
                   "readlink /proc/self/cwd; pwd", timeout=30)
        assert e.stdout.splitlines() == ["/tmp", "/tmp"], out_of(e)
    finally:
        rt.run("delete", "--force", cid)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8, 9, 10])
def test_cwd_through_proc_self_fd_stays_inside(rt, bundle, n):
    """CVE-2024-21626: process.cwd = /proc/self/fd/N named a leaked host directory
    in runc. Here the container either refuses cleanly or gets a sandbox cwd."""
    host_only = set(os.listdir("/")) - {"bin", "dev", "etc", "proc", "root", "sys", "tmp",
                                        "mnt", "lib", "lib64", "home"}
    b = bundle(["/bin/sh", "-c", "pwd; rsphelper getcwd; rsphelper readlink /proc/self/cwd; "
                "echo ==; ls -a ../../../../../..; echo ==; ls -a /proc/self/cwd/../../.."],
               cwd=f"/proc/self/fd/{n}")
    p = run(rt, b)
    assert "Traceback" not in p.stderr, out_of(p)
    if p.returncode != 0 and not p.stdout:
        assert len([l for l in p.stderr.splitlines() if l.strip()]) == 1, out_of(p)
        return
    listed = set()
    for chunk in p.stdout.split("==\n")[1:]:
        listed |= set(chunk.split())
    assert not (listed & host_only), f"host root listed: {listed & host_only}\n" + out_of(p)
    assert str(b) not in p.stdout and str(rt.root) not in p.stdout, out_of(p)


# ------------------------------------------------------------------ device nodes

def test_mknod_device_nodes_refused_even_with_cap_mknod(rt, bundle):
    script = ("mknod /tmp/sda b 8 0; echo rc=$?; mknod /tmp/null c 1 3; echo rc=$?; "
              "mknod /dev/shm/zero c 1 5; echo rc=$?; mknod /tmp/fifo p; echo rc=$?; "
              "rsphelper caps")
    b = bundle(["/bin/sh", "-c", script], readonly=False, capabilities=ALL_CAPS)
    p = run(rt, b)
    lines = p.stdout.splitlines()
    assert lines[:4] == ["rc=1", "rc=1", "rc=1", "rc=0"], out_of(p)
    assert p.stderr.count("Operation not permitted") >= 3, out_of(p)
    rootfs = b / "rootfs"
    assert not (rootfs / "tmp/sda").exists() and not (rootfs / "tmp/null").exists()
    assert stat.S_ISFIFO(os.lstat(rootfs / "tmp/fifo").st_mode)


def host_block_device() -> tuple[int, int] | None:
    try:
        for ent in sorted(os.listdir("/sys/dev/block")):
            ma, mi = ent.split(":")
            return int(ma), int(mi)
    except OSError:
        pass
    return None


def test_preexisting_device_nodes_cannot_be_opened(rt, bundle, tmp_path):
    bind_src = tmp_path / "binddev"
    bind_src.mkdir()
    os.mknod(bind_src / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    blk = host_block_device()
    b = bundle(["/bin/sh", "-c",
                "for f in /dev-zero /dev-null /dev-mem /dev-blk /bd/zero; do "
                "rsphelper stat $f; rsphelper fstat $f; rsphelper write $f x; "
                "head -c 4 $f | wc -c; done"],
               readonly=False, capabilities=ALL_CAPS, mounts=[bind_mount(bind_src, "/bd")])
    rootfs = b / "rootfs"
    os.mknod(rootfs / "dev-zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    os.mknod(rootfs / "dev-null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(rootfs / "dev-mem", stat.S_IFCHR | 0o600, os.makedev(1, 1))
    if blk is not None:
        os.mknod(rootfs / "dev-blk", stat.S_IFBLK | 0o600, os.makedev(*blk))
    else:
        os.mknod(rootfs / "dev-blk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    p = run(rt, b, timeout=60)
    lines = p.stdout.splitlines()
    assert len(lines) == 20, out_of(p)
    for i in range(5):
        st_line, fstat_line, write_line, count = lines[4 * i:4 * i + 4]
        kv = parse_kv(st_line)
        assert kv.get("type") in ("chr", "blk"), out_of(p)  # visible, as under nodev
        for l in (fstat_line, write_line):
            e = parse_err(l)
            assert e is not None and e[0] in ("EACCES", "EPERM"), \
                f"device node opened: {l!r}\n" + out_of(p)
        assert count.strip() == "0", out_of(p)


# ------------------------------------------------------------------ /proc/sys, sysrq, ns

def test_proc_sys_and_sysrq_writes_reach_nothing(rt, bundle):
    knobs = {k: read_or_none(k) for k in WATCHED_KNOBS}
    targets = ["/proc/sysrq-trigger", "/proc/sys/kernel/hostname",
               "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
               "/proc/sys/vm/drop_caches", "/proc/sys/net/ipv4/ip_forward",
               "/sys/kernel/uevent_helper", "/proc/sys/kernel/domainname"]
    values = ["h", "pwned", "|/pwned", "/pwned", "1", "1", "/pwned", "pwned"]
    script = "; ".join(f"rsphelper write {t} '{v}'" for t, v in zip(targets, values))
    b = bundle(["/bin/sh", "-c", script + "; echo end"], readonly=False,
               capabilities=ALL_CAPS)
    p = run(rt, b)
    lines = p.stdout.splitlines()
    assert len(lines) == len(targets) + 1 and lines[-1] == "end", out_of(p)
    for t, l in zip(targets, lines):
        assert parse_err(l) is not None, f"write to {t} succeeded\n" + out_of(p)
    after = {k: read_or_none(k) for k in WATCHED_KNOBS}
    assert after == knobs


def test_setns_through_proc_ns_fails(rt, bundle):
    host_net = os.readlink("/proc/self/ns/net")
    script = ("for n in net mnt pid uts ipc user cgroup; do "
              "(exec 5</proc/1/ns/$n || { echo nofile; exit; }; rsphelper syscall 308 5 0) "
              "2>/dev/null; "
              "done; rsphelper syscall 308 0 0; rsphelper syscall 308 1 0x40000000; "
              "nsenter -t 1 -n true; echo rc=$?; nsenter --mount=/proc/1/ns/mnt true; echo rc=$?; "
              "rsphelper readlink /proc/1/ns/net; rsphelper readlink /proc/self/ns/net; echo end")
    b = bundle(["/bin/sh", "-c", script], capabilities=ALL_CAPS)
    p = run(rt, b)
    lines = p.stdout.splitlines()
    assert lines[-1] == "end", out_of(p)
    # each namespace file opens (an nsfs fd of the task's own), none can be entered
    assert lines[:7] == ["ERR EPERM 1"] * 7, out_of(p)
    assert lines[7:9] == ["ERR EPERM 1"] * 2, out_of(p)
    assert lines[9] != "rc=0" and lines[10] != "rc=0", out_of(p)
    for l in lines[11:13]:
        assert l != host_net, "the sandbox sees the host's network namespace\n" + out_of(p)


# ------------------------------------------------------------------ loopback

class Listener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            try:
                c.sendall(b"HELLO-FROM-HOST\n")
            finally:
                c.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    l = Listener()
    yield l
    l.close()


def test_host_loopback_unreachable(rt, bundle, listener):
    port = listener.port
    script = (f"nc -w 2 127.0.0.1 {port} </dev/null; echo nc=$?; "
              f"wget -T 2 -q -O- http://127.0.0.1:{port}/ ; echo wget=$?; "
              f"nc -w 2 localhost {port} </dev/null; echo nc2=$?")
    b = bundle(["/bin/sh", "-c", script], capabilities=ALL_CAPS)
    p = run(rt, b, timeout=60)
    assert "HELLO-FROM-HOST" not in p.stdout, out_of(p)
    assert listener.accepted == 0, out_of(p)
    kv = parse_kv(p.stdout)
    assert kv.get("nc") not in (None, "0") and kv.get("wget") not in (None, "0"), out_of(p)


def test_host_loopback_reachable_when_spec_shares_host_network(rt, bundle, listener):
    def no_netns(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "network"]
    b = bundle(["/bin/sh", "-c", f"nc -w 5 127.0.0.1 {listener.port} </dev/null; echo nc=$?"],
               edit=no_netns)
    p = run(rt, b, timeout=60)
    assert "HELLO-FROM-HOST" in p.stdout, out_of(p)
    assert listener.accepted >= 1


# ------------------------------------------------------------------ chroot and ..

def test_chroot_refused_and_dotdot_stays_inside(rt, bundle):
    host_only = set(os.listdir("/")) - {"bin", "dev", "etc", "proc", "root", "sys", "tmp",
                                        "mnt", "lib", "lib64", "home", "jail"}
    script = ("mkdir -p /tmp/jail/a; cd /tmp/jail/a; "
              "chroot /tmp/jail /bin/true; echo chroot=$?; "
              "rsphelper syscall 161 0; "
              "cd ../../../../../../../..; pwd; ls -a; echo ==; "
              "rsphelper chdir-getcwd /tmp/jail/a/../../../../../..")
    b = bundle(["/bin/sh", "-c", script], readonly=False, capabilities=ALL_CAPS)
    p = run(rt, b)
    lines = p.stdout.splitlines()
    assert lines[0] == "chroot=1" and "Operation not permitted" in p.stderr, out_of(p)
    assert lines[1] == "ERR EPERM 1", out_of(p)
    assert lines[2] == "/", out_of(p)
    listing = set(p.stdout.split("==\n")[0].split("\n", 3)[3].split())
    assert not (listing & host_only), out_of(p)
    assert lines[-1] == "/", out_of(p)


# ------------------------------------------------------------------ symlink swap at setup

@pytest.mark.parametrize("kind", ["absolute", "relative", "chain", "leaf"])
def test_mount_destination_symlink_stays_in_rootfs(rt, bundle, tmp_path, kind):
    tok = "rspx-" + uuid.uuid4().hex[:10]
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("bind-source\n")
    dest = "/leaf" if kind == "leaf" else f"/mnt/{tok}"
    host_target = Path("/etc") / tok
    assert not host_target.exists()
    b = bundle(["/bin/sh", "-c", f"rsphelper cat {dest}/file; ls /etc; echo end"],
               readonly=False, mounts=[bind_mount(src, dest)])
    rootfs = b / "rootfs"
    if kind == "absolute":
        os.symlink("/etc", rootfs / "mnt")
    elif kind == "relative":
        os.symlink("../../../../../../../../etc", rootfs / "mnt")
    elif kind == "chain":
        os.symlink("/hop", rootfs / "mnt")
        os.symlink("../../../../etc", rootfs / "hop")
    else:
        os.symlink(str(host_target), rootfs / "leaf")
    snap = HostSnapshot()
    try:
        p = run(rt, b)
        problems = snap.check(tok)
        created = host_target.exists() or host_target.is_symlink()
    finally:
        if host_target.is_dir() and not host_target.is_symlink():
            subprocess.run(["umount", "-l", str(host_target)], capture_output=True)
            host_target.rmdir()
        elif host_target.exists() or host_target.is_symlink():
            host_target.unlink()
    assert not created, f"mount point created on the host at {host_target}\n" + out_of(p)
    assert not problems, "\n".join(problems) + "\n" + out_of(p)
    assert "Traceback" not in p.stderr, out_of(p)
    if p.returncode == 0:
        assert p.stdout.splitlines()[0] == "bind-source", out_of(p)
        assert p.stdout.splitlines()[-1] == "end", out_of(p)
    else:
        assert len([l for l in p.stderr.splitlines() if l.strip()]) == 1, out_of(p)
    # the host's /etc entries are not listed inside
    host_etc_only = set(os.listdir("/etc")) - set(os.listdir(rootfs / "etc")) - {tok}
    assert not (set(p.stdout.split()) & host_etc_only), out_of(p)


def test_an_exec_does_not_leave_the_gofer_reading_as_root(rt, bundle):
    """execve's check has the gofer read the program as itself (the kernel loads
    programs the caller may only execute); the stat and open that follow, as an
    unprivileged user, must still be refused a root-only file (and its directory)."""
    b = bundle(["/bin/sh", "-c",
                "for i in 1 2 3; do "
                "/bin/rsphelper cat /root/secret; /bin/rsphelper stat /root/secret; done"],
               user=(1000, 1000))
    root = b / "rootfs" / "root"
    (root / "secret").write_text("top secret\n")
    os.chmod(root / "secret", 0o600)
    p = rt.run("run", "--bundle", b, "c1", timeout=60)
    assert "top secret" not in p.stdout, p.stdout
    assert p.stdout.split() == ["ERR", "EACCES", "13"] * 6, (p.stdout, p.stderr)
