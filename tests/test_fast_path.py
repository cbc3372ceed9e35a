"""stat and open as the sentry's C handlers answer them (sentry/_native/fastpath.c): the
permission checks are the caller's whichever way C answers (itself, from the container
root, or through the gofer), the sentry is itself again for what Python serves next,
and what C leaves to Python (symlinks out of the tree, "..", FIFOs, a deleted cwd)
still reads as Linux does. Run on both platforms (the ptrace platform serves all of it
in Python): the answers must be the same."""
from __future__ import annotations

import os
import uuid

from helpers import parse_kv

# Not CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH or CAP_FOWNER: a root whose file access is
# checked against the mode bits, as runc's default spec makes it (plus the set-id caps,
# to become other users)
ROOT_WITHOUT_DAC = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"]


def _run(rt, bundle, script, prepare=None, **ov):
    b = bundle(["/bin/sh", "-c", script + "; exit 0"], readonly=False, **ov)
    if prepare is not None:
        prepare(b / "rootfs")
    p = rt.run("run", "--bundle", b, "c-" + uuid.uuid4().hex[:10], timeout=90)
    assert p.returncode == 0, f"rc={p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout.splitlines()


def _private_files(root):
    """/secret (mode 0000) and /private/f (in a 0700 dir), both owned by uid 1000."""
    (root / "secret").write_text("top secret\n")
    os.chown(root / "secret", 1000, 1000)
    os.chmod(root / "secret", 0)
    (root / "private").mkdir()
    (root / "private/f").write_text("private\n")
    for path, mode in ((root / "private/f", 0o600), (root / "private", 0o700)):
        os.chown(path, 1000, 1000)
        os.chmod(path, mode)


def test_a_root_without_dac_capabilities_meets_the_mode_bits(rt, bundle):
    lines = _run(rt, bundle, "; ".join([
        "rsphelper cat /secret",
        "rsphelper stat /private/f",
        "rsphelper stat /private",
        "rsphelper as-user 1000 1000 /bin/rsphelper cat /private/f",
        "rsphelper as-user 1000 1000 /bin/rsphelper fds",
        "rsphelper as-user 2000 2000 /bin/rsphelper cat /private/f",
        "rsphelper cat /secret",
    ]), prepare=_private_files, capabilities=ROOT_WITHOUT_DAC)
    assert lines[0] == "ERR EACCES 13", lines  # no "other" bits, and root is not the owner
    assert lines[1] == "ERR EACCES 13", lines  # no search permission on /private
    assert parse_kv(lines[2])["type"] == "dir", lines
    assert lines[3] == "private", lines  # its owner
    # a Python-served call right after C answered for a root without DAC capabilities:
    # the sentry reads the uid-1000 task's /proc/PID/fd (mode 0500) as itself again
    fds = [line for line in lines[4:] if not line.startswith("ERR")][:3]
    assert len(fds) == 3 and all(line.split()[0] in ("0", "1", "2") for line in fds), lines
    assert lines[-2] == "ERR EACCES 13", lines  # another uid
    assert lines[-1] == "ERR EACCES 13", lines


def test_a_root_with_dac_override_reads_everything(rt, bundle):
    lines = _run(rt, bundle, "rsphelper cat /secret; rsphelper stat /private/f; "
                 "rsphelper cat /private/f",
                 prepare=_private_files,
                 capabilities=["CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL"])
    assert lines[0] == "top secret", lines
    assert parse_kv(lines[1])["uid"] == "1000", lines
    assert lines[2] == "private", lines


def test_paths_that_leave_the_tree_or_climb_still_resolve(rt, bundle):
    def prepare(root):
        (root / "data").mkdir()
        (root / "data/f").write_text("in data\n")
        os.symlink("/proc/self/status", root / "status-link")
        os.symlink("../data", root / "bin/data-link")

    lines = _run(rt, bundle, "; ".join([
        "rsphelper cat /status-link | grep -c '^Name:'",  # a symlink into /proc
        "cd /bin && rsphelper cat ../data/f",  # relative, with ".."
        "cd /data && rsphelper cat f",  # relative to the cwd
        "rsphelper cat /bin/data-link/f",  # a relative symlink inside the tree
        "rsphelper stat /bin/../proc/self/status | grep -c type=reg",
        "rsphelper stat /nope",
        "rsphelper stat /data/f/x",
        "mkdir /gone && cd /gone && rmdir /gone && rsphelper stat f",
        # /proc's skeleton directories, filled by a chdir and a listing, are the
        # sentry's: the link still reaches the synthetic file, not the skeleton's
        "cd /proc/self && ls /proc >/dev/null && cd / && rsphelper cat /status-link "
        "| grep -c '^Name:'",
    ]), prepare=prepare)
    assert lines == ["1", "in data", "in data", "in data", "1", "ERR ENOENT 2",
                     "ERR ENOTDIR 20", "ERR ENOENT 2", "1"], lines


def test_a_blocking_fifo_open_waits_for_its_peer(rt, bundle):
    lines = _run(rt, bundle, "mkfifo /tmp/ff && (rsphelper write /tmp/ff hello >/dev/null &) && "
                 "rsphelper cat /tmp/ff")
    assert lines == ["hello"], lines


def test_creating_truncating_and_removing_meet_the_callers_checks(rt, bundle):
    def prepare(root):
        _private_files(root)
        (root / "sticky").mkdir()
        os.chown(root / "sticky", 2000, 2000)
        os.chmod(root / "sticky", 0o1777)
        (root / "shared").mkdir()
        os.chown(root / "shared", 0, 1000)
        os.chmod(root / "shared", 0o2775)  # set-gid: new files take its group
        (root / "suid").write_text("#!/bin/sh\n")
        os.chmod(root / "suid", 0o4777)

    root = None

    def keep(r):
        nonlocal root
        root = r
        prepare(r)

    lines = _run(rt, bundle, "; ".join([
        "umask 027 && rsphelper write /shared/made x",
        "rsphelper as-user 1000 1000 /bin/rsphelper write /sticky/theirs x",
        "rsphelper unlink /sticky/theirs",  # root without CAP_FOWNER: not its file or dir
        "rsphelper as-user 1000 1000 /bin/rsphelper write /etc/nope x",
        "rsphelper write /suid y",  # truncated without CAP_FSETID: the set-uid bit goes
        "rsphelper unlink /private/f",  # no write permission on /private
        "rsphelper unlink /nope",
        "rsphelper unlink /shared",
        "rsphelper write /shared/gone x && rsphelper unlink /shared/gone",
    ]), prepare=keep, capabilities=ROOT_WITHOUT_DAC)
    assert lines == ["ok", "ok", "ERR EPERM 1", "ERR EACCES 13", "ok", "ERR EACCES 13",
                     "ERR ENOENT 2", "ERR EISDIR 21", "ok", "ok"], lines
    made = os.stat(root / "shared/made")
    assert (made.st_uid, made.st_gid, made.st_mode & 0o7777) == (0, 1000, 0o640)
    assert os.stat(root / "sticky/theirs").st_uid == 1000
    assert os.stat(root / "suid").st_mode & 0o7777 == 0o777
    assert not (root / "shared/gone").exists() and (root / "private/f").exists()
