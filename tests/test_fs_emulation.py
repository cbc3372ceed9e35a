"""The sentry's path-syscall family, run in real containers, checked against the host's
view of the bundle's rootfs (and of bind-mount sources) afterwards."""
from __future__ import annotations

import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from helpers import bind_mount, parse_err, parse_kv, tmpfs_mount


def run_in(rt, bundle, args, **ov):
    """Run one container; returns (CompletedProcess, bundle_dir)."""
    b = bundle(list(args), **ov)
    p = rt.run("run", "--bundle", b, "c-" + uuid.uuid4().hex[:10], timeout=90)
    return p, b


def out_of(p):
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


def sh(rt, bundle, script, **ov):
    return run_in(rt, bundle, ["/bin/sh", "-c", script], **ov)


def host_stat_line(helper_bin, path, sub="stat"):
    """Run the same rsphelper subcommand natively on the host for comparison."""
    return subprocess.run([str(helper_bin), sub, str(path)], capture_output=True,
                          text=True).stdout


def _cmp_keys(d):
    return {k: d[k] for k in ("mode", "size", "uid", "gid", "nlink", "type", "rdev")}


# ------------------------------------------------------------------ stat family

@pytest.mark.parametrize("sub", ["stat", "lstat", "fstat", "statx"])
def test_stat_family_matches_host(rt, bundle, helper_bin, sub):
    p, b = run_in(rt, bundle, ["/bin/rsphelper", sub, "/bin/busybox"], readonly=False)
    assert p.returncode == 0, out_of(p)
    inside = parse_kv(p.stdout)
    host = parse_kv(host_stat_line(helper_bin, b / "rootfs/bin/busybox", sub))
    assert _cmp_keys(inside) == _cmp_keys(host), out_of(p)


def test_lstat_of_symlink_and_stat_follows(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper lstat /bin/sh; rsphelper stat /bin/sh")
    assert p.returncode == 0, out_of(p)
    lines = p.stdout.splitlines()
    assert parse_kv(lines[0])["type"] == "lnk", out_of(p)
    st = parse_kv(lines[1])
    assert st["type"] == "reg"
    assert int(st["size"]) == os.stat(b / "rootfs/bin/busybox").st_size


def test_stat_errors(rt, bundle):
    p, _ = sh(rt, bundle, "rsphelper stat /nonexistent; rsphelper stat /etc/hostname/x; "
                          "rsphelper lstat ''")
    errs = [parse_err(l) for l in p.stdout.splitlines()]
    assert [e[0] if e else None for e in errs] == ["ENOENT", "ENOTDIR", "ENOENT"], out_of(p)


def test_readlink(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper readlink /bin/sh; rsphelper readlink /etc/hostname")
    lines = p.stdout.splitlines()
    assert lines[0] == os.readlink(b / "rootfs/bin/sh") == "busybox", out_of(p)
    assert parse_err(lines[1])[0] == "EINVAL", out_of(p)


def test_access(rt, bundle):
    p, _ = sh(rt, bundle, "rsphelper access /bin/busybox rx; rsphelper access /etc/hostname f; "
                          "rsphelper access /nope f; rsphelper access /etc/hostname x")
    lines = p.stdout.splitlines()
    assert lines[:2] == ["ok", "ok"], out_of(p)
    assert parse_err(lines[2])[0] == "ENOENT", out_of(p)
    assert parse_err(lines[3])[0] == "EACCES", out_of(p)


def test_statfs(rt, bundle, helper_bin):
    p, b = run_in(rt, bundle, ["/bin/rsphelper", "statfs", "/etc"])
    assert p.returncode == 0, out_of(p)
    assert p.stdout.startswith("f_type=0x"), out_of(p)
    host = host_stat_line(helper_bin, b / "rootfs/etc", "statfs")
    assert p.stdout == host, out_of(p)


# ------------------------------------------------------------------ writes land in the rootfs

def test_create_write_visible_on_host(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper write /root/new.txt hello-from-inside && "
                          "rsphelper append /root/new.txt +more && rsphelper cat /root/new.txt",
              readonly=False)
    assert p.returncode == 0, out_of(p)
    assert p.stdout.splitlines()[-1] == "hello-from-inside+more", out_of(p)
    f = b / "rootfs/root/new.txt"
    assert f.read_text() == "hello-from-inside+more"
    st = f.stat()
    assert stat.S_IMODE(st.st_mode) == 0o644 & ~0o022
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_write_truncates(rt, bundle):
    def prep(cfg):
        return None
    b0 = bundle(["/bin/rsphelper", "write", "/etc/hostname", "x"], readonly=False)
    (b0 / "rootfs/etc/hostname").write_text("a-long-previous-content\n")
    p = rt.run("run", "--bundle", b0, "c-" + uuid.uuid4().hex[:8])
    assert p.returncode == 0, out_of(p)
    assert (b0 / "rootfs/etc/hostname").read_text() == "x"


def test_mkdir_rmdir(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper mkdir /d1 && rsphelper mkdir /d2 && rsphelper rmdir /d2 && "
                          "rsphelper mkdir /d1; rsphelper rmdir /etc", readonly=False)
    lines = p.stdout.splitlines()
    assert lines[:3] == ["ok", "ok", "ok"], out_of(p)
    assert parse_err(lines[3])[0] == "EEXIST", out_of(p)
    assert parse_err(lines[4])[0] == "ENOTEMPTY", out_of(p)
    assert (b / "rootfs/d1").is_dir()
    assert stat.S_IMODE((b / "rootfs/d1").stat().st_mode) == 0o755
    assert not (b / "rootfs/d2").exists()
    assert (b / "rootfs/etc").is_dir()


def test_unlink_visible_on_host(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper unlink /etc/group && rsphelper stat /etc/group; "
                          "rsphelper unlink /etc", readonly=False)
    lines = p.stdout.splitlines()
    assert lines[0] == "ok", out_of(p)
    assert parse_err(lines[1])[0] == "ENOENT", out_of(p)
    assert parse_err(lines[2])[0] in ("EISDIR", "EPERM"), out_of(p)
    assert not (b / "rootfs/etc/group").exists()
    assert (b / "rootfs/etc/passwd").exists()


def test_rename_visible_on_host(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper write /root/a A && rsphelper rename /root/a /etc/b && "
                          "rsphelper mkdir /dd && rsphelper rename /dd /root/ee && rsphelper cat /etc/b",
              readonly=False)
    assert p.returncode == 0, out_of(p)
    assert p.stdout.splitlines() == ["ok", "ok", "ok", "ok", "A"], out_of(p)
    r = b / "rootfs"
    assert not (r / "root/a").exists() and (r / "etc/b").read_text() == "A"
    assert not (r / "dd").exists() and (r / "root/ee").is_dir()


def test_link_and_symlink_visible_on_host(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper link /etc/passwd /root/pw && rsphelper stat /root/pw && "
                          "rsphelper symlink ../etc/passwd /root/sl && rsphelper readlink /root/sl && "
                          "rsphelper cat /root/sl", readonly=False)
    assert p.returncode == 0, out_of(p)
    lines = p.stdout.splitlines()
    assert parse_kv(lines[1])["nlink"] == "2", out_of(p)
    assert lines[3] == "../etc/passwd"
    r = b / "rootfs"
    assert os.stat(r / "root/pw").st_ino == os.stat(r / "etc/passwd").st_ino
    assert os.stat(r / "etc/passwd").st_nlink == 2
    assert os.readlink(r / "root/sl") == "../etc/passwd"
    assert "root:x:0:0" in p.stdout


def test_chmod_chown_truncate_utimens_visible_on_host(rt, bundle):
    # chown needs CAP_CHOWN, which runc spec's default set lacks (runc refuses it too)
    p, b = sh(rt, bundle, "rsphelper write /root/f 0123456789 && rsphelper chmod /root/f 0640 && "
                          "rsphelper chown /root/f 1234 5678 && rsphelper truncate /root/f 4 && "
                          "rsphelper utimens /root/f 1000000000 && rsphelper stat /root/f",
              readonly=False, capabilities=["CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"])
    assert p.returncode == 0, out_of(p)
    inside = parse_kv(p.stdout.splitlines()[-1])
    st = os.stat(b / "rootfs/root/f")
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_size == 4 and (b / "rootfs/root/f").read_text() == "0123"
    assert int(st.st_mtime) == 1000000000 and int(st.st_atime) == 1000000000
    assert inside["mode"] == "0640" and inside["uid"] == "1234" and inside["gid"] == "5678"
    assert inside["size"] == "4"


# ------------------------------------------------------------------ relative paths, cwd, dirfds

def test_relative_paths_after_chdir(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper chdir-cat /etc hostname; rsphelper chdir-cat /etc ../etc/passwd; "
                          "cd /root && rsphelper write rel.txt R && rsphelper mkdir sub && "
                          "rsphelper rename rel.txt sub/moved && rsphelper cat ./sub/moved && echo && "
                          "cd sub && rsphelper getcwd && rsphelper stat moved", readonly=False)
    assert p.returncode == 0, out_of(p)
    lines = p.stdout.splitlines()
    assert lines[0] == "runsc-py", out_of(p)
    assert "root:x:0:0:root:/root:/bin/sh" in lines
    assert "/root/sub" in lines
    assert (b / "rootfs/root/sub/moved").read_text() == "R"


def test_getcwd(rt, bundle):
    p, _ = sh(rt, bundle, "rsphelper getcwd; rsphelper chdir-getcwd /etc; rsphelper chdir-getcwd /bin/..; "
                          "cd /tmp && rsphelper getcwd")
    assert p.stdout.splitlines() == ["/", "/etc", "/", "/tmp"], out_of(p)


def test_getcwd_through_symlinked_dir(rt, bundle):
    b = bundle(["/bin/rsphelper", "chdir-getcwd", "/lnk"])
    os.symlink("etc", b / "rootfs/lnk")
    p = rt.run("run", "--bundle", b, "c-" + uuid.uuid4().hex[:8])
    assert p.stdout.strip() == "/etc", out_of(p)


def test_openat_with_dirfd(rt, bundle):
    p, _ = sh(rt, bundle, "rsphelper openat-rel /etc hostname; rsphelper openat-rel /bin ../etc/hostname; "
                          "rsphelper openat-rel / etc/hostname; rsphelper openat-rel /etc /etc/hostname")
    assert p.stdout.splitlines() == ["runsc-py"] * 4, out_of(p)


def test_openat2_in_root(rt, bundle):
    p, _ = sh(rt, bundle, "rsphelper openat2-inroot /etc hostname; rsphelper openat2-inroot / etc/hostname")
    assert p.stdout.splitlines() == ["runsc-py"] * 2, out_of(p)


def test_ls_l_bin(rt, bundle):
    p, _ = sh(rt, bundle, "ls -l /bin")
    assert p.returncode == 0, out_of(p)
    assert any(l.endswith(" busybox") and l.startswith("-rwxr-xr-x") for l in p.stdout.splitlines()), out_of(p)
    assert any(l.endswith(" sh -> busybox") for l in p.stdout.splitlines()), out_of(p)
    assert any(l.endswith(" rsphelper") for l in p.stdout.splitlines()), out_of(p)


def test_ls_matches_host(rt, bundle):
    p, b = run_in(rt, bundle, ["/bin/rsphelper", "ls", "/etc"])
    assert p.returncode == 0, out_of(p)
    assert p.stdout.splitlines() == sorted(os.listdir(b / "rootfs/etc")), out_of(p)


# ------------------------------------------------------------------ read-only root

def test_readonly_root_refuses_writes(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper write /newfile x; rsphelper write /etc/hostname x; "
                          "rsphelper mkdir /newdir; rsphelper unlink /etc/group; "
                          "rsphelper rename /etc/passwd /etc/pw; rsphelper chmod /etc/hostname 0777; "
                          "rsphelper symlink / /sl; rsphelper truncate /etc/hostname 0; "
                          "rsphelper link /etc/passwd /pw2; rsphelper rmdir /root; "
                          "rsphelper chown /etc/hostname 5 5; rsphelper utimens /etc/hostname 5; "
                          "rsphelper access /etc/hostname w; rsphelper cat /etc/hostname")
    lines = p.stdout.splitlines()
    assert len(lines) == 14, out_of(p)
    for l in lines[:13]:
        assert parse_err(l) is not None and parse_err(l)[0] == "EROFS", out_of(p)
    assert lines[13] == "runsc-py"
    r = b / "rootfs"
    assert (r / "etc/hostname").read_text() == "runsc-py\n"
    assert stat.S_IMODE((r / "etc/hostname").stat().st_mode) == 0o644
    for n in ("newfile", "newdir", "sl", "pw2"):
        assert not os.path.lexists(r / n)
    assert (r / "etc/group").exists() and (r / "etc/passwd").exists() and (r / "root").is_dir()


# ------------------------------------------------------------------ mounts

def test_bind_mount_rw(rt, bundle, tmp_path):
    src = tmp_path / "hostdir"
    src.mkdir()
    (src / "existing").write_text("from-host\n")
    p, b = sh(rt, bundle, "rsphelper cat /data/existing && rsphelper write /data/new inside && "
                          "rsphelper mkdir /data/sub && rsphelper rename /data/new /data/sub/new2 && "
                          "rsphelper unlink /data/existing && rsphelper chmod /data/sub/new2 0600",
              mounts=[bind_mount(src, "/data")])
    assert p.returncode == 0, out_of(p)
    assert p.stdout.splitlines()[0] == "from-host"
    assert (src / "sub/new2").read_text() == "inside"
    assert stat.S_IMODE((src / "sub/new2").stat().st_mode) == 0o600
    assert not (src / "existing").exists()
    assert not (b / "rootfs/data").exists() or not any((b / "rootfs/data").iterdir())


def test_bind_mount_ro_refuses_writes(rt, bundle, tmp_path):
    src = tmp_path / "hostro"
    src.mkdir()
    (src / "f").write_text("keep\n")
    p, b = sh(rt, bundle, "rsphelper cat /ro/f; rsphelper write /ro/f x; rsphelper write /ro/new x; "
                          "rsphelper mkdir /ro/d; rsphelper unlink /ro/f; rsphelper chmod /ro/f 0777; "
                          "rsphelper truncate /ro/f 0; rsphelper rename /ro/f /ro/g",
              readonly=False, mounts=[bind_mount(src, "/ro", readonly=True)])
    lines = p.stdout.splitlines()
    assert lines[0] == "keep", out_of(p)
    assert len(lines) == 8, out_of(p)
    for l in lines[1:]:
        assert parse_err(l) and parse_err(l)[0] == "EROFS", out_of(p)
    assert sorted(os.listdir(src)) == ["f"]
    assert (src / "f").read_text() == "keep\n"
    assert stat.S_IMODE((src / "f").stat().st_mode) == 0o644


def test_tmpfs_writable_not_in_rootfs(rt, bundle):
    p, b = sh(rt, bundle, "rsphelper write /tmp/t1 tmpdata && rsphelper mkdir /tmp/dir && "
                          "echo piped > /tmp/dir/t2 && rsphelper cat /tmp/t1 && echo && cat /tmp/dir/t2 && "
                          "rsphelper statfs /tmp",
              mounts=[tmpfs_mount("/tmp")])  # root stays read-only
    assert p.returncode == 0, out_of(p)
    lines = p.stdout.splitlines()
    assert lines[:4] == ["ok", "ok", "tmpdata", "piped"], out_of(p)
    assert lines[4] == "f_type=0x1021994", out_of(p)  # TMPFS_MAGIC
    assert os.listdir(b / "rootfs/tmp") == []
