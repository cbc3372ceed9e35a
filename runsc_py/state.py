"""Containers' state under --root: one directory per container, holding state.json
(written atomically) and the sandbox's control socket. The legality of every
lifecycle step lives in ContainerStatus."""
from __future__ import annotations

import enum
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runsc_py.errors import RuntimeFailure

ID_PATTERN = re.compile(r"^[\w+\-.]+$")


class ContainerStatus(enum.Enum):
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"

    def can_start(self) -> bool:
        return self is ContainerStatus.CREATED

    def can_kill(self) -> bool:
        return self in (ContainerStatus.CREATED, ContainerStatus.RUNNING, ContainerStatus.PAUSED)

    def can_exec(self) -> bool:
        return self in (ContainerStatus.CREATED, ContainerStatus.RUNNING)

    def can_pause(self) -> bool:
        return self is ContainerStatus.RUNNING

    def can_resume(self) -> bool:
        return self is ContainerStatus.PAUSED

    def can_delete(self, force: bool) -> bool:
        return force or self in (ContainerStatus.STOPPED, ContainerStatus.CREATED)


@dataclass
class State:
    id: str
    bundle: str
    rootfs: str
    pid: int  # the sandbox (sentry) process: the caller's descendant, exits with the init
    pid_start: int  # its start time (field 22 of /proc/PID/stat), against pid reuse
    created: str
    init_pid: int = 0  # host pid of the container's init
    started: bool = False
    paused: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    hooks: dict[str, Any] = field(default_factory=dict)  # the spec's, as at create

    def status(self) -> ContainerStatus:
        if not process_alive(self.pid, self.pid_start):
            return ContainerStatus.STOPPED
        if self.paused:
            return ContainerStatus.PAUSED
        return ContainerStatus.RUNNING if self.started else ContainerStatus.CREATED

    def oci(self, oci_version: str) -> dict[str, Any]:
        status = self.status()
        return {
            "ociVersion": oci_version,
            "id": self.id,
            "status": status.value,
            "pid": self.pid if status is not ContainerStatus.STOPPED else 0,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        }


def exit_code(wait_status: int) -> int:
    """A process's exit as its caller reports it: its code, or 128+N if killed by N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def process_start_time(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return -1
    # the command name may hold spaces and parentheses: fields follow the last ')'
    return int(data[data.rindex(b")") + 2:].split()[19])


def process_alive(pid: int, start: int) -> bool:
    if pid <= 0:
        return False
    t = process_start_time(pid)
    if t != start:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2:data.rindex(b")") + 3] != b"Z"
    except OSError:
        return False


class StateStore:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def dir(self, cid: str) -> Path:
        check_id(cid)
        return self.root / cid

    def reserve(self, cid: str) -> Path:
        """Creates the container's directory; fails if the id is taken."""
        d = self.dir(cid)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o711)
        try:
            d.mkdir(mode=0o711)
        except FileExistsError:
            raise RuntimeFailure(f"container with id {cid} already exists") from None
        return d

    def save(self, state: State) -> None:
        d = self.dir(state.id)
        tmp = d / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(state)))
        os.replace(tmp, d / "state.json")

    def load(self, cid: str) -> State:
        path = self.dir(cid) / "state.json"
        try:
            return State(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise RuntimeFailure(f"container {cid} does not exist") from None
        except (ValueError, TypeError):
            raise RuntimeFailure(f"container {cid}: corrupt state file {path}") from None

    def remove(self, cid: str) -> None:
        shutil.rmtree(self.dir(cid), ignore_errors=True)

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "state.json").exists())


def check_id(cid: str) -> None:
    if not cid or not ID_PATTERN.match(cid) or cid in (".", ".."):
        raise RuntimeFailure(f"invalid container id: {cid!r}")
