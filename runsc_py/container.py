"""The lifecycle operations behind the CLI's commands. Each checks legality with
ContainerStatus first and changes nothing when the step is not allowed."""
from __future__ import annotations

import datetime
import os
import signal
import socket
import time
from pathlib import Path

from runsc_py import OCI_VERSION, control
from runsc_py import spec as oci
from runsc_py.errors import RuntimeFailure
from runsc_py.state import ContainerStatus, State, StateStore, process_start_time


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def create(store: StateStore, bundle: str, cid: str, pid_file: str | None,
           log_path: str | None, log_format: str, debug: bool,
           console_socket: str | None = None, foreground: bool = False) -> tuple[State, int | None]:
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
    try:
        config = boot.sandbox_config(spec, cid, log_path, log_format, debug)
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
        reply = data.decode(errors="replace")
        master = fds[0] if fds else None
        if not reply.startswith("OK "):
            os.waitpid(pid, 0)
            raise RuntimeFailure(reply.removeprefix("ERROR ").strip()
                                 or "sandbox exited during setup")
        state = State(
            id=cid, bundle=str(spec.bundle), rootfs=str(spec.root_path), pid=pid,
            pid_start=process_start_time(pid),
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(),
            init_pid=int(reply.split()[1]), annotations=spec.annotations,
            owner="root" if os.geteuid() == 0 else str(os.geteuid()),
        )
        store.save(state)
        if pid_file:
            _write_atomic(pid_file, str(pid))
        return state, master
    except BaseException:
        store.remove(cid)
        raise


def load_checked(store: StateStore, cid: str) -> tuple[State, ContainerStatus]:
    state = store.load(cid)
    return state, state.status()


def start(store: StateStore, cid: str) -> None:
    state, status = load_checked(store, cid)
    if not status.can_start():
        if status is ContainerStatus.STOPPED:
            raise RuntimeFailure("cannot start a container that has stopped")
        raise RuntimeFailure(f"cannot start an already {status.value} container")
    control.call(store.dir(cid), {"op": "start"})
    state.started = True
    store.save(state)


def kill(store: StateStore, cid: str, sig: int, all_processes: bool) -> None:
    state, status = load_checked(store, cid)
    if not status.can_kill():
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
    store.remove(cid)


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
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def bundle_path(bundle: str | None) -> str:
    return str(Path(bundle or ".").resolve())
