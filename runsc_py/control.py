"""The sandbox's control channel: the CLI's requests to a running sentry (start,
signals, processes), one JSON object per line over the unix socket in the state dir."""
from __future__ import annotations

import array
import json
import socket
from pathlib import Path
from typing import Any

from runsc_py.errors import RuntimeFailure

SOCKET_NAME = "sandbox.sock"


def call(state_dir: Path, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Sends one request to the sandbox and returns its reply; a sandbox that is gone
    is "container not running" (containerd's shim matches that text)."""
    path = state_dir / SOCKET_NAME
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
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


def open_exec(state_dir: Path, request: dict[str, Any], stdio: list[int]) -> tuple[socket.socket, int]:
    """Starts an exec'd process; returns the connection its exit status will come on,
    and its host pid."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(state_dir / SOCKET_NAME))
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", stdio))] if stdio else []
        s.sendmsg([json.dumps(request).encode() + b"\n"], anc)
        reply = json.loads(_read_line(s) or b'{"error": "container not running"}')
    except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        s.close()
        raise RuntimeFailure("container not running") from None
    if "error" in reply:
        s.close()
        raise RuntimeFailure(reply["error"])
    return s, int(reply["pid"])


def wait_exec(conn: socket.socket) -> int:
    """The exit code of an exec'd process (128+9 if the sandbox went away first)."""
    line = _read_line(conn)
    conn.close()
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
