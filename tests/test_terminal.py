"""process.terminal: a pty inside the sandbox, its master copied by `run` or sent over
--console-socket as runc does (containerd's shim and podman's conmon receive it so)."""
from __future__ import annotations

import os
import time

from helpers import ConsoleSocket, read_until


def test_run_with_terminal_copies_the_pty(rt, bundle):
    b = bundle(["sh", "-c", "tty; echo out-$((6*7)); exit 4"], terminal=True)
    r = rt.run("run", "--bundle", str(b), "tty1", input="")
    assert r.returncode == 4, r.stderr
    lines = r.stdout.replace("\r", "").split("\n")
    assert lines[0] == "/dev/pts/0"  # a pty of the sandbox's own devpts, with its name
    assert "out-42" in lines


def test_create_sends_the_pty_master_over_the_console_socket(rt, bundle, tmp_path):
    b = bundle(["sh", "-c", "read line; echo got:$line; exit 3"], terminal=True)
    console = ConsoleSocket(tmp_path / "console.sock")
    r = rt.run("create", "--bundle", str(b), "--console-socket", console.path, "tty2")
    assert r.returncode == 0, r.stderr
    master = console.receive_master()
    try:
        assert rt.run("start", "tty2").returncode == 0
        os.write(master, b"hello\n")
        assert b"got:hello" in read_until(master, b"got:hello")
        deadline = time.monotonic() + 20
        while rt.state("tty2")["status"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rt.state("tty2")["status"] == "stopped"
    finally:
        os.close(master)
        rt.run("delete", "--force", "tty2")


def test_terminal_without_console_socket_is_refused_for_create(rt, bundle, runtime_root):
    b = bundle(["true"], terminal=True)
    r = rt.run("create", "--bundle", str(b), "tty3")
    assert r.returncode != 0
    assert "console socket" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(runtime_root, "tty3"))
