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
from sentry.platform import linux_native as ln

_NS_PATH = re.compile(r"^/proc/(\d+)/ns/(\w+)$")
SENTRY_TITLE = b"runsc-py-sentry"
GOFER_NAME = b"runsc-py-gofer\n"  # its comm (also pid 1 of a pid namespace: its own)


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
            with open(f"/proc/{child}/comm", "rb") as f:
                if f.read() == GOFER_NAME:
                    continue
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


def unshare_user(proc_self: int, uid_mappings: tuple[IdMapping, ...],
                 gid_mappings: tuple[IdMapping, ...], deny_setgroups: bool = False) -> None:
    """A new user namespace for the (single-threaded) caller, whose /proc/<pid> directory
    proc_self is, with these id maps: written by a child left in the caller's namespace,
    as only a process there may write them. Raises RuntimeFailure."""
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    writer = os.fork()
    if writer == 0:
        os.close(go_w)
        os.close(err_r)
        try:
            if os.read(go_r, 1):
                write_id_maps(proc_self, uid_mappings, gid_mappings, deny_setgroups)
            os._exit(0)
        except BaseException as e:  # noqa: BLE001 - reported to the parent: a child
            os.write(err_w, str(e).encode(errors="replace"))
            os._exit(1)
    os.close(go_r)
    os.close(err_w)
    try:
        ln.unshare(ln.CLONE_NEWUSER)
        os.write(go_w, b"x")
    finally:
        os.close(go_w)
        error = os.read(err_r, 4096).decode(errors="replace")
        os.close(err_r)
        os.waitpid(writer, 0)
    if error:
        raise RuntimeFailure(error)


def rootless_sandbox(spec: Spec) -> Spec:
    """Rootless: the sandbox process (sentry) makes the spec's user namespace for the
    whole sandbox, mapping the caller's own uid and gid (all an unprivileged process may
    map), and takes the ids they map to. Everything it forks then lives in it, so the
    kernel holds the gofer and the sentry to the caller's powers. Returns the spec
    without the user namespace, which the init is in already."""
    uid, gid = os.geteuid(), os.getegid()
    ns = spec.user_namespace
    if ns is None or ns.path:
        raise RuntimeFailure("rootless: config.json needs a new user namespace "
                             "(linux.namespaces) mapping the caller's ids")
    if [(m.host_id, m.size) for m in spec.uid_mappings] != [(uid, 1)] or \
            [(m.host_id, m.size) for m in spec.gid_mappings] != [(gid, 1)]:
        raise RuntimeFailure(f"rootless: linux.uidMappings and linux.gidMappings may map "
                             f"only the caller's uid {uid} and gid {gid}, one id each")
    proc_self = os.open("/proc/self", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        unshare_user(proc_self, spec.uid_mappings, spec.gid_mappings, deny_setgroups=True)
    finally:
        os.close(proc_self)
    os.setresgid(*[spec.gid_mappings[0].container_id] * 3)
    os.setresuid(*[spec.uid_mappings[0].container_id] * 3)
    return dataclasses.replace(spec, namespaces=tuple(n for n in spec.namespaces
                                                      if n.type != "user"),
                               uid_mappings=(), gid_mappings=())


def in_initial_user_ns() -> bool:
    """Whether the caller is in the host's own user namespace (its uid_map maps all)."""
    with open("/proc/self/uid_map") as f:
        return f.read().split() == ["0", "0", "4294967295"]


def same_namespace(pid: int, kind: str) -> bool:
    """Whether process pid is in the caller's own namespace of this kind (a
    /proc/PID/ns name: user, mnt, net, ...)."""
    return os.readlink(f"/proc/{pid}/ns/{kind}") == os.readlink(f"/proc/self/ns/{kind}")


def read_id_maps(pid: int) -> tuple[tuple[IdMapping, ...], tuple[IdMapping, ...]]:
    """The uid and gid maps of pid's user namespace, as the caller's namespace sees them."""
    def read(name: str) -> tuple[IdMapping, ...]:
        with open(f"/proc/{pid}/{name}") as f:
            return tuple(IdMapping(*map(int, line.split())) for line in f if line.strip())

    return read("uid_map"), read("gid_map")
