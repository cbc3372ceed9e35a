"""Running OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle").

Who runs which kind, and where (the namespaces the spec names):
  prestart, createRuntime   `create` (the CLI, in the runtime's namespaces), once the init
                            has built the container's namespaces and mounts and waits
                            before pivot_root; the state's pid is the init's host pid.
  createContainer           the init, in the container's namespaces before pivot_root
                            (host paths still resolve there, as the spec asks); pid 1.
  startContainer            the init after `start`, as the process's user, under the
                            sandbox's filter: its path is a container path and the
                            sentry serves it like any workload task; pid 1.
  poststart                 `start` (the CLI), once the init has executed the program.
  poststop                  `delete` (and a failed `create`), after the sandbox is gone.
A failure of the first four stops the container with a one-line error; of the last two
it is a warning (the spec's "log a warning ... continue").

Only os-level calls here: startContainer hooks run from the init after pivot_root,
where nothing can be imported, and under the workload's seccomp filter.
"""
from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import time
from typing import Any

from runsc_py import OCI_VERSION
from runsc_py.errors import RuntimeFailure
from runsc_py.spec import Hook

log = logging.getLogger("runsc-py")
_OUTPUT_LIMIT = 4096  # of a failed hook's stderr and stdout, kept for the error


def state(cid: str, bundle: str, annotations: dict[str, str], status: str,
          pid: int) -> dict[str, Any]:
    """The OCI state a hook reads on stdin (runtime.md "State"): pid and annotations
    are left out when there are none, as runc leaves them."""
    out: dict[str, Any] = {"ociVersion": OCI_VERSION, "id": cid, "status": status}
    if pid:
        out["pid"] = pid
    out["bundle"] = bundle
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def run(kind: str, hooks: tuple[Hook, ...], hook_state: dict[str, Any],
        default_env: dict[str, str] | None = None, cwd: str | None = None) -> None:
    """Runs hooks in order and stops at the first that fails (RuntimeFailure naming
    the kind, the index and the path). default_env: what a hook without `env` gets
    (None: this process's environment)."""
    data = json.dumps(hook_state, separators=(",", ":")).encode()
    for i, hook in enumerate(hooks):
        env = dict(env_pairs(hook.env)) if hook.env is not None else \
            (default_env if default_env is not None else dict(os.environ))
        problem = _execute(hook, data, env, cwd)
        if problem:
            raise RuntimeFailure(f"{kind} hook #{i} {hook.path}: {problem}")


def run_warning_only(kind: str, hooks: tuple[Hook, ...], hook_state: dict[str, Any],
                     cwd: str | None = None) -> None:
    """poststart and poststop: a failure is logged as a warning and the remaining hooks
    still run."""
    for i, hook in enumerate(hooks):
        try:
            run(kind, (hook,), hook_state, cwd=cwd)
        except RuntimeFailure as e:
            message = str(e).replace(f"{kind} hook #0", f"{kind} hook #{i}", 1)
            log.warning("%s", message)
            if all(isinstance(h, logging.NullHandler) for h in log.handlers):
                print(f"runsc-py: warning: {message}", file=sys.stderr)  # (no --log)


def reset_signals() -> None:
    """Every signal at its default action and none blocked, whatever this process's
    caller ignored (a shell's background job ignores SIGINT and SIGQUIT) and Python set
    (it ignores SIGPIPE and SIGXFSZ): execve keeps an ignored signal ignored."""
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def env_pairs(env: tuple[str, ...]) -> list[tuple[str, str]]:
    """KEY=VALUE strings as pairs (an entry without "=" is dropped, as execve's callers do)."""
    pairs = []
    for item in env:
        key, sep, value = item.partition("=")
        if sep and key:
            pairs.append((key, value))
    return pairs


def _execute(hook: Hook, data: bytes, env: dict[str, str], cwd: str | None) -> str:
    """Runs one hook with `data` on its stdin; "" if it exited 0, else what went wrong."""
    stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    exec_r, exec_w = os.pipe2(os.O_CLOEXEC)  # the child's execve errno, if it fails
    pid = os.fork()
    if pid == 0:
        try:
            for fd, target in ((stdin_r, 0), (out_w, 1), (err_w, 2)):
                os.dup2(fd, target)  # (dup2 clears CLOEXEC on the copy)
            # nothing the caller left inheritable reaches the hook, as with runc's
            os.closerange(3, exec_w)
            os.closerange(exec_w + 1, 1 << 20)
            if cwd:
                os.chdir(cwd)
            reset_signals()
            os.execve(hook.path, list(hook.args) or [hook.path], env)
        except OSError as e:
            os.write(exec_w, f"{e.strerror or e}".encode())
        finally:
            os._exit(127)
    for fd in (stdin_r, out_w, err_w, exec_w):
        os.close(fd)
    with os.fdopen(exec_r, "rb") as f:
        exec_error = f.read().decode(errors="replace")
    try:
        _write_all(stdin_w, data)
    finally:
        os.close(stdin_w)
    deadline = time.monotonic() + hook.timeout if hook.timeout else None
    out, err, status = _collect(pid, out_r, err_r, deadline)
    if exec_error:
        return f"cannot run it: {exec_error}"
    if status is None:
        return f"ran past its timeout of {hook.timeout}s (killed)"
    if os.WIFSIGNALED(status):
        result = f"killed by signal {os.WTERMSIG(status)}"
    elif os.WEXITSTATUS(status):
        result = f"exit status {os.WEXITSTATUS(status)}"
    else:
        return ""
    said = (err.strip() or out.strip()).decode(errors="replace")
    return f"{result}: {said}" if said else result


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data):]
    except BrokenPipeError:
        pass  # a hook need not read its stdin


def _collect(pid: int, out_r: int, err_r: int,
             deadline: float | None) -> tuple[bytes, bytes, int | None]:
    """The hook's stdout and stderr (their first few KiB) and its wait status; None
    once the deadline passed (it is killed then). Waits for the hook's exit, not for
    EOF: a daemon it left behind may hold the pipes open."""
    bufs = {out_r: b"", err_r: b""}
    open_fds = [out_r, err_r]
    status = None
    try:
        while True:
            wpid, wstatus = os.waitpid(pid, os.WNOHANG)
            if wpid:
                status = wstatus
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            # a short poll: the exit of a hook that keeps the pipes open shows in waitpid
            timeout = 0.05 if left is None else min(0.05, left)
            ready = select.select(open_fds, [], [], timeout)[0] if open_fds else \
                time.sleep(timeout) or []
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.remove(fd)
                elif len(bufs[fd]) < _OUTPUT_LIMIT:
                    bufs[fd] += chunk[:_OUTPUT_LIMIT - len(bufs[fd])]
        for fd in open_fds:  # what is left of an exited hook's output
            if select.select([fd], [], [], 0)[0]:
                bufs[fd] += os.read(fd, _OUTPUT_LIMIT)[:max(0, _OUTPUT_LIMIT - len(bufs[fd]))]
    finally:
        os.close(out_r)
        os.close(err_r)
    return bufs[out_r], bufs[err_r], status
