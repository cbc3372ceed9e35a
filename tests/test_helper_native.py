"""Run rsphelper natively (no container) so the helper itself is known-good."""
from __future__ import annotations

import os
import stat
import subprocess

import pytest

from helpers import make_busybox_rootfs, parse_err, parse_kv


def run(helper, *args, **kw):
    return subprocess.run([str(helper), *map(str, args)], capture_output=True, text=True,
                          timeout=30, **kw)


def test_true_and_exit(helper_bin):
    assert run(helper_bin, "true").returncode == 0
    assert run(helper_bin, "exit", 42).returncode == 42


def test_helper_is_static(helper_bin):
    from helpers import _is_static_elf
    assert _is_static_elf(helper_bin)


def test_cat(helper_bin, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"hello\nworld\0binary")
    p = run(helper_bin, "cat", f)
    assert p.returncode == 0
    assert p.stdout == "hello\nworld\0binary"


def test_cat_enoent(helper_bin, tmp_path):
    p = run(helper_bin, "cat", tmp_path / "missing")
    assert p.returncode == 1
    assert p.stdout.strip() == "ERR ENOENT 2"
    assert parse_err(p.stdout) == ("ENOENT", 2)


def test_write_append(helper_bin, tmp_path):
    f = tmp_path / "w"
    assert run(helper_bin, "write", f, "abc").returncode == 0
    assert run(helper_bin, "append", f, "def").returncode == 0
    assert f.read_text() == "abcdef"
    assert stat.S_IMODE(f.stat().st_mode) == 0o644 & ~_umask()


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


@pytest.mark.parametrize("sub", ["stat", "lstat", "statx", "fstat"])
def test_stat_family(helper_bin, tmp_path, sub):
    f = tmp_path / "s"
    f.write_bytes(b"x" * 1234)
    os.chmod(f, 0o640)
    st = os.stat(f)
    p = run(helper_bin, sub, f)
    assert p.returncode == 0, p.stdout + p.stderr
    kv = parse_kv(p.stdout)
    assert kv == {
        "mode": "0640", "size": "1234", "uid": str(st.st_uid), "gid": str(st.st_gid),
        "ino": str(st.st_ino), "nlink": "1", "rdev": "0:0", "type": "reg",
    }


def test_lstat_symlink_and_dir(helper_bin, tmp_path):
    os.symlink("target-does-not-exist", tmp_path / "l")
    kv = parse_kv(run(helper_bin, "lstat", tmp_path / "l").stdout)
    assert kv["type"] == "lnk" and kv["size"] == str(len("target-does-not-exist"))
    p = run(helper_bin, "stat", tmp_path / "l")
    assert p.returncode == 1 and p.stdout.startswith("ERR ENOENT")
    assert parse_kv(run(helper_bin, "stat", tmp_path).stdout)["type"] == "dir"
    kv = parse_kv(run(helper_bin, "stat", "/dev/null").stdout)
    assert kv["type"] == "chr" and kv["rdev"] == "1:3"


def test_ls(helper_bin, tmp_path):
    for n in ["b", "a", "c.txt", ".hidden"]:
        (tmp_path / n).write_text("")
    (tmp_path / "dir").mkdir()
    p = run(helper_bin, "ls", tmp_path)
    assert p.returncode == 0
    assert p.stdout.splitlines() == [".hidden", "a", "b", "c.txt", "dir"]


def test_bad_pointer(helper_bin):
    p = run(helper_bin, "bad-pointer")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines() == [
        "open-null EFAULT",
        "open-one EFAULT",
        "stat-unmapped EFAULT",
        "stat-toolong ENAMETOOLONG",
        "stat-unterminated EFAULT",
        "open-unterminated EFAULT",
    ]


def test_fds(helper_bin, tmp_path):
    f = tmp_path / "fd-target"
    f.write_text("")
    with open(f) as fh, open(os.devnull, "w") as null:
        p = subprocess.run([str(helper_bin), "fds"], stdin=fh, stdout=subprocess.PIPE,
                           stderr=null, text=True, timeout=30, close_fds=True)
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert lines[0] == f"0 -> {f}"
    assert lines[1].startswith("1 -> pipe:[")
    assert lines[2] == "2 -> /dev/null"
    assert len(lines) == 3, lines


def test_misc(helper_bin, tmp_path):
    assert parse_kv(run(helper_bin, "uname").stdout)["sysname"] == "Linux"
    idkv = parse_kv(run(helper_bin, "id").stdout)
    assert idkv["uid"] == str(os.getuid()) and idkv["egid"] == str(os.getegid())
    soft, hard = run(helper_bin, "rlimit", "NOFILE").stdout.split()
    import resource
    s, h = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert (soft, hard) == (str(s), str(h))
    assert run(helper_bin, "fork-exit-wait", 4).stdout == "ok\n"
    assert run(helper_bin, "getcwd", cwd=tmp_path).stdout == f"{tmp_path}\n"
    assert run(helper_bin, "chdir-getcwd", tmp_path).stdout == f"{tmp_path}\n"
    (tmp_path / "r").write_text("rel")
    assert run(helper_bin, "chdir-cat", tmp_path, "r").stdout == "rel"
    assert run(helper_bin, "openat-rel", tmp_path, "r").stdout == "rel"
    # RESOLVE_IN_ROOT: ../../r from tmp_path stays inside tmp_path
    assert run(helper_bin, "openat2-inroot", tmp_path, "../../r").stdout == "rel"
    assert run(helper_bin, "kill-self", 15).returncode == -15
    p = run(helper_bin, "exec", "/nonexistent")
    assert p.returncode == 1 and p.stdout == "ERR ENOENT 2\n"
    assert run(helper_bin, "syscall", 39).stdout.startswith("ret=")  # getpid


def test_fs_ops(helper_bin, tmp_path):
    d = tmp_path
    ok = lambda *a: run(helper_bin, *a).stdout == "ok\n"  # noqa: E731
    assert ok("mkdir", d / "m")
    assert run(helper_bin, "mkdir", d / "m").stdout == "ERR EEXIST 17\n"
    assert ok("write", d / "m/f", "data")
    assert ok("link", d / "m/f", d / "m/g")
    assert parse_kv(run(helper_bin, "stat", d / "m/g").stdout)["nlink"] == "2"
    assert ok("symlink", "f", d / "m/s")
    assert run(helper_bin, "readlink", d / "m/s").stdout == "f\n"
    assert ok("rename", d / "m/g", d / "m/h")
    assert ok("chmod", d / "m/h", "600")
    assert parse_kv(run(helper_bin, "stat", d / "m/h").stdout)["mode"] == "0600"
    assert ok("truncate", d / "m/h", "2")
    assert (d / "m/h").read_text() == "da"
    assert ok("utimens", d / "m/h", "1000000")
    assert os.stat(d / "m/h").st_mtime == 1000000
    assert ok("access", d / "m/h", "rw")
    assert ok("chown", d / "m/h", os.getuid(), os.getgid())
    assert run(helper_bin, "rmdir", d / "m").stdout == "ERR ENOTEMPTY 39\n"
    for n in ("f", "h", "s"):
        assert ok("unlink", d / "m" / n)
    assert ok("rmdir", d / "m")
    assert run(helper_bin, "statfs", "/proc").stdout == "f_type=0x9fa0\n"


def test_spin_signal(helper_bin):
    p = subprocess.Popen([str(helper_bin), "spin-signal"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        p.terminate()
        out, _ = p.communicate(timeout=10)
        assert out == "got SIGTERM\n" and p.returncode == 0
    finally:
        p.kill()


def test_race_rename(helper_bin, tmp_path):
    (tmp_path / "a").write_text("")
    p = run(helper_bin, "race-rename", tmp_path / "a", tmp_path / "nonexistent-b", 2000)
    kv = parse_kv(p.stdout)
    assert p.returncode == 0 and kv["tries"] == "2000"
    assert 0 < int(kv["opened"]) <= 2000


def test_busybox_rootfs(tmp_path, helper_bin):
    from helpers import require
    require(busybox=True)
    r = make_busybox_rootfs(tmp_path / "rootfs", helper=helper_bin)
    assert os.readlink(r / "bin/sh") == "busybox"
    assert os.readlink(r / "bin/ls") == "busybox"
    assert (r / "bin/rsphelper").is_file()
    for d in ("proc", "sys", "dev", "tmp", "etc", "root"):
        assert (r / d).is_dir()
    assert "nobody:x:65534:65534" in (r / "etc/passwd").read_text()
    # The rootfs works under chroot-free execution: busybox runs from it.
    p = subprocess.run([str(r / "bin/sh"), "-c", "echo hi"], capture_output=True, text=True)
    assert p.stdout == "hi\n"


def test_make_bundle(bundle):
    from helpers import bind_mount, load_config
    b = bundle(["/bin/rsphelper", "true"], env={"FOO": "bar"}, cwd="/tmp", user=(65534, 65534),
               readonly=False, mounts=[bind_mount("/etc", "/hostetc", readonly=True)])
    cfg = load_config(b)
    assert cfg["process"]["args"] == ["/bin/rsphelper", "true"]
    assert cfg["process"]["terminal"] is False
    assert "FOO=bar" in cfg["process"]["env"]
    assert any(e.startswith("PATH=") for e in cfg["process"]["env"])
    assert cfg["process"]["cwd"] == "/tmp"
    assert cfg["process"]["user"] == {"uid": 65534, "gid": 65534}
    assert cfg["root"] == {"path": "rootfs", "readonly": False}
    assert cfg["mounts"][-1]["destination"] == "/hostetc"
    assert (b / "rootfs/bin/busybox").is_file()
    assert os.readlink(b / "rootfs/bin/sh") == "busybox"


def test_bundle_runs_under_runc(bundle, tmp_path):
    """Reference: the bundle and rsphelper work under runc itself."""
    from helpers import require
    require(root=True, runc=True)
    b = bundle(["/bin/rsphelper", "cat", "/etc/hostname"])
    root = tmp_path / "runc-root"
    cid = f"rsp-native-{os.getpid()}"
    try:
        p = subprocess.run(["runc", "--root", str(root), "run", cid], cwd=b,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout == "runsc-py\n"
    finally:
        subprocess.run(["runc", "--root", str(root), "delete", "--force", cid],
                       capture_output=True)
