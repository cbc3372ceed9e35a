"""The spawner: where exec'd processes come from once the sentry has confined itself.

A confined sentry cannot make them: its seccomp allowlist (no fork, setns, execve) and
its capability set (no CAP_SYS_ADMIN, SETUID, SETPCAP...) are inherited by anything it
forks, and the allowlist's KILL would win over the workload filter's USER_NOTIF and
ERRNO answers. So the sentry forks this helper before it confines itself (and before it
enters the sandbox's pid namespace); the helper keeps the sentry's privileges, serves
nothing but the sentry's socket, and per request:

    spawner ─fork─▶ middle (host pid ns; setns into the init's pid ns) ─fork─▶ process
                    middle exits: the process is re-parented to the sentry (a child
                    subreaper), which reaps it and learns its exit status as before.

The process runs runsc_py.init.run(new_container=False): it joins the init's
namespaces, installs the workload filter with a listener it hands to the sentry over
its own sync socket, and execs. What a compromised sentry can ask of the spawner is
thus only "one more process inside this container, under its filter": the init pid is
pinned at bind time, not taken from requests.
"""
from __future__ import annotations

import json
import os
import signal
import socket

from sentry.platform import linux_native as ln

_MAX_FDS = 8


class Spawner:
    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock

    @classmethod
    def start(cls, spec, skeleton: str, cid: str,  # noqa: ANN001
              new_listener: bool) -> "Spawner":
        """Forks the spawner (in the sentry, before _enter_pid_namespace)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sentry_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                mine.close()
                ln.prctl(ln.PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != sentry_pid:
                    os._exit(1)
                ln.set_name("runsc-py-spawnr")
                os.closerange(0, theirs.fileno())
                os.closerange(theirs.fileno() + 1, 1 << 16)
                null = os.open(os.devnull, os.O_RDWR)  # received fds land above 2
                for fd in (0, 1, 2):
                    if fd != null:
                        os.dup2(null, fd, inheritable=False)
                if null > 2:
                    os.close(null)
                # a mount namespace of its own: the sentry's pivot_root must not move it
                ln.unshare(ln.CLONE_NEWNS)
                _serve(theirs, spec, skeleton, sentry_pid, new_listener)
            finally:
                os._exit(0)
        theirs.close()
        return cls(pid, mine)

    def bind(self, init_pid: int, program: bytes) -> None:
        """Pins the container and hands over the workload filter (before the sentry
        confines itself)."""
        self._call(b"BIND %d\n" % init_pid + program, [])

    def stop(self) -> None:
        """Kills and reaps the spawner (the sentry's shutdown): its PDEATHSIG would kill it
        only once the sentry is gone, and `delete` would then wait for it to leave the
        sandbox's cgroup."""
        self.sock.close()
        if not self.pid:  # reaped already (it died): its pid may name another process
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def spawn(self, process: dict, sync: socket.socket, fds: list[int]) -> int:
        """Starts an exec'd process; returns its host pid. sync is its end of the
        READY/START socket (as runsc_py.init.run takes it), fds its stdin/stdout/stderr
        or its one tty slave. The caller keeps and closes its copies."""
        reply = self._call(json.dumps({"process": process}).encode(), [sync.fileno(), *fds])
        return int(reply)

    def _call(self, data: bytes, fds: list[int]) -> bytes:
        socket.send_fds(self.sock, [data], fds)
        reply = self.sock.recv(4096)
        if not reply.startswith(b"OK"):
            raise OSError(reply[6:].decode(errors="replace") if reply.startswith(b"ERROR")
                          else "the spawner is gone")
        return reply[3:]


def _serve(sock: socket.socket, spec, skeleton: str, sentry_pid: int,  # noqa: ANN001
           new_listener: bool) -> None:
    from runsc_py.spec import load_process

    init_pid = 0
    program = b""
    pidns = -1
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, _MAX_FDS)
        except OSError:
            return
        if not data:
            return
        try:
            if data.startswith(b"BIND "):
                if init_pid:
                    raise OSError("already bound")
                pid, _, program = data[5:].partition(b"\n")
                init_pid = int(pid)
                pidns = os.open(f"/proc/{init_pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
                sock.send(b"OK")
                continue
            if not init_pid:
                raise OSError("not bound")
            if len(fds) not in (2, 4):
                raise OSError("a sync socket and the stdio or a tty slave")
            process = load_process(json.loads(data)["process"])
            pid = _fork_process(spec, process, fds, skeleton, sentry_pid, program,
                                new_listener, init_pid, pidns)
            sock.send(b"OK %d" % pid)
        except Exception as e:  # noqa: BLE001 - one bad request must not stop it
            try:
                sock.send(f"ERROR {e}".encode(errors="replace")[:4000])
            except OSError:
                return
        finally:
            for fd in fds:
                os.close(fd)


def _fork_process(spec, process, fds: list[int], skeleton: str, sentry_pid: int,  # noqa: ANN001
                  program: bytes, new_listener: bool, init_pid: int, pidns: int) -> int:
    from runsc_py import init as container_init

    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    middle = os.fork()
    if middle == 0:
        try:
            os.close(go_w)
            os.close(pid_r)
            ln.setns(pidns, ln.CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                os.close(pid_w)
                os.read(go_r, 1)  # the middle is reaped: the sentry is our parent now
                os.close(go_r)
                sync = socket.socket(fileno=fds[0])
                slave = None
                if len(fds) == 2:
                    slave = fds[1]
                else:
                    for target, fd in enumerate(fds[1:]):
                        os.dup2(fd, target)
                container_init.run(spec, process, sync, skeleton, sentry_pid, program,
                                   new_listener, new_container=False, tty_slave=slave,
                                   join_pid=init_pid)
            os.write(pid_w, b"%d" % pid)
        finally:
            os._exit(0)
    os.close(go_r)
    os.close(pid_w)
    raw = os.read(pid_r, 32)
    os.close(pid_r)
    os.waitpid(middle, 0)  # once reaped, its child has been re-parented
    try:
        os.write(go_w, b"G")
    finally:
        os.close(go_w)
    if not raw:
        raise OSError("could not fork into the sandbox")
    return int(raw)
