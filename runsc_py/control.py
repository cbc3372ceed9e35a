"""The sandbox's control channel: the CLI's requests to a running sentry (start,
signals, processes), one JSON object per line over the unix socket in the state dir."""
from __future__ import annotations

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
