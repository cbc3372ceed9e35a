"""Namespace paths in a spec that name another runsc-py sandbox, and user namespaces'
id maps.

A caller that shares a container's namespaces (the CRI joining a pod's pause container,
`podman --pod`) names them as /proc/<pid>/ns/<kind> with the pid that `create` gave it,
which is that sandbox's sentry: a host process in the host's namespaces. The namespaces
meant are those of the sandbox's init, the sentry's child that is pid 1 of its own pid
namespace."""
from __future__ import annotations

import dataclasses
import os
import re

from runsc_py.errors import RuntimeFailure
from runsc_py.spec import IdMapping, Namespace, Spec

_NS_PATH = re.compile(r"^/proc/(\d+)/ns/(\w+)$")
SENTRY_TITLE = b"runsc-py-sentry"


def sandbox_init(sentry_pid: int) -> int | None:
    """The init of the sandbox whose sentry is sentry_pid, or None if it is no sentry."""
    try:
        with open(f"/proc/{sentry_pid}/cmdline", "rb") as f:
            if not f.read().startswith(SENTRY_TITLE):
                return None
        with open(f"/proc/{sentry_pid}/task/{sentry_pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return None
    for child in children:
        try:
            with open(f"/proc/{child}/status") as f:
                nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
        except OSError:
            continue
        if len(nspid) >= 2 and nspid[-1] == "1":
            return child
    return None


def resolve(spec: Spec) -> Spec:
    """The spec with namespace paths into a runsc-py sandbox pointed at its init."""
    changed = []
    for ns in spec.namespaces:
        m = _NS_PATH.match(ns.path)
        init = sandbox_init(int(m.group(1))) if m else None
        if m and init is not None:
            ns = Namespace(ns.type, f"/proc/{init}/ns/{m.group(2)}")
        changed.append(ns)
    return dataclasses.replace(spec, namespaces=tuple(changed))


def id_map_text(mappings: tuple[IdMapping, ...]) -> bytes:
    """mappings as a uid_map or gid_map is written: one "inside outside count" line each."""
    return b"".join(b"%d %d %d\n" % (m.container_id, m.host_id, m.size) for m in mappings)


def write_id_maps(proc_dir: int, uid_mappings: tuple[IdMapping, ...],
                  gid_mappings: tuple[IdMapping, ...], deny_setgroups: bool = False) -> None:
    """The id maps of the user namespace of the process whose /proc/<pid> directory
    proc_dir is; written from its parent user namespace. An unprivileged writer (rootless)
    may map only its own ids, and a gid_map only once setgroups is denied."""
    def write(name: str, data: bytes) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=proc_dir)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    try:
        write("uid_map", id_map_text(uid_mappings))
        if deny_setgroups:
            write("setgroups", b"deny")
        write("gid_map", id_map_text(gid_mappings))
    except OSError as e:
        raise RuntimeFailure(f"user namespace: writing its id maps: {e.strerror}") from None


def same_user_ns(pid: int) -> bool:
    """Whether process pid is in the caller's own user namespace."""
    return os.readlink(f"/proc/{pid}/ns/user") == os.readlink("/proc/self/ns/user")


def read_id_maps(pid: int) -> tuple[tuple[IdMapping, ...], tuple[IdMapping, ...]]:
    """The uid and gid maps of pid's user namespace, as the caller's namespace sees them."""
    def read(name: str) -> tuple[IdMapping, ...]:
        with open(f"/proc/{pid}/{name}") as f:
            return tuple(IdMapping(*map(int, line.split())) for line in f if line.strip())

    return read("uid_map"), read("gid_map")
