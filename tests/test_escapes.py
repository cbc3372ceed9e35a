"""Attempts to reach host files from inside a container must fail or stay inside:
`..`, absolute and relative symlinks, /proc/*/root and /proc/*/cwd, /proc contents,
a TOCTOU race on the path buffer, and bad pointers."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import uuid
from pathlib import Path

import pytest

from helpers import bind_mount, parse_err, parse_kv, tmpfs_mount

MARK = "container-only-hostname-7c1e\n"


def out_of(p):
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


def run_bundle(rt, b):
    return rt.run("run", "--bundle", b, "c-" + uuid.uuid4().hex[:10], timeout=120)


def host_hostname_text():
    try:
        return Path("/etc/hostname").read_text()
    except OSError:
        return None


def make(bundle, script, **ov):
    b = bundle(["/bin/sh", "-c", script], **ov)
    (b / "rootfs/etc/hostname").write_text(MARK)
    return b


def outputs_inside_only(p, n):
    """Every line is the container's marker (or an rsphelper error); never the host's."""
    host = host_hostname_text()
    lines = p.stdout.splitlines()
    assert len(lines) == n, out_of(p)
    for l in lines:
        assert l == MARK.strip() or parse_err(l) is not None, out_of(p)
        if host and host.strip() and host.strip() != MARK.strip():
            assert l != host.strip(), out_of(p)
    return lines


# ------------------------------------------------------------------ .. and symlinks

def test_dotdot_stays_in_root(rt, bundle):
    b = make(bundle, "rsphelper cat /../../../etc/hostname; rsphelper cat ../../../../etc/hostname; "
                     "rsphelper chdir-cat / ../../etc/hostname; rsphelper openat-rel / ../../../etc/hostname; "
                     "rsphelper openat-rel /etc ../../../../etc/hostname; "
                     "rsphelper chdir-getcwd /../../..")
    p = run_bundle(rt, b)
    lines = p.stdout.splitlines()
    assert lines == [MARK.strip()] * 5 + ["/"], out_of(p)


def test_absolute_symlink_to_root(rt, bundle):
    b = make(bundle, "rsphelper cat /esc/../../etc/hostname; rsphelper cat /esc/etc/hostname; "
                     "rsphelper cat /root/esc2/../../../etc/hostname; rsphelper openat-rel /root esc2/etc/hostname")
    os.symlink("/", b / "rootfs/esc")
    os.symlink("/", b / "rootfs/root/esc2")
    p = run_bundle(rt, b)
    assert p.stdout.splitlines() == [MARK.strip()] * 4, out_of(p)


def test_relative_symlink_upwards(rt, bundle):
    b = make(bundle, "rsphelper cat /up/etc/hostname; rsphelper cat /root/up2/etc/hostname; "
                     "cd /root/up2 && pwd && rsphelper cat etc/hostname && ls -d ../../../bin")
    os.symlink("../../../../../..", b / "rootfs/up")
    os.symlink("../../../../../../../..", b / "rootfs/root/up2")
    p = run_bundle(rt, b)
    lines = p.stdout.splitlines()
    assert lines[:2] == [MARK.strip()] * 2, out_of(p)
    assert lines[2] in ("/", "/root/up2"), out_of(p)
    assert lines[3] == MARK.strip() and lines[4] in ("../../../bin",), out_of(p)


def test_symlink_to_host_only_path_is_enoent(rt, bundle, tmp_path):
    marker = Path("/tmp") / f"rsp-host-only-{uuid.uuid4().hex}"
    marker.write_text("HOST-ONLY-SECRET\n")
    try:
        b = make(bundle, "rsphelper cat /hostfile; rsphelper stat /hostfile; rsphelper cat /root/rel; "
                         f"rsphelper cat {marker}; rsphelper readlink /hostfile",
                 readonly=False)
        os.symlink(str(marker), b / "rootfs/hostfile")
        os.symlink("../../../.." + str(marker), b / "rootfs/root/rel")
        (b / "rootfs/tmp").chmod(0o1777)
        p = run_bundle(rt, b)
        assert "HOST-ONLY-SECRET" not in p.stdout, out_of(p)
        lines = p.stdout.splitlines()
        assert [parse_err(l)[0] if parse_err(l) else l for l in lines[:4]] == ["ENOENT"] * 4, out_of(p)
        assert lines[4] == str(marker), out_of(p)
    finally:
        marker.unlink()


def test_write_through_escaping_symlink_stays_inside(rt, bundle):
    target = Path("/tmp") / f"rsp-escape-{uuid.uuid4().hex}"
    b = make(bundle, f"rsphelper write /evil pwned; rsphelper mkdir /evildir/x; "
                     f"rsphelper write /up/{target.relative_to('/')} pwned2", readonly=False)
    os.symlink(str(target), b / "rootfs/evil")
    os.symlink(str(target) + "-d", b / "rootfs/evildir")
    os.symlink("../../../../../..", b / "rootfs/up")
    p = run_bundle(rt, b)
    try:
        assert not target.exists() and not Path(str(target) + "-d").exists(), out_of(p)
        # the writes landed inside the rootfs (or failed), never on the host
        inside = b / "rootfs" / target.relative_to("/")
        lines = p.stdout.splitlines()
        if lines and lines[0] == "ok":
            assert inside.read_text() in ("pwned", "pwned2")
    finally:
        for t in (target, Path(str(target) + "-d")):
            if t.is_dir():
                os.rmdir(t)
            elif t.exists():
                t.unlink()


def test_openat2_resolve_in_root_from_container(rt, bundle):
    b = make(bundle, "rsphelper openat2-inroot / ../../etc/hostname; rsphelper openat2-inroot /etc /etc/hostname")
    p = run_bundle(rt, b)
    # RESOLVE_IN_ROOT relative to the dirfd: /etc/etc/hostname does not exist -> ENOENT
    lines = p.stdout.splitlines()
    assert lines[0] == MARK.strip(), out_of(p)
    assert parse_err(lines[1]) == ("ENOENT", 2), out_of(p)


# ------------------------------------------------------------------ /proc tricks

def test_proc_root_links_stay_inside(rt, bundle):
    b = make(bundle, "rsphelper cat /proc/1/root/etc/hostname; rsphelper cat /proc/self/root/etc/hostname; "
                     "rsphelper cat /proc/self/root/../../../etc/hostname; "
                     "rsphelper cat /proc/thread-self/root/etc/hostname; "
                     "rsphelper chdir-cat /proc/self/root etc/hostname; "
                     "rsphelper openat-rel /proc/1/root ../../etc/hostname")
    p = run_bundle(rt, b)
    outputs_inside_only(p, 6)
    assert p.stdout.splitlines()[1] == MARK.strip(), out_of(p)


def test_proc_root_readlink_is_sandbox_root(rt, bundle):
    b = make(bundle, "rsphelper readlink /proc/self/root; rsphelper readlink /proc/1/root")
    p = run_bundle(rt, b)
    for l in p.stdout.splitlines():
        assert l == "/" or parse_err(l) is not None, out_of(p)
    assert str(b) not in p.stdout, out_of(p)


def test_proc_cwd_tricks(rt, bundle):
    b = make(bundle, "cd /etc && rsphelper cat /proc/self/cwd/hostname; "
                     "cd / && rsphelper cat /proc/self/cwd/../../../etc/hostname; "
                     "cd /tmp && rsphelper cat /proc/self/cwd/../etc/hostname; "
                     "cd /etc && rsphelper readlink /proc/self/cwd; "
                     "rsphelper chdir-cat /proc/self/cwd/../.. etc/hostname; "
                     "cd /etc && rsphelper cat /proc/1/cwd/../etc/hostname")
    p = run_bundle(rt, b)
    lines = p.stdout.splitlines()
    assert len(lines) == 6, out_of(p)
    assert lines[:3] == [MARK.strip()] * 3, out_of(p)
    assert lines[3] == "/etc", out_of(p)
    for l in lines[4:]:
        assert l == MARK.strip() or parse_err(l) is not None, out_of(p)
    assert str(b) not in p.stdout


def test_proc_fd_links_stay_inside(rt, bundle):
    b = make(bundle, "exec 5</etc; rsphelper readlink /proc/self/fd/5; rsphelper cat /proc/self/fd/5/hostname; "
                     "rsphelper cat /proc/self/fd/5/../../../etc/hostname")
    p = run_bundle(rt, b)
    lines = p.stdout.splitlines()
    assert lines[0] == "/etc", out_of(p)
    for l in lines[1:]:
        assert l == MARK.strip() or parse_err(l) is not None, out_of(p)
    assert str(b) not in p.stdout, out_of(p)


def test_proc_lists_only_sandbox_pids(rt, bundle):
    b = make(bundle, "for d in /proc/[0-9]*; do echo \"${d#/proc/} $(cat $d/comm)\"; done")
    p = run_bundle(rt, b)
    assert p.returncode == 0, out_of(p)
    entries = [l.split(" ", 1) for l in p.stdout.splitlines()]
    assert 1 <= len(entries) <= 5, out_of(p)
    comms = {c for _, c in entries}
    assert comms <= {"sh", "cat", "busybox", "rsphelper"}, out_of(p)
    assert "1" in {pid for pid, _ in entries}, out_of(p)
    host_pids = {int(x) for x in os.listdir("/proc") if x.isdigit()}
    assert len(entries) < len(host_pids)


def test_proc_1_is_the_container_init(rt, bundle):
    b = make(bundle, "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/1/comm; rsphelper readlink /proc/1/exe; true")
    p = run_bundle(rt, b)
    lines = p.stdout.splitlines()
    assert lines[0].startswith("/bin/sh -c "), out_of(p)
    assert lines[1] == "sh", out_of(p)
    assert lines[2] == "/bin/busybox", out_of(p)


def test_proc_self_exe_is_a_sandbox_path(rt, bundle):
    b = make(bundle, "rsphelper readlink /proc/self/exe; readlink /proc/self/exe")
    p = run_bundle(rt, b)
    lines = p.stdout.splitlines()
    assert lines == ["/bin/rsphelper", "/bin/busybox"], out_of(p)
    assert str(b) not in p.stdout


def test_proc_self_after_exec_is_the_callers_pid(rt, bundle):
    """/proc/self in a program just exec'd names that program's process, fork after
    fork (the sentry caches a caller's pid numbers per tid)."""
    b = make(bundle, "for i in 1 2 3 4 5 6; do sh -c 'echo $$ $(readlink /proc/self); "
                     "exec readlink /proc/self'; done; readlink /proc/self/exe")
    p = run_bundle(rt, b)
    lines = p.stdout.splitlines()
    assert len(lines) == 13 and lines[-1] == "/bin/busybox", out_of(p)
    for first, second in zip(lines[0:12:2], lines[1:12:2]):
        shell, subshell = first.split()
        assert second == shell and subshell != shell, out_of(p)


def test_proc_self_mounts_hides_host_paths(rt, bundle, tmp_path):
    src = tmp_path / "bindsrc"
    src.mkdir()
    b = make(bundle, "cat /proc/self/mounts; cat /proc/mounts", mounts=[bind_mount(src, "/data")])
    p = run_bundle(rt, b)
    assert p.returncode == 0, out_of(p)
    assert str(b) not in p.stdout, out_of(p)
    assert str(tmp_path) not in p.stdout, out_of(p)
    mpoints = [l.split()[1] for l in p.stdout.splitlines() if len(l.split()) >= 2]
    assert "/" in mpoints and "/proc" in mpoints and "/data" in mpoints, out_of(p)


def test_proc_self_maps_and_fd_hide_host_paths(rt, bundle):
    b = make(bundle, "rsphelper fds; cat /proc/self/maps")
    p = run_bundle(rt, b)
    assert p.returncode == 0, out_of(p)
    assert str(b) not in p.stdout, out_of(p)
    assert "/bin/busybox" in p.stdout, out_of(p)


# ------------------------------------------------------------------ TOCTOU on the path buffer

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_OPEN = 0x2, 0x4, 0x8, 0x20
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_NONBLOCK = 0o4000


class Inotify:
    def __init__(self, path, mask):
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK)
        assert self.fd >= 0
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(str(path)), mask)
        assert wd >= 0, os.strerror(ctypes.get_errno())

    def events(self):
        out = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            off = 0
            while off < len(data):
                _wd, mask, _cookie, ln = struct.unpack_from("iIII", data, off)
                name = data[off + 16: off + 16 + ln].rstrip(b"\0").decode()
                out.append((mask, name))
                off += 16 + ln
        return out

    def close(self):
        os.close(self.fd)


def test_toctou_race_never_opens_ro_for_writing(rt, bundle, tmp_path):
    src = tmp_path / "rosrc"
    src.mkdir()
    (src / "x").write_text("original\n")
    before = (src / "x").stat()
    b = make(bundle, "echo w > /tmp/x && rsphelper race-rename /ro/x /tmp/x 2000 && "
                     "rsphelper race-rename /tmp/x /ro/x 2000 && rsphelper write /ro/x direct",
             mounts=[bind_mount(src, "/ro", readonly=True), tmpfs_mount("/tmp")])
    ino = Inotify(src, IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
                  | IN_CREATE | IN_DELETE)
    try:
        p = run_bundle(rt, b)
        ev = ino.events()
    finally:
        ino.close()
    lines = p.stdout.splitlines()
    assert len(lines) == 3, out_of(p)
    for l in lines[:2]:
        kv = parse_kv(l)
        assert kv["tries"] == "2000" and 0 <= int(kv["opened"]) <= 2000, out_of(p)
    assert parse_err(lines[2]) == ("EROFS", 30), out_of(p)
    assert ev == [], f"host ro source saw write events {ev}\n" + out_of(p)
    assert sorted(os.listdir(src)) == ["x"]
    after = (src / "x").stat()
    assert (src / "x").read_text() == "original\n"
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == \
        (before.st_mtime_ns, before.st_size, before.st_ino)


# ------------------------------------------------------------------ bad pointers

def test_bad_pointers_fault_and_container_survives(rt, bundle):
    b = make(bundle, "rsphelper bad-pointer; echo rc=$?; rsphelper cat /etc/hostname; rsphelper stat /etc/hostname")
    p = run_bundle(rt, b)
    assert p.returncode == 0, out_of(p)
    lines = p.stdout.splitlines()
    assert lines[:6] == ["open-null EFAULT", "open-one EFAULT", "stat-unmapped EFAULT",
                         "stat-toolong ENAMETOOLONG", "stat-unterminated EFAULT",
                         "open-unterminated EFAULT"], out_of(p)
    assert lines[6] == "rc=0", out_of(p)
    assert lines[7] == MARK.strip(), out_of(p)
    assert parse_kv(lines[8])["type"] == "reg", out_of(p)
