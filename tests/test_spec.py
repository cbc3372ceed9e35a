"""The OCI spec is honoured inside real containers: process env/cwd/user/caps/rlimits/
noNewPrivileges, hostname, uname identity, maskedPaths/readonlyPaths, dynamically linked
programs and busybox shell scripts."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from helpers import parse_err, parse_kv, require


def run_in(rt, bundle, args, **ov):
    b = bundle(list(args), **ov)
    p = rt.run("run", "--bundle", b, "c-" + uuid.uuid4().hex[:10], timeout=90)
    return p, b


def run_bundle(rt, b):
    return rt.run("run", "--bundle", b, "c-" + uuid.uuid4().hex[:10], timeout=90)


def out_of(p):
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


def sh(rt, bundle, script, **ov):
    return run_in(rt, bundle, ["/bin/sh", "-c", script], **ov)


# ------------------------------------------------------------------ process

def test_env_visible(rt, bundle):
    p, _ = sh(rt, bundle, 'echo "$FOO|$BAR|$PATH"', env={"FOO": "bar baz", "BAR": "2"})
    assert p.returncode == 0, out_of(p)
    assert p.stdout.split("|")[:2] == ["bar baz", "2"], out_of(p)


def test_env_replaced_exactly(rt, bundle):
    p, _ = run_in(rt, bundle, ["/bin/env"], env=["ONLY=1", "PATH=/bin"])
    assert p.returncode == 0, out_of(p)
    assert sorted(p.stdout.split()) == ["ONLY=1", "PATH=/bin"], out_of(p)


def test_cwd_honoured(rt, bundle):
    p, _ = run_in(rt, bundle, ["/bin/rsphelper", "getcwd"], cwd="/etc")
    assert p.stdout.strip() == "/etc", out_of(p)
    p, _ = sh(rt, bundle, "pwd; cat hostname", cwd="/etc")
    assert p.stdout.splitlines() == ["/etc", "runsc-py"], out_of(p)


def test_args_passed_verbatim(rt, bundle):
    p, _ = run_in(rt, bundle, ["/bin/sh", "-c", 'for a in "$@"; do echo "[$a]"; done', "x",
                               "a b", "", "*", "$HOME"])
    assert p.stdout.splitlines() == ["[a b]", "[]", "[*]", "[$HOME]"], out_of(p)


def test_exit_code(rt, bundle):
    p, _ = run_in(rt, bundle, ["/bin/rsphelper", "exit", "42"])
    assert p.returncode == 42, out_of(p)


def test_user_uid_gid_additional_gids(rt, bundle):
    p, _ = run_in(rt, bundle, ["/bin/rsphelper", "id"], user=(1000, 1000, [5, 6]))
    assert p.returncode == 0, out_of(p)
    kv = parse_kv(p.stdout)
    assert (kv["uid"], kv["gid"], kv["euid"], kv["egid"]) == ("1000",) * 4, out_of(p)
    assert set(filter(None, kv["groups"].split(","))) == {"5", "6"}, out_of(p)


def test_user_root_default(rt, bundle):
    p, _ = run_in(rt, bundle, ["/bin/rsphelper", "id"])
    kv = parse_kv(p.stdout)
    assert (kv["uid"], kv["gid"]) == ("0", "0"), out_of(p)


def _secret_bundle(bundle, user):
    b = bundle(["/bin/rsphelper", "cat", "/etc/secret600"], user=user)
    f = b / "rootfs/etc/secret600"
    f.write_text("top-secret\n")
    os.chown(f, 0, 0)
    os.chmod(f, 0o600)
    return b


def test_root_only_file_unreadable_for_uid_1000(rt, bundle):
    p = run_bundle(rt, _secret_bundle(bundle, (1000, 1000)))
    assert p.returncode == 1, out_of(p)
    assert parse_err(p.stdout)[0] == "EACCES", out_of(p)
    assert "top-secret" not in p.stdout


def test_root_only_file_readable_for_uid_0(rt, bundle):
    p = run_bundle(rt, _secret_bundle(bundle, 0))
    assert p.returncode == 0, out_of(p)
    assert p.stdout == "top-secret\n"


def test_uid_1000_cannot_write_root_dir(rt, bundle):
    p, b = run_in(rt, bundle, ["/bin/rsphelper", "write", "/etc/new", "x"], user=(1000, 1000),
                  readonly=False)
    assert parse_err(p.stdout) == ("EACCES", 13), out_of(p)
    assert not (b / "rootfs/etc/new").exists()


def test_capabilities_only_kill(rt, bundle):
    p, _ = run_in(rt, bundle, ["/bin/rsphelper", "caps"], capabilities=["CAP_KILL"])
    assert p.returncode == 0, out_of(p)
    kv = {l.split(":")[0]: l.split(":")[1].strip() for l in p.stdout.splitlines() if ":" in l}
    assert kv.get("CapEff") == "0000000000000020", out_of(p)
    assert kv.get("CapPrm") == "0000000000000020", out_of(p)
    assert kv.get("CapBnd") == "0000000000000020", out_of(p)


def test_capabilities_runc_default(rt, bundle):
    # runc spec: CAP_AUDIT_WRITE(29), CAP_KILL(5), CAP_NET_BIND_SERVICE(10)
    p, _ = run_in(rt, bundle, ["/bin/rsphelper", "caps"])
    assert "CapEff:\t0000000020000420" in p.stdout, out_of(p)


def test_capabilities_no_dac_override_means_eacces(rt, bundle):
    # root without CAP_DAC_OVERRIDE/READ_SEARCH cannot read a 0600 file owned by someone else
    b = bundle(["/bin/rsphelper", "cat", "/etc/other600"], capabilities=["CAP_KILL"])
    f = b / "rootfs/etc/other600"
    f.write_text("nope\n")
    os.chown(f, 1234, 1234)
    os.chmod(f, 0o600)
    p = run_bundle(rt, b)
    assert parse_err(p.stdout) == ("EACCES", 13), out_of(p)


@pytest.mark.parametrize("nnp,expected", [(True, "1"), (False, "0")])
def test_no_new_privileges(rt, bundle, nnp, expected):
    p, _ = run_in(rt, bundle, ["/bin/rsphelper", "nnp"], no_new_privileges=nnp)
    assert p.returncode == 0, out_of(p)
    assert p.stdout.strip() == expected, out_of(p)


def test_rlimits(rt, bundle):
    p, _ = sh(rt, bundle, "rsphelper rlimit NOFILE; rsphelper rlimit CORE",
              rlimits={"RLIMIT_NOFILE": (100, 200), "RLIMIT_CORE": (0, 0)})
    assert p.stdout.splitlines() == ["100 200", "0 0"], out_of(p)


def test_rlimit_nofile_enforced(rt, bundle):
    # busybox sh: opening fd 150 with a soft limit of 100 must fail
    p, _ = sh(rt, bundle, "exec 50</etc/hostname && echo ok50; (exec 150</etc/hostname) 2>/dev/null"
                          " && echo ok150 || echo refused150",
              rlimits={"RLIMIT_NOFILE": (100, 200)})
    assert p.stdout.splitlines() == ["ok50", "refused150"], out_of(p)


# ------------------------------------------------------------------ identity

def test_hostname(rt, bundle):
    p, _ = sh(rt, bundle, "hostname; rsphelper hostname; rsphelper uname", hostname="sandbox-a")
    lines = p.stdout.splitlines()
    assert lines[:2] == ["sandbox-a", "sandbox-a"], out_of(p)
    assert parse_kv("\n".join(lines[2:]))["nodename"] == "sandbox-a", out_of(p)


def test_uname_is_not_the_hosts(rt, bundle):
    p, _ = run_in(rt, bundle, ["/bin/rsphelper", "uname"])
    assert p.returncode == 0, out_of(p)
    kv = parse_kv(p.stdout)
    assert kv["sysname"] == "Linux"
    assert kv["machine"] == os.uname().machine
    assert kv["release"] and kv["release"] != os.uname().release, out_of(p)
    assert kv["version"] != os.uname().version, out_of(p)
    p2, _ = run_in(rt, bundle, ["/bin/uname", "-r"])
    assert p2.stdout.strip() == kv["release"], out_of(p2)


def test_proc_version_matches_uname(rt, bundle):
    p, _ = sh(rt, bundle, "uname -r; cat /proc/sys/kernel/osrelease 2>/dev/null || echo none; "
                          "cat /proc/version")
    lines = p.stdout.splitlines()
    assert lines[0] != os.uname().release, out_of(p)
    assert os.uname().release not in p.stdout, out_of(p)
    assert lines[0] in lines[-1], out_of(p)


# ------------------------------------------------------------------ masked / readonly paths

def _add_linux_paths(masked=(), readonly=()):
    def edit(cfg):
        lin = cfg.setdefault("linux", {})
        lin.setdefault("maskedPaths", []).extend(masked)
        lin.setdefault("readonlyPaths", []).extend(readonly)
    return edit


def test_masked_file_reads_empty(rt, bundle):
    b = bundle(["/bin/sh", "-c", "cat /etc/secret; echo \"[rc=$?]\"; rsphelper cat /etc/secret; "
                                 "echo; cat /etc/hostname"],
               edit=_add_linux_paths(masked=["/etc/secret"]))
    (b / "rootfs/etc/secret").write_text("MASKED-CONTENT\n")
    p = run_bundle(rt, b)
    assert "MASKED-CONTENT" not in p.stdout, out_of(p)
    assert p.stdout.splitlines() == ["[rc=0]", "", "runsc-py"], out_of(p)


def test_masked_dir_is_empty(rt, bundle):
    b = bundle(["/bin/sh", "-c", "ls -A /opt/hidden | wc -l; cat /opt/hidden/x 2>&1 >/dev/null || echo gone"],
               edit=_add_linux_paths(masked=["/opt/hidden"]))
    (b / "rootfs/opt/hidden").mkdir(parents=True)
    (b / "rootfs/opt/hidden/x").write_text("X\n")
    p = run_bundle(rt, b)
    assert p.stdout.split()[0] == "0", out_of(p)
    assert "X" not in p.stdout.splitlines(), out_of(p)


def test_readonly_path_refuses_writes(rt, bundle):
    b = bundle(["/bin/sh", "-c", "rsphelper write /etc/x 1; rsphelper write /etc/hostname 1; "
                                 "rsphelper mkdir /etc/d; rsphelper write /root/ok 1"],
               readonly=False, edit=_add_linux_paths(readonly=["/etc"]))
    p = run_bundle(rt, b)
    lines = p.stdout.splitlines()
    assert [parse_err(l)[0] if parse_err(l) else l for l in lines] == \
        ["EROFS", "EROFS", "EROFS", "ok"], out_of(p)
    assert not (b / "rootfs/etc/x").exists()
    assert (b / "rootfs/etc/hostname").read_text() == "runsc-py\n"
    assert (b / "rootfs/root/ok").read_text() == "1"


# ------------------------------------------------------------------ real programs

@pytest.fixture(scope="module")
def dyn_helper(tmp_path_factory):
    require(gcc=True)
    d = tmp_path_factory.mktemp("dyn")
    out = d / "rsphelper-dyn"
    src = Path(__file__).resolve().parent / "helper" / "rsphelper.c"
    r = subprocess.run(["gcc", "-O2", "-o", str(out), str(src), "-lpthread"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ldd = subprocess.run(["ldd", str(out)], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in ldd.splitlines():
        parts = line.split()
        if "=>" in parts:
            path = parts[parts.index("=>") + 1]
            if path.startswith("/"):
                libs.append(path)
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    assert any("ld-linux" in l for l in libs) and any("libc.so" in l for l in libs), ldd
    return out, libs


def test_dynamically_linked_program(rt, bundle, dyn_helper):
    exe, libs = dyn_helper
    b = bundle(["/bin/sh", "-c", "/bin/rsphelper-dyn uname | head -1; "
                                 "/bin/rsphelper-dyn cat /etc/hostname; /bin/rsphelper-dyn id; "
                                 "/bin/rsphelper-dyn fork-exit-wait 3"])
    r = b / "rootfs"
    shutil.copy2(exe, r / "bin/rsphelper-dyn")
    for lib in libs:
        dest = r / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.realpath(lib), dest)
        os.chmod(dest, 0o755)
    p = run_bundle(rt, b)
    assert p.returncode == 0, out_of(p)
    lines = p.stdout.splitlines()
    assert lines[0] == "sysname=Linux", out_of(p)
    assert lines[1] == "runsc-py", out_of(p)
    assert lines[2].startswith("uid=0 gid=0"), out_of(p)
    assert lines[3] == "ok", out_of(p)


def test_dynamic_program_without_its_libraries_fails_cleanly(rt, bundle, dyn_helper):
    exe, _ = dyn_helper
    b = bundle(["/bin/sh", "-c", "/bin/rsphelper-dyn true; echo rc=$?"])
    shutil.copy2(exe, b / "rootfs/bin/rsphelper-dyn")
    p = run_bundle(rt, b)
    assert p.returncode == 0, out_of(p)
    assert p.stdout.strip().splitlines()[-1] in ("rc=127", "rc=126"), out_of(p)


def test_busybox_script(rt, bundle):
    script = r"""
set -e
n=0
for i in 1 2 3 4 5; do n=$((n + i)); done
echo "sum=$n"
printf 'b\na\nc\na\n' | sort | uniq -c | sed 's/^ *//' | tr '\n' ','; echo
( cd /etc && echo "sub=$(pwd)" ); echo "back=$(pwd)"
find /etc -type f | sort
grep -c root /etc/passwd
wc -l < /etc/passwd
echo hello | grep -q hell && echo grep-ok
x=$(echo nested $(echo deep)); echo "$x"
while read -r line; do echo "L:${line%%:*}"; done < /etc/group
test -x /bin/busybox && echo exec-ok
echo "$((7 * 6))" | awk '{print $1 + 0}'
ls /bin | wc -l | awk '{ if ($1 > 100) print "many-applets" }'
"""
    p, b = sh(rt, bundle, script, cwd="/")
    assert p.returncode == 0, out_of(p)
    files = sorted("/etc/" + f for f in os.listdir(b / "rootfs/etc"))
    expected = ["sum=15", "2 a,1 b,1 c,", "sub=/etc", "back=/", *files, "1", "2",
                "grep-ok", "nested deep", "L:root", "L:nogroup", "exec-ok", "42", "many-applets"]
    assert p.stdout.splitlines() == expected, out_of(p)


def test_busybox_background_jobs_and_wait(rt, bundle):
    p, _ = sh(rt, bundle, "(sleep 0.2; echo a) & (echo b) & wait; echo done")
    assert sorted(p.stdout.split()) == ["a", "b", "done"], out_of(p)
    assert p.stdout.split()[-1] == "done", out_of(p)


def test_bind_mount_under_dev_like_the_kubelets_termination_log(rt, bundle, tmp_path):
    """The kubelet binds a file onto /dev/termination-log in every container: a mount
    inside the sentry's /dev must land, be writable, and show in `ls /dev`."""
    log = tmp_path / "termination-log"
    log.write_text("")
    b = bundle(["sh", "-c", "echo bye > /dev/termination-log; ls /dev; cat /dev/null"],
               mounts=[{"destination": "/dev/termination-log", "type": "bind",
                        "source": str(log), "options": ["rbind", "rw"]}])
    r = rt.run("run", "--bundle", str(b), "devmnt")
    assert r.returncode == 0, r.stderr
    assert log.read_text() == "bye\n"
    assert "termination-log" in r.stdout.split() and "null" in r.stdout.split()
