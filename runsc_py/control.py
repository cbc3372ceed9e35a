"""The sandbox's control channel: the CLI's requests to a running sentry (start,
signals, processes), one JSON object per line over the unix socket in the state dir."""
from __future__ import annotations

import array
import json
import os
import socket
from pathlib import Path
from typing import Any

from runsc_py.errors import RuntimeFailure

SOCKET_NAME = "sandbox.sock"


class _Address:
    """The control socket's address, short whatever the state dir's length: a unix
    socket path is limited to 107 bytes, and docker's state dirs with 64-hex ids pass
    that. Bind and connect go through /proc/self/fd/<dirfd>/sandbox.sock instead."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.fd = -1

    def __enter__(self) -> str:
        try:
            self.fd = os.open(self.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise RuntimeFailure("container not running") from None
        return f"/proc/self/fd/{self.fd}/{SOCKET_NAME}"

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def listen(state_dir: Path) -> socket.socket:
    """The sandbox's end: bound and listening."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with _Address(state_dir) as address:
        s.bind(address)
    s.listen(16)
    return s


def _connect(s: socket.socket, state_dir: Path) -> None:
    with _Address(state_dir) as address:
        s.connect(address)


def call(state_dir: Path, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Sends one request to the sandbox and returns its reply; a sandbox that is gone
    is "container not running" (containerd's shim matches that text)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            _connect(s, state_dir)
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        raise RuntimeFailure("container not running") from None
    except socket.timeout:
        raise RuntimeFailure("timed out waiting for the sandbox") from None
    if not data:
        raise RuntimeFailure("container not running")
    reply = json.loads(data)
    if "error" in reply:
        raise RuntimeFailure(reply["error"])
    return reply


def receive(conn: socket.socket) -> tuple[bytes, list[int]]:
    """One request line and the fds that came with it (SCM_RIGHTS)."""
    data, fds = b"", array.array("i")
    while not data.endswith(b"\n"):
        chunk, anc, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(16 * 4),
                                                socket.MSG_CMSG_CLOEXEC)
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
        if not chunk:
            break
        data += chunk
    return data, list(fds)


def send(conn: socket.socket, reply: dict[str, Any], fd: int | None = None) -> None:
    """One reply line, with an fd (SCM_RIGHTS) if given."""
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))] if fd is not None else []
    conn.sendmsg([json.dumps(reply).encode() + b"\n"], anc)


class ExecConn:
    """The connection an exec'd process's exit status comes on, with what of it came
    in the same read as the start reply (a process that exits at once: both lines)."""

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        self.sock = sock
        self.pending = pending


def open_exec(state_dir: Path, request: dict[str, Any],
              stdio: list[int]) -> tuple[ExecConn, int, int | None]:
    """Starts an exec'd process; returns the connection its exit status will come on,
    its host pid, and the master of its pty if it has a terminal."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _connect(s, state_dir)
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", stdio))] if stdio else []
        s.sendmsg([json.dumps(request).encode() + b"\n"], anc)
        data, fds = receive(s)
        line, _, pending = data.partition(b"\n")
        reply = json.loads(line or b'{"error": "container not running"}')
    except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        s.close()
        raise RuntimeFailure("container not running") from None
    if "error" in reply:
        s.close()
        for fd in fds:
            os.close(fd)
        raise RuntimeFailure(reply["error"])
    return ExecConn(s, pending), int(reply["pid"]), fds[0] if fds else None


def wait_exec(conn: ExecConn) -> int:
    """The exit code of an exec'd process (128+9 if the sandbox went away first)."""
    line = conn.pending if conn.pending.endswith(b"\n") else \
        conn.pending + _read_line(conn.sock)
    conn.sock.close()
    return int(json.loads(line)["exit"]) if line else 137


def _read_line(s: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = s.recv(4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    return data
