"""Unit tests of the sentry's synthetic filesystems (/proc, /dev, /sys) against a
stand-in kernel whose 'init' is this test process (so its pid namespace is the
sandbox's)."""
from __future__ import annotations

import errno
import fcntl
import os
import stat
import subprocess
import termios
import time
from types import SimpleNamespace

import pytest

from gofer.protocol import STAT, STATFS
from sentry.config import MountSpec, SandboxConfig
from sentry.errors import SyscallError
from sentry.fs import synthetic
from sentry.fs.base import FileSystem, Redirect
from sentry.fs.node import sandbox_name, sealed_memfd
from sentry.syscalls.result import InstallFd
from sentry.syscalls.sys_sysinfo import SYSINFO, pack_sysinfo
from sentry.task import Task
from sentry.vfs import Mount, MountTable

MASKED = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/acpi", "/sys/firmware")


@pytest.fixture
def env(tmp_path):
    skel = tmp_path / "skel"
    for d in ("proc", "dev", "sys"):
        (skel / d).mkdir(parents=True)
    cfg = SandboxConfig(
        container_id="c1", hostname="sandbox-host",
        mounts=(MountSpec("/", "gofer"), MountSpec("/proc", "proc", "proc", "proc"),
                MountSpec("/dev", "devfs", "tmpfs", "tmpfs"),
                MountSpec("/sys", "sysfs", "sysfs", "sysfs", readonly=True)),
        masked_paths=MASKED,
    )
    k = SimpleNamespace(init_pid=os.getpid(), skeleton=str(skel), config=cfg,
                        hostname="sandbox-host", domainname="(none)",
                        started_at=time.monotonic() - 5, devpts=None)
    fss = {kind: synthetic.make(kind, k) for kind in ("proc", "devfs", "sysfs")}
    for fs in fss.values():
        fs.view_root = str(skel)  # the test's root is "/": reach the skeleton directly
    k.mounts = MountTable([
        Mount("/", FileSystem(), "rootfs", "overlay", "rw"),
        Mount("/proc", fss["proc"], "proc", "proc", "rw"),
        Mount("/dev", fss["devfs"], "tmpfs", "tmpfs", "rw"),
        Mount("/sys", fss["sysfs"], "sysfs", "sysfs", "ro"),
    ])
    t = Task(k, os.getpid(), 0, (0,) * 6, lambda: True)
    return SimpleNamespace(k=k, t=t, skel=skel)


def _path(env, raw):
    return env.k.mounts.path(raw)


def read(env, raw, flags=os.O_RDONLY):
    p = _path(env, raw)
    fd = env.k.mounts.follow(lambda q: q.fs.open(env.t, q, flags, 0), env.t, p)
    if isinstance(fd, InstallFd):  # a task's fd opened anew (sentry/fs/reopen.py)
        fd = fd.fd
    try:
        out = b""
        while chunk := os.read(fd, 65536):
            out += chunk
        return out
    finally:
        os.close(fd)


def stat_of(env, raw, follow=True):
    p = _path(env, raw)
    packed = env.k.mounts.follow(lambda q: q.fs.stat(env.t, q, follow), env.t, p)
    return dict(zip(("dev", "ino", "nlink", "mode", "uid", "gid", "pad", "rdev", "size"),
                    STAT.unpack(packed)[:9]))


def errno_of(fn):
    with pytest.raises(SyscallError) as e:
        fn()
    return e.value.errno


def my_sandbox_pid():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError


# -- /proc ---------------------------------------------------------------------------
def test_proc_self_status_names_sandbox_pid(env):
    pid = my_sandbox_pid()
    assert env.k.mounts.path("/proc/self").fs.readlink(env.t, _path(env, "/proc/self")) == str(pid)
    status = read(env, "/proc/self/status").decode()
    assert f"\nPid:\t{pid}\n" in status
    assert f"\nNSpid:\t{pid}\n" in status
    assert read(env, f"/proc/{pid}/cmdline") == open("/proc/self/cmdline", "rb").read()
    st = read(env, "/proc/self/stat").decode()
    assert st.startswith(f"{pid} (")


def test_proc_self_fd_maps_memfd_back(env):
    fd = sealed_memfd("/proc/1/status", b"hello")
    try:
        host = os.readlink(f"/proc/self/fd/{fd}")
        assert host == "/memfd:runsc-py:/proc/1/status (deleted)"
        assert sandbox_name(host) == "/proc/1/status"
        p = _path(env, f"/proc/self/fd/{fd}")
        assert p.fs.readlink(env.t, p) == "/proc/1/status"
        # opening the magic link reopens the task's fd
        assert read(env, f"/proc/self/fd/{fd}") == b"hello"
        with pytest.raises(OSError):
            os.write(fd, b"x")
    finally:
        os.close(fd)


def test_proc_fd_with_path_redirects(env, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
    try:
        p = _path(env, f"/proc/self/fd/{fd}")
        with pytest.raises(Redirect) as r:
            p.fs.open(env.t, p, os.O_RDONLY, 0)
        assert r.value.target == str(f)
    finally:
        os.close(fd)


def test_proc_global_files(env):
    assert read(env, "/proc/sys/kernel/hostname") == b"sandbox-host\n"
    assert read(env, "/proc/sys/kernel/osrelease").decode().strip() == \
        env.k.config.kernel_release
    up = float(read(env, "/proc/uptime").split()[0])
    assert 4 <= up < 60
    assert b"MemTotal" in read(env, "/proc/meminfo")
    assert read(env, "/proc/version").startswith(b"Linux version ")
    mounts = read(env, "/proc/self/mounts").decode().splitlines()
    assert "proc /proc proc rw 0 0" in mounts
    assert read(env, "/proc/mounts").decode().splitlines() == mounts
    info = read(env, "/proc/self/mountinfo").decode()
    assert " /sys ro - sysfs sysfs ro" in info
    assert errno_of(lambda: read(env, "/proc/net/dev")) == errno.ENOENT


def test_masked_paths(env):
    assert read(env, "/proc/kcore") == b""
    assert read(env, "/proc/keys") == b""
    fd = env.k.mounts.path("/proc/acpi").fs.open(env.t, _path(env, "/proc/acpi"),
                                                 os.O_RDONLY | os.O_DIRECTORY, 0)
    os.close(fd)
    assert os.listdir(env.skel / "proc/acpi") == []
    assert stat.S_ISDIR(stat_of(env, "/sys/firmware")["mode"])


def test_write_refused(env):
    assert errno_of(lambda: read(env, "/proc/self/status", os.O_WRONLY)) == errno.EACCES
    assert errno_of(lambda: read(env, "/proc/meminfo", os.O_RDWR)) == errno.EACCES
    p = _path(env, "/proc/foo")
    assert errno_of(lambda: p.fs.mkdir(env.t, p, 0o755)) in (errno.EROFS, errno.EACCES)
    p = _path(env, "/proc/meminfo")
    assert errno_of(lambda: p.fs.unlink(env.t, p, False)) == errno.EROFS
    assert errno_of(lambda: p.fs.access(env.t, p, os.W_OK, True)) == errno.EACCES
    assert errno_of(lambda: p.fs.access(env.t, p, os.X_OK, True)) == errno.EACCES
    p.fs.access(env.t, p, os.R_OK, True)
    assert errno_of(lambda: p.fs.readlink(env.t, p)) == errno.EINVAL


def test_stat_proc_nodes(env):
    d = stat_of(env, "/proc")
    assert stat.S_ISDIR(d["mode"]) and d["mode"] & 0o777 == 0o555 and d["nlink"] == 2
    f = stat_of(env, "/proc/meminfo")
    assert f["mode"] == stat.S_IFREG | 0o444 and f["size"] == 0
    link = stat_of(env, "/proc/self", follow=False)
    assert stat.S_ISLNK(link["mode"])
    pid_dir = stat_of(env, "/proc/self")
    assert stat.S_ISDIR(pid_dir["mode"]) and pid_dir["uid"] == os.getuid()
    assert stat_of(env, "/proc/meminfo")["ino"] == f["ino"] != d["ino"]
    p = _path(env, "/proc/self")
    magic, = STATFS.unpack(p.fs.statfs(env.t, p))[:1]
    assert magic == 0x9FA0


def test_proc_dir_materialised(env):
    pid = my_sandbox_pid()
    p = _path(env, "/proc/self")
    fd = env.k.mounts.follow(lambda q: q.fs.open(env.t, q, os.O_RDONLY | os.O_DIRECTORY, 0),
                             env.t, p)
    try:
        names = set(os.listdir(fd))
    finally:
        os.close(fd)
    assert {"status", "stat", "cmdline", "fd", "task", "exe", "cwd", "root"} <= names
    base = env.skel / "proc" / str(pid)
    assert (base / "fd").is_dir() and not (base / "fd").is_symlink()
    assert os.readlink(base / "root") == "/"
    assert os.readlink(base / "exe") == os.readlink("/proc/self/exe")
    # the root listing: pids and statics; stale entries go away
    (env.skel / "proc" / "stale").mkdir()
    fd = env.k.mounts.path("/proc").fs.open(env.t, _path(env, "/proc"),
                                            os.O_RDONLY | os.O_DIRECTORY, 0)
    os.close(fd)
    top = set(os.listdir(env.skel / "proc"))
    assert str(pid) in top and "self" in top and "meminfo" in top and "stale" not in top
    assert os.readlink(env.skel / "proc" / "self") == str(pid)
    assert errno_of(lambda: read(env, "/proc/self", os.O_WRONLY | os.O_DIRECTORY)) == \
        errno.EISDIR


def test_prepare_cwd(env):
    pid = my_sandbox_pid()
    p = _path(env, "/proc/self/task")
    p.fs.prepare_cwd(env.t, p)
    assert os.path.isdir(env.skel / "proc/self/task" / str(pid))
    assert os.readlink(env.skel / "proc/self") == str(pid)


def test_thread_self_and_task(env):
    pid = my_sandbox_pid()
    p = _path(env, "/proc/thread-self")
    assert p.fs.readlink(env.t, p) == f"{pid}/task/{pid}"
    assert f"\nPid:\t{pid}\n".encode() in read(env, "/proc/thread-self/status")


def test_proc_other_task(env):
    child = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.05)
        status = read(env, f"/proc/{child.pid}/status").decode()
        assert f"\nPPid:\t{my_sandbox_pid()}\n" in status
        assert read(env, f"/proc/{child.pid}/comm") == b"sleep\n"
    finally:
        child.kill()
        child.wait()
    assert errno_of(lambda: read(env, f"/proc/{child.pid}/status")) == errno.ENOENT


# -- /dev ------------------------------------------------------------------------------
def test_dev_null_and_zero(env):
    assert read(env, "/dev/null") == b""
    p = _path(env, "/dev/zero")
    fd = p.fs.open(env.t, p, os.O_RDONLY, 0)
    try:
        assert os.read(fd, 4) == b"\0" * 4
    finally:
        os.close(fd)
    p = _path(env, "/dev/null")
    fd = p.fs.open(env.t, p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        assert os.write(fd, b"discard") == 7
    finally:
        os.close(fd)


@pytest.mark.parametrize("name,major,minor", [
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
    ("tty", 5, 0), ("ptmx", 5, 2)])
def test_dev_stat(env, name, major, minor):
    s = stat_of(env, f"/dev/{name}")
    assert s["mode"] == stat.S_IFCHR | 0o666
    assert (os.major(s["rdev"]), os.minor(s["rdev"])) == (major, minor)


def test_dev_links_redirect(env):
    p = _path(env, "/dev/stdout")
    assert p.fs.readlink(env.t, p) == "/proc/self/fd/1"
    with pytest.raises(Redirect) as r:
        p.fs.open(env.t, p, os.O_WRONLY, 0)
    assert r.value.target == "/proc/self/fd/1"
    p = _path(env, "/dev/fd/0")
    with pytest.raises(Redirect) as r:
        p.fs.stat(env.t, p, True)
    assert r.value.target == "/proc/self/fd/0"


def test_dev_listing(env):
    p = _path(env, "/dev")
    os.close(p.fs.open(env.t, p, os.O_RDONLY | os.O_DIRECTORY, 0))
    d = env.skel / "dev"
    for sub in ("shm", "pts", "mqueue"):
        assert (d / sub).is_dir()
    assert os.readlink(d / "stdin") == "/proc/self/fd/0"
    assert (d / "null").is_file()
    assert errno_of(lambda: read(env, "/dev/nope")) == errno.ENOENT


def _sleeper(slave: int, controlling: bool) -> subprocess.Popen:
    """A process in a session of its own with the pty on fd 0, as its controlling
    terminal or not."""
    def take() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    return subprocess.Popen(["sleep", "30"], stdin=slave, start_new_session=True,
                            preexec_fn=take if controlling else None)


def test_dev_tty_is_the_controlling_terminal(env, tmp_path):
    """/dev/tty opens the task's controlling terminal, found in the sandbox's devpts."""
    master, slave = os.openpty()
    pts = tmp_path / "pts"
    pts.mkdir()
    name = os.ttyname(slave)
    os.symlink(name, pts / name.rsplit("/", 1)[1])  # stand-in for the devpts node
    env.k.devpts = str(pts)
    child = _sleeper(slave, controlling=True)
    try:
        t = Task(env.k, child.pid, 0, (0,) * 6, lambda: True)
        p = _path(env, "/dev/tty")
        fd = p.fs.open(t, p, os.O_RDWR, 0)
        try:
            assert os.fstat(fd).st_rdev == os.fstat(slave).st_rdev
        finally:
            os.close(fd)
    finally:
        child.kill()
        child.wait()
        os.close(master)
        os.close(slave)


def test_dev_tty_without_controlling_terminal_is_enxio(env):
    """A terminal on fd 0 is not a controlling terminal: ENXIO, as Linux says."""
    master, slave = os.openpty()
    child = _sleeper(slave, controlling=False)
    try:
        t = Task(env.k, child.pid, 0, (0,) * 6, lambda: True)
        p = _path(env, "/dev/tty")
        assert errno_of(lambda: p.fs.open(t, p, os.O_RDWR, 0)) == errno.ENXIO
    finally:
        child.kill()
        child.wait()
        os.close(master)
        os.close(slave)


def test_devpts(env, tmp_path):
    pts = tmp_path / "pts"
    pts.mkdir()
    master, slave = os.openpty()
    try:
        os.symlink(os.ttyname(slave), pts / "0")  # stand-in for a devpts node
        (pts / "ptmx").symlink_to("/dev/ptmx")
        env.k.devpts = str(pts)
        fs = synthetic.make("devpts", env.k)
        fs.view_root = str(env.skel)
        m = Mount("/dev/pts", fs, "devpts", "devpts")
        from sentry.vfs import Path
        p0 = Path("/dev/pts/0", "/dev/pts/0", m, "/0")
        st = STAT.unpack(fs.stat(env.t, p0, True))
        assert stat.S_ISCHR(st[3]) and st[7] == os.fstat(slave).st_rdev
        fd = fs.open(env.t, p0, os.O_RDWR, 0)
        assert os.isatty(fd)
        os.close(fd)
        root = Path("/dev/pts", "/dev/pts", m, "/")
        fs.prepare_cwd(env.t, root)
        assert sorted(os.listdir(env.skel / "dev/pts")) == ["0", "ptmx"]
        # /dev/ptmx of the devfs opens the devpts instance's ptmx
        fd = read_fd(env, "/dev/ptmx", os.O_RDWR)
        assert os.isatty(fd)  # a pty master
        os.close(fd)
    finally:
        os.close(master)
        os.close(slave)


def read_fd(env, raw, flags):
    p = _path(env, raw)
    return env.k.mounts.follow(lambda q: q.fs.open(env.t, q, flags, 0), env.t, p)


def test_other_user_cannot_inspect(env):
    from sentry.task import Creds
    child = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.05)
        t = Task(env.k, os.getpid(), 0, (0,) * 6, lambda: True)
        t._creds = Creds(1000, 1000, 1000, 1000, (), 0, 0o22)
        for name in ("environ", "maps", "fd/0"):
            p = _path(env, f"/proc/{child.pid}/{name}")
            assert errno_of(lambda p=p: p.fs.open(t, p, os.O_RDONLY, 0)) == errno.EACCES
        p = _path(env, f"/proc/{child.pid}/status")
        os.close(p.fs.open(t, p, os.O_RDONLY, 0))
    finally:
        child.kill()
        child.wait()


# -- /sys ------------------------------------------------------------------------------
def test_sys_cpu_online(env):
    from sentry.fs.sysfs import parse_cpulist
    online = read(env, "/sys/devices/system/cpu/online").decode()
    assert len(parse_cpulist(online)) >= 1
    p = _path(env, "/sys/devices/system/cpu")
    os.close(p.fs.open(env.t, p, os.O_RDONLY | os.O_DIRECTORY, 0))
    assert "cpu0" in os.listdir(env.skel / "sys/devices/system/cpu")
    assert stat.S_ISDIR(stat_of(env, "/sys/class/net/lo")["mode"])
    assert stat.S_ISDIR(stat_of(env, "/sys/fs/cgroup")["mode"])


def test_other_kinds(env):
    for kind in ("devpts", "mqueue", "cgroup"):
        fs = synthetic.make(kind, env.k)
        m = Mount("/x", fs, kind, kind)
        from sentry.vfs import Path
        p = Path("/x", "/x", m, "/")
        assert stat.S_ISDIR(STAT.unpack(fs.stat(env.t, p, True))[3])


def test_sysinfo(env):
    vals = SYSINFO.unpack(pack_sysinfo(env.k))
    assert len(pack_sysinfo(env.k)) == 112
    uptime, procs, mem_unit = vals[0], vals[10], vals[13]
    assert 4 <= uptime < 60 and procs >= 1 and mem_unit == 1 and vals[4] > 0
