"""The container's init process, from fork to execve.

Forked by the sentry inside the sandbox's new pid namespace. It builds the container
tree, takes the spec's namespaces, hostname, cwd and rlimits, installs the seccomp
filter (its listener goes to the sentry), waits for `start`, drops to the spec's user
and capabilities, and execs the workload, whose execve the sentry already serves.
Errors before the filter go back to the sentry as one line, and end the process.
"""
from __future__ import annotations

import errno
import fcntl
import os
import resource
import signal
import socket
import struct
import traceback
from typing import NoReturn

from gofer.protocol import send_message
from sentry.platform import FILTER_MESSAGE
from sentry.platform import linux_native as ln
from runsc_py import hooks, namespaces, rootfs, terminal
from runsc_py.errors import RuntimeFailure
from runsc_py.spec import Process, Spec
from sentry.platform.seccomp_native import install_filter  # before pivot_root hides it

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
NS_FLAGS = {
    "mount": ln.CLONE_NEWNS, "uts": ln.CLONE_NEWUTS, "ipc": ln.CLONE_NEWIPC,
    "network": ln.CLONE_NEWNET, "cgroup": ln.CLONE_NEWCGROUP,
}


def find_executable(name: str, env: tuple[str, ...], cwd: str) -> str:
    """args[0] as execve needs it: PATH searched as the container's shell would."""
    if "/" in name:
        path = name if name.startswith("/") else os.path.join(cwd, name)
        if not os.path.exists(path):
            raise RuntimeFailure(f'exec: "{name}": no such file or directory')
        return name
    search = next((e[5:] for e in env if e.startswith("PATH=")),
                  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    for d in search.split(":"):
        candidate = os.path.join(d or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeFailure(f'exec: "{name}": executable file not found in $PATH')


def join_namespaces(spec: Spec) -> int:
    """The spec's namespaces but user, and a mount namespace of its own. Returns the
    flags of the new namespaces still to make: with a user namespace, those are made
    once inside it, so that it owns them (its root may then bind port 80 in its network
    namespace, as under runc)."""
    new = 0
    for ns in spec.namespaces:
        if ns.type in ("pid", "user"):
            continue  # pid: the sentry enters it before forking the init
        if ns.path:
            fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                ln.setns(fd, NS_FLAGS[ns.type])
            finally:
                os.close(fd)
        else:
            new |= NS_FLAGS[ns.type]
    later = new & ~ln.CLONE_NEWNS if spec.user_namespace is not None else 0
    # the container tree needs a mount namespace of its own, whatever the spec says
    unshare_new(new & ~later | ln.CLONE_NEWNS)
    return later


def unshare_new(flags: int) -> None:
    ln.unshare(flags)
    if flags & ln.CLONE_NEWNET:
        loopback_up()


def enter_user_namespace(spec: Spec, proc_self: int, joined: int) -> None:
    """The spec's user namespace: joined (`joined`, an fd of the namespace named by its
    path, opened while the host's /proc was there), or made with the spec's id maps
    (written through proc_self, the init's /proc/<pid> directory). The init then
    acts as the namespace's root: host root's ids are no ids inside it. The mounts are
    made by then (as runc opens mount sources as host root): their sources need not be
    reachable from inside."""
    if joined >= 0:
        ln.setns(joined, ln.CLONE_NEWUSER)
    else:
        namespaces.unshare_user(proc_self, spec.uid_mappings, spec.gid_mappings)
    become_userns_root()


def become_userns_root() -> None:
    """The ids of the current user namespace's root, where it has one (capabilities
    stay: the kernel keeps them for a change to its root)."""
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as e:
        if e.errno != errno.EINVAL:  # EINVAL: 0 is not mapped, the spec's ids follow
            raise


def loopback_up() -> None:
    """A new network namespace starts with `lo` down; runc brings it up, so do we."""
    ifreq = struct.pack("16sH14x", b"lo", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack_from("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def join_container(init_pid: int) -> None:
    """An exec'd process takes the init's namespaces (the pid namespace it has from
    the sentry, its parent). setns(CLONE_NEWNS) also makes the container root its root;
    the user namespace comes last, when joining the others needs host privileges no
    more (the mount namespace is the host's user namespace's: enter_user_namespace).
    Those it shares already are left alone: joining one's own namespace still needs
    privilege over its owner (rootless, a host cgroup namespace is not the caller's)."""
    kinds = [(name, flag) for name, flag in (
        ("ipc", ln.CLONE_NEWIPC), ("uts", ln.CLONE_NEWUTS), ("net", ln.CLONE_NEWNET),
        ("cgroup", ln.CLONE_NEWCGROUP), ("mnt", ln.CLONE_NEWNS), ("user", ln.CLONE_NEWUSER))
        if not namespaces.same_namespace(init_pid, name)]
    fds = []
    try:
        for name, flag in kinds:  # all opened first: /proc paths need the host's mounts
            fds.append((os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag))
        for fd, flag in fds:
            ln.setns(fd, flag)
    finally:
        for fd, _flag in fds:
            os.close(fd)
    if any(flag == ln.CLONE_NEWUSER for _name, flag in kinds):
        become_userns_root()


def set_rlimits(process: Process) -> None:
    for kind, soft, hard in process.rlimits:
        try:
            resource.setrlimit(kind, (soft, hard))
        except (OSError, ValueError) as e:
            raise RuntimeFailure(f"setrlimit {kind}: {e}") from None


def drop_privileges(process: Process, last_cap: int) -> None:
    """The spec's groups, ids and capabilities (bounding, then ids keeping caps, then
    the exact sets, then ambient)."""
    caps = process.capabilities
    for cap in range(last_cap + 1):
        if not caps.bounding >> cap & 1:
            ln.prctl(ln.PR_CAPBSET_DROP, cap)
    _setgroups(list(process.additional_gids))
    ln.prctl(ln.PR_SET_KEEPCAPS, 1)
    os.setresgid(process.gid, process.gid, process.gid)
    os.setresuid(process.uid, process.uid, process.uid)
    ln.capset(caps.effective, caps.permitted, caps.inheritable)
    for cap in range(last_cap + 1):
        if caps.ambient >> cap & 1:
            try:  # needs the cap inheritable too; like runc, skip the ones that aren't
                ln.prctl(ln.PR_CAP_AMBIENT, ln.PR_CAP_AMBIENT_RAISE, cap)
            except PermissionError:
                pass
    if process.no_new_privileges:
        ln.prctl(ln.PR_SET_NO_NEW_PRIVS, 1)


def _create_hooks(spec: Spec, sync: socket.socket, hook_state: dict,
                  rootfs_dir: str) -> bytes | None:
    """With the container's namespaces and mounts made (before pivot_root, but with a
    user namespace: after it), the caller runs prestart and createRuntime hooks (HOOKS,
    answered GO), then the init runs the createContainer ones here, from rootfs_dir.
    Returns a FILTER message that came meanwhile."""
    early_filter = None
    if spec.hooks.prestart or spec.hooks.createRuntime:
        sync.send(b"HOOKS")
        while True:
            message = sync.recv(1 << 20)
            if message.startswith(FILTER_MESSAGE):
                early_filter = message
                continue
            if message != b"GO":
                os._exit(1)  # the caller gave up (a hook failed): it stops the sandbox
            break
    if spec.hooks.createContainer:
        hooks.run("createContainer", spec.hooks.createContainer,
                  {**hook_state, "status": "creating", "pid": os.getpid()},
                  default_env=dict(hooks.env_pairs(spec.process.env)), cwd=rootfs_dir)
    return early_filter


def _start_hooks(spec: Spec, process: Process, sync: socket.socket, hook_state: dict) -> None:
    """startContainer hooks: after `start`, as the process's user, under the filter
    (their paths are the container's; the sentry serves them as it serves the
    workload). A failure goes to the sentry (which fails `start`) and ends the init."""
    try:
        hooks.run("startContainer", spec.hooks.startContainer,
                  {**hook_state, "status": "created", "pid": os.getpid()},
                  default_env=dict(hooks.env_pairs(process.env)))
    except RuntimeFailure as e:
        _fail(sync, str(e))


def run(spec: Spec, process: Process, sync: socket.socket, skeleton: str,
        sentry_pid: int, filter_program: bytes | None, new_listener: bool,
        new_container: bool, tty_slave: int | None = None, join_pid: int = 0,
        hook_state: dict | None = None) -> NoReturn:
    """The init (or an exec'd process, with new_container False: it joins the
    container's namespaces instead of building them). Never returns. Without
    filter_program, the sentry sends it on `sync` (FILTER + the program) while the
    init builds the container tree. hook_state: the OCI state (id, bundle...) the
    init's hooks are given, with their status and pid."""
    early_filter = None
    try:
        ln.prctl(ln.PR_SET_PDEATHSIG, signal.SIGKILL)
        # (as the pid namespace's init, getppid() is 0: a sentry that died before
        # the line above shows up as a closed sync socket instead)
        if os.getppid() not in (0, sentry_pid):
            os._exit(1)
        os.setsid()
        if tty_slave is not None:
            terminal.make_controlling(tty_slave)
        if not new_container:
            join_container(join_pid)
        else:
            later = join_namespaces(spec)
            # (pivot_root hides the host's /proc: what the user namespace needs of it
            # is opened first)
            user_ns = spec.user_namespace
            proc_self = os.open("/proc/self", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            joined = os.open(user_ns.path, os.O_RDONLY | os.O_CLOEXEC) \
                if user_ns is not None and user_ns.path else -1
            rootfs.build(spec, skeleton)
            if user_ns is None and hook_state is not None:
                early_filter = _create_hooks(spec, sync, hook_state, str(spec.root_path))
            rootfs.pivot(spec)
            if user_ns is not None:
                enter_user_namespace(spec, proc_self, joined)
                unshare_new(later)
                # the namespaces the user namespace owns exist only now, after the
                # pivot_root that its root could not have made: the hooks' turn
                if hook_state is not None:
                    early_filter = _create_hooks(spec, sync, hook_state, "/")
            for fd in (proc_self, joined):
                if fd >= 0:
                    os.close(fd)
            if spec.hostname and any(ns.type == "uts" for ns in spec.namespaces):
                ln.sethostname(spec.hostname)
        os.makedirs(process.cwd, exist_ok=True)
        os.chdir(process.cwd)
        set_rlimits(process)
        path = find_executable(process.args[0], process.env, process.cwd)
        last_cap = ln.last_cap()
        nodename = os.uname().nodename  # the UTS namespace's, reported to the sentry
        os.closerange(3, sync.fileno())
        os.closerange(sync.fileno() + 1, 1 << 16)
        # The filter goes on last but for what must follow it: handing its listener
        # over, waiting for start, and dropping privileges (all native calls), so
        # that a workload without CAP_SYS_ADMIN or no_new_privs still gets it.
        if filter_program is None:
            message = early_filter or sync.recv(1 << 20)
            if not message.startswith(FILTER_MESSAGE):
                os._exit(1)  # the sentry is gone (it kills us too) or failed
            filter_program = message[len(FILTER_MESSAGE):]
        listener = install_filter(filter_program, new_listener)
    except RuntimeFailure as e:
        _fail(sync, str(e))
    except OSError as e:
        _fail(sync, f"container init: {e.strerror or e}"
                    + (f": {e.filename}" if getattr(e, "filename", None) else ""))
    except Exception:  # noqa: BLE001 - reported, not raised: this is a forked child
        _fail(sync, "container init: " + traceback.format_exc().strip().splitlines()[-1])

    # with its listener (seccomp platform), or to be traced before START (ptrace)
    send_message(sync, b"READY " + os.fsencode(nodename), listener if new_listener else -1)
    if new_listener:
        os.close(listener)
    if sync.recv(16) != b"START":
        os._exit(1)
    # `sync` stays open until execve closes it (O_CLOEXEC): the sentry answers `start`
    # then, so that poststart hooks run once the program runs (an exec'd process's
    # came over SCM_RIGHTS, without the flag)
    os.set_inheritable(sync.fileno(), False)
    os.umask(process.umask if process.umask is not None else 0o022)
    try:
        drop_privileges(process, last_cap)
        if new_container and spec.hooks.startContainer and hook_state is not None:
            _start_hooks(spec, process, sync, hook_state)
        hooks.reset_signals()
        os.execve(path, list(process.args), dict(hooks.env_pairs(process.env)))
    except OSError as e:
        os.write(2, f"runsc-py: exec {process.args[0]}: {e.strerror}\n".encode())
        os._exit(127 if e.errno == 2 else 126)
    os._exit(127)


def _setgroups(gids: list[int]) -> None:
    """setgroups(2), which a user namespace whose gid_map an unprivileged process wrote
    (rootless: setgroups "deny") refuses to a root holding CAP_SETGID: there the groups
    stay as they are unless some were asked for, as runc does."""
    try:
        os.setgroups(gids)
    except PermissionError:
        if gids:
            raise


def _fail(sync: socket.socket, message: str) -> NoReturn:
    try:
        sync.send(b"ERROR " + message.encode(errors="replace"))
    finally:
        os._exit(1)
