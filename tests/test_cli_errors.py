"""Bad input (issue 2, point 7): one-line error, non-zero exit, no traceback, no state
left behind, no leftover processes."""
from __future__ import annotations

import json
import os

import pytest

from _lc_util import check_one_line_error, create, sandbox_pids, try_state, wait_until

HELPER = "/bin/rsphelper"


def assert_nothing_left(rt, cid: str | None = None):
    ents = [e.name for e in rt.root.iterdir() if not e.name.startswith(".")]
    if cid is not None:
        assert not (rt.root / cid).exists(), f"state dir for {cid} left: {ents}"
        assert wait_until(lambda: not sandbox_pids(cid), 5), \
            f"leftover sandbox processes for {cid}: {sandbox_pids(cid)}"
    p = rt.run("list", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout or "null") in (None, []), p.stdout
    assert not [e for e in ents if (rt.root / e).is_dir()], f"state left under root: {ents}"


def _create_fails(rt, b, cid, tmp_path, *needles):
    # capture stderr through a file (create hands its stdio to the container)
    rc, out, err = create(rt, b, cid, tmp_path)

    class P:
        returncode = rc
        stdout = out.read_text()
        stderr = err.read_text()
    line = check_one_line_error(P, *needles)
    assert_nothing_left(rt, cid)
    return line


def _bad_config(cfg_text_fn):
    def edit(b):
        (b / "config.json").write_text(cfg_text_fn((b / "config.json").read_text()))
    return edit


def test_malformed_json(rt, bundle, tmp_path):
    b = bundle([HELPER, "true"])
    (b / "config.json").write_text('{"ociVersion": "1.0.2", "process": {')
    _create_fails(rt, b, "bad-json", tmp_path, "config.json")


def test_missing_process_args(rt, bundle, tmp_path):
    b = bundle([HELPER, "true"], edit=lambda c: c["process"].pop("args"))
    _create_fails(rt, b, "no-args", tmp_path, "args")


def test_empty_process_args(rt, bundle, tmp_path):
    b = bundle([])
    _create_fails(rt, b, "empty-args", tmp_path, "args")


def test_relative_cwd(rt, bundle, tmp_path):
    b = bundle([HELPER, "true"], cwd="relative/dir")
    _create_fails(rt, b, "rel-cwd", tmp_path, "cwd")


def test_args_wrong_type(rt, bundle, tmp_path):
    b = bundle([HELPER, "true"], edit=lambda c: c["process"].__setitem__("args", "/bin/true"))
    _create_fails(rt, b, "args-str", tmp_path, "args")


def test_missing_rootfs(rt, bundle, tmp_path):
    import shutil
    b = bundle([HELPER, "true"])
    shutil.rmtree(b / "rootfs")
    _create_fails(rt, b, "no-rootfs", tmp_path, "rootfs")


def test_missing_rootfs_run(rt, bundle):
    import shutil
    b = bundle([HELPER, "true"])
    shutil.rmtree(b / "rootfs")
    p = rt.run("run", "--bundle", b, "no-rootfs-run")
    check_one_line_error(p, "rootfs")
    assert_nothing_left(rt, "no-rootfs-run")


def test_missing_config(rt, tmp_path):
    d = tmp_path / "empty-bundle"
    d.mkdir()
    p = rt.run("create", "--bundle", d, "no-config")
    check_one_line_error(p, "config.json")
    assert_nothing_left(rt, "no-config")


@pytest.mark.parametrize("cmd", [["state"], ["start"], ["kill"], ["kill", "--all"],
                                 ["delete"], ["ps"]])
def test_unknown_id(rt, cmd):
    p = rt.run(*cmd, "nosuchctr") if cmd[-1] != "--all" else rt.run("kill", "--all", "nosuchctr")
    check_one_line_error(p, "does not exist")
    assert "nosuchctr" in p.stderr
    assert_nothing_left(rt, "nosuchctr")


def test_duplicate_id(rt, bundle, tmp_path):
    b1 = bundle([HELPER, "pause-forever"])
    b2 = bundle([HELPER, "true"])
    rc, _, err = create(rt, b1, "dup", tmp_path / "first")
    assert rc == 0, err.read_text()
    st1 = rt.state("dup")
    rc2, out2, err2 = create(rt, b2, "dup", tmp_path / "second")

    class P:
        returncode = rc2
        stdout = out2.read_text()
        stderr = err2.read_text()
    check_one_line_error(P, "dup")
    st = rt.state("dup")
    assert st["status"] == "created" and st["pid"] == st1["pid"], st
    assert os.path.realpath(st["bundle"]) == os.path.realpath(b1)
    # first one still works
    rt.run("start", "dup", check=True)
    assert rt.state("dup")["status"] == "running"
    rt.run("delete", "--force", "dup", check=True)
    assert_nothing_left(rt, "dup")


@pytest.mark.parametrize("bad", ["../evil", "a/b", "has space", "semi;colon", ".", "..", ""])
def test_invalid_id(rt, bundle, tmp_path, bad):
    b = bundle([HELPER, "true"])
    p = rt.run("create", "--bundle", b, bad)
    check_one_line_error(p)
    assert_nothing_left(rt)
    assert not (rt.root.parent / "evil").exists()


def test_bad_signal(rt, bundle, tmp_path):
    b = bundle([HELPER, "pause-forever"])
    rc, _, err = create(rt, b, "badsig", tmp_path)
    assert rc == 0, err.read_text()
    rt.run("start", "badsig", check=True)
    for sig in ("SIGFOO", "NOPE", "99999", "-3"):
        p = rt.run("kill", "badsig", sig)
        check_one_line_error(p)
        assert rt.state("badsig")["status"] == "running", sig


def test_unknown_command(rt):
    p = rt.run("frobnicate")
    check_one_line_error(p)
    assert_nothing_left(rt)


def test_unknown_flag(rt):
    p = rt.run("state", "--no-such-flag", "x")
    check_one_line_error(p)
    p = rt.run("--no-such-global", "list")
    check_one_line_error(p)
    assert_nothing_left(rt)


def test_missing_id_argument(rt):
    p = rt.run("state")
    check_one_line_error(p)
