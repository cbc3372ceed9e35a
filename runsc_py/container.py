"""The lifecycle operations behind the CLI's commands. Each checks legality with
ContainerStatus first and changes nothing when the step is not allowed."""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Callable

from runsc_py import OCI_VERSION, cgroups, control, hooks, terminal
from runsc_py import spec as oci
from runsc_py.errors import RuntimeFailure
from runsc_py.state import ContainerStatus, State, StateStore, exit_code, process_start_time


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _utc_now() -> str:
    """datetime.now(timezone.utc).isoformat(), without importing datetime (~1 ms)."""
    now = time.time_ns()
    seconds, ns = divmod(now, 1_000_000_000)
    micro = f".{ns // 1000:06d}" if ns // 1000 else ""  # (isoformat omits a zero)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + micro + "+00:00"


def create(store: StateStore, bundle: str, cid: str, pid_file: str | None,
           log_path: str | None, log_format: str, debug: bool,
           console_socket: str | None = None, foreground: bool = False,
           platform: str = "seccomp", pin_sentry: bool = True,
           rootless: bool = False) -> tuple[State, int | None]:
    """Creates the sandbox; returns its state and, for a terminal in a foreground run
    without a console socket, the pty master to copy."""
    from runsc_py import boot  # noqa: PLC0415 - only create needs the sentry
    from gofer.protocol import recv_message

    store.dir(cid)  # a bad id fails before anything else
    spec = oci.load(bundle)
    if spec.process.terminal and not console_socket and not foreground:
        raise RuntimeFailure("cannot allocate tty if runsc-py will detach without setting "
                             "console socket")
    if console_socket and not spec.process.terminal:
        raise RuntimeFailure("cannot use console socket if runsc-py will not allocate tty")
    state_dir = store.reserve(cid)
    pid = 0
    try:
        config = boot.sandbox_config(spec, cid, log_path, log_format, debug, platform,
                                     pin_sentry, rootless)
        ready, ready_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # the sandbox process
            try:
                ready.close()
                boot.boot(spec, cid, state_dir, ready_child, config, console_socket)
            finally:
                os._exit(1)
        ready_child.close()
        with ready:
            data, fds = recv_message(ready)
            if data.startswith(b"HOOKS "):  # the init waits before pivot_root
                _runtime_hooks(spec, cid, int(data.split()[1]))
                ready.send(b"GO")
                data, fds = recv_message(ready)
        reply = data.decode(errors="replace")
        master = fds[0] if fds else None
        if not reply.startswith("OK "):
            os.waitpid(pid, 0)
            pid = 0
            raise RuntimeFailure(reply.removeprefix("ERROR ").strip()
                                 or "sandbox exited during setup")
        state = State(
            id=cid, bundle=str(spec.bundle), rootfs=str(spec.root_path), pid=pid,
            pid_start=process_start_time(pid),
            created=_utc_now(),
            init_pid=int(reply.split()[1]), annotations=spec.annotations,
            owner="root" if os.geteuid() == 0 else str(os.geteuid()),
            hooks=spec.raw.get("hooks") or {},
        )
        store.save(state)
        if pid_file:
            _write_atomic(pid_file, str(pid))
        return state, master
    except BaseException:
        if pid:  # (a hook failed: the sandbox waits for a GO that does not come)
            _kill_and_reap(pid)
        cgroups.cleanup(cid, scope=store.root)  # what a sentry that died in setup left
        store.remove(cid)
        # the lifecycle goes on at "destroy", then poststop (runtime.md), as runc's does
        hooks.run_warning_only("poststop", spec.hooks.poststop,
                               hooks.state(cid, str(spec.bundle), spec.annotations,
                                           "stopped", 0))
        raise


def _runtime_hooks(spec: oci.Spec, cid: str, init_pid: int) -> None:
    """prestart, then createRuntime: in the runtime's namespaces, from the bundle (as
    runc runs them), given the init's host pid, whose /proc/PID/ns/* are the
    container's namespaces (docker's libnetwork-setkey moves the veth into its netns)."""
    state = hooks.state(cid, str(spec.bundle), spec.annotations, "creating", init_pid)
    for kind in ("prestart", "createRuntime"):
        hooks.run(kind, spec.hooks.of(kind), state, cwd=str(spec.bundle))


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def load_checked(store: StateStore, cid: str) -> tuple[State, ContainerStatus]:
    state = store.load(cid)
    return state, state.status()


def start(store: StateStore, cid: str) -> None:
    state, status = load_checked(store, cid)
    if not status.can_start():
        if status is ContainerStatus.STOPPED:
            raise RuntimeFailure("cannot start a container that has stopped")
        raise RuntimeFailure(f"cannot start an already {status.value} container")
    spec_hooks = oci.load_hooks(state.hooks)
    # answered once the init has executed the program (or a startContainer hook
    # failed), however long its hooks take
    control.call(store.dir(cid), {"op": "start"},
                 timeout=None if spec_hooks.startContainer else 30.0)
    state.started = True
    store.save(state)
    hooks.run_warning_only("poststart", spec_hooks.poststart,
                           _hook_state(state, "running"), cwd=state.bundle)


def _hook_state(state: State, status: str) -> dict:
    return hooks.state(state.id, state.bundle, state.annotations, status,
                       state.init_pid if status != "stopped" else 0)


def kill(store: StateStore, cid: str, sig: int, all_processes: bool) -> None:
    state, status = load_checked(store, cid)
    if not status.can_kill():
        if all_processes:
            return  # as runc: signalling all of nothing succeeds (the shim relies on it)
        raise RuntimeFailure("container not running")
    control.call(store.dir(cid), {"op": "kill", "signal": sig, "all": all_processes})


def delete(store: StateStore, cid: str, force: bool) -> None:
    state, status = load_checked(store, cid)
    if not status.can_delete(force):
        raise RuntimeFailure(f"cannot delete container {cid} that is not stopped: "
                             f"{status.value}")
    if status is not ContainerStatus.STOPPED:
        # killing the sandbox takes every task with it (fail closed)
        try:
            os.kill(state.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while state.status() is not ContainerStatus.STOPPED and time.monotonic() < deadline:
            _reap_if_child(state.pid)
            time.sleep(0.01)
    cgroups.cleanup(cid, scope=store.root)
    store.remove(cid)
    hooks.run_warning_only("poststop", oci.load_hooks(state.hooks).poststop,
                           _hook_state(state, "stopped"))


def _reap_if_child(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def ps(store: StateStore, cid: str) -> list[int]:
    state, status = load_checked(store, cid)
    if status is ContainerStatus.STOPPED:
        return []
    return control.call(store.dir(cid), {"op": "ps"})["pids"]


def oci_state(store: StateStore, cid: str) -> dict:
    return store.load(cid).oci(OCI_VERSION)


def wait(state: State) -> int:
    """Waits for the sandbox process (a child of this one) and returns its exit code."""
    while True:
        try:
            _, status = os.waitpid(state.pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
    return exit_code(status)


def bundle_path(bundle: str | None) -> str:
    return str(Path(bundle or ".").resolve())


EXEC_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


def forward_signals(send: Callable[[int], None]) -> None:
    """Signals sent to this process go on to the container's process (runc does so
    for `run` and `exec`; the shim signals the pid it was given)."""
    def handler(signum: int, _frame: object) -> None:
        try:
            send(signum)
        except RuntimeFailure:
            pass

    for sig in EXEC_SIGNALS:
        signal.signal(sig, handler)


def process_for_exec(store: StateStore, cid: str, process_file: str | None,
                     command: list[str], tty: bool, env: list[str], cwd: str | None,
                     user: str | None) -> dict:
    """The OCI process object of an exec: --process FILE, or the container's own
    process with the command line's args, tty, env, cwd and user."""
    if process_file:
        try:
            with open(process_file) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise RuntimeFailure(f"--process {process_file}: {e}") from None
        if not isinstance(data, dict):
            raise RuntimeFailure(f"--process {process_file}: must be a JSON object")
        return data
    if not command:
        raise RuntimeFailure("exec: no command given")
    state = store.load(cid)
    base = dict(oci.load(state.bundle).raw["process"])
    base["args"] = list(command)
    base["terminal"] = tty
    base["env"] = list(base.get("env") or []) + list(env)
    if cwd:
        base["cwd"] = cwd
    if user:
        uid, _, gid = user.partition(":")
        try:
            base["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        except ValueError:
            raise RuntimeFailure(f"--user {user}: expected UID[:GID]") from None
    return base


def exec_process(store: StateStore, cid: str, process: dict, pid_file: str | None,
                 detach: bool, console_socket: str | None) -> int:
    """Runs a process in the container. Attached: waits and returns its exit code.
    Detached: a proxy process (a child of the caller, as the shim needs) waits for it,
    forwards signals and exits with its code; its pid goes to pid_file."""
    state, status = load_checked(store, cid)
    if not status.can_exec():
        raise RuntimeFailure(f"cannot exec in a {status.value} container")
    parsed = oci.load_process(process)
    if parsed.terminal and not console_socket:
        raise RuntimeFailure("cannot allocate tty if runsc-py will detach without setting "
                             "console socket" if detach else
                             "exec --tty needs --console-socket")
    request = {"op": "exec", "process": process}
    stdio = [] if parsed.terminal else [0, 1, 2]
    state_dir = store.dir(cid)

    def start() -> tuple[control.ExecWait, int]:
        conn, pid, master = control.open_exec(state_dir, request, stdio)
        if master is not None:
            try:
                terminal.send_master(console_socket, master)  # type: ignore[arg-type]
            except OSError as e:
                raise RuntimeFailure(f"console socket {console_socket}: {e.strerror}") from None
            finally:
                os.close(master)
        return conn, pid

    def start_forwarding(started: Callable[[], None] = lambda: None) -> control.ExecWait:
        # a signal that comes before the process's pid is known waits (blocked), then
        # goes on to it: the caller may signal as soon as the process runs
        signal.pthread_sigmask(signal.SIG_BLOCK, EXEC_SIGNALS)
        try:
            conn, pid = start()
            started()
            forward_signals(lambda sig: control.call(state_dir, {"op": "kill", "signal": sig,
                                                                 "pid": pid}))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, EXEC_SIGNALS)
        return conn

    if not detach:
        conn = start_forwarding()
        if pid_file:
            _write_atomic(pid_file, str(os.getpid()))
        return conn.wait()

    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    proxy = os.fork()
    if proxy == 0:
        code = 1
        try:
            os.close(ready_r)
            try:
                conn = start_forwarding(lambda: os.write(ready_w, b"OK"))
            except RuntimeFailure as e:
                os.write(ready_w, f"ERROR {e}".encode())
                os._exit(1)
            os.close(ready_w)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # the process has them; a reader waits for its EOF only
                os.dup2(devnull, fd)
            code = conn.wait()
        finally:
            os._exit(code)
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as f:
        reply = f.read().decode(errors="replace")
    if reply != "OK":
        os.waitpid(proxy, 0)
        raise RuntimeFailure(reply.removeprefix("ERROR ") or "exec failed")
    if pid_file:
        _write_atomic(pid_file, str(proxy))
    return 0


def pause(store: StateStore, cid: str) -> None:
    state, status = load_checked(store, cid)
    if not status.can_pause():
        raise RuntimeFailure(f"cannot pause a {status.value} container" if status is not
                             ContainerStatus.STOPPED else "container not running")
    control.call(store.dir(cid), {"op": "pause"})
    state.paused = True
    store.save(state)


def resume(store: StateStore, cid: str) -> None:
    state, status = load_checked(store, cid)
    if not status.can_resume():
        raise RuntimeFailure("container not paused")
    control.call(store.dir(cid), {"op": "resume"})
    state.paused = False
    store.save(state)


def update(store: StateStore, cid: str, resources: dict) -> None:
    _state, status = load_checked(store, cid)
    if status is ContainerStatus.STOPPED:
        raise RuntimeFailure("container not running")
    control.call(store.dir(cid), {"op": "update", "resources": resources})


def stats_event(store: StateStore, cid: str) -> dict:
    """One `events --stats` event, in runc's shape (type, id, data)."""
    _state, status = load_checked(store, cid)
    if status is ContainerStatus.STOPPED:
        raise RuntimeFailure("container not running")
    reply = control.call(store.dir(cid), {"op": "stats"})
    data = dict(reply.get("stats") or {})
    data.setdefault("pids", {"current": reply.get("pids", 0)})
    return {"type": "stats", "id": cid, "data": data}
