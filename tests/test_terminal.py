"""process.terminal: a pty inside the sandbox, its master copied by `run` or sent over
--console-socket as runc does (containerd's shim and podman's conmon receive it so)."""
from __future__ import annotations

import array
import os
import socket
import time


def test_run_with_terminal_copies_the_pty(rt, bundle):
    b = bundle(["sh", "-c", "tty; echo out-$((6*7)); exit 4"], terminal=True)
    r = rt.run("run", "--bundle", str(b), "tty1", input="")
    assert r.returncode == 4, r.stderr
    lines = r.stdout.replace("\r", "").split("\n")
    assert lines[0] == "/dev/pts/0"  # a pty of the sandbox's own devpts, with its name
    assert "out-42" in lines


def test_create_sends_the_pty_master_over_the_console_socket(rt, bundle, tmp_path):
    b = bundle(["sh", "-c", "read line; echo got:$line; exit 3"], terminal=True)
    sock_path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    server.settimeout(30)
    r = rt.run("create", "--bundle", str(b), "--console-socket", sock_path, "tty2")
    assert r.returncode == 0, r.stderr
    conn, _ = server.accept()
    fds = array.array("i")
    _msg, anc, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:4])
    conn.close()
    server.close()
    assert len(fds) == 1
    master = fds[0]
    try:
        assert rt.run("start", "tty2").returncode == 0
        os.write(master, b"hello\n")
        out = b""
        deadline = time.monotonic() + 20
        while b"got:hello" not in out and time.monotonic() < deadline:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
        assert b"got:hello" in out
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
