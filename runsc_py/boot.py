"""The sandbox process: the sentry. Forked by `create`, it starts the gofer and the
container's init, serves the init's syscalls, answers the CLI on its control socket,
and exits with the init's exit status (128+N when killed by signal N): its pid is the
one the caller waits on, as gVisor's sandbox process is.

Fail closed: the init and the gofer die with the sentry (PR_SET_PDEATHSIG), everything
in the sandbox dies with the init (its pid namespace), and if the gofer dies the sentry
kills the init and exits.
"""
from __future__ import annotations

import dataclasses
import errno
import gc
import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn

from runsc_py import control, hooks, namespaces, terminal
from sentry.platform import linux_native as ln
from runsc_py.spawner import Spawner
from runsc_py.spec import Spec
from runsc_py.state import exit_code
from sentry.config import MountSpec, SandboxConfig
from sentry.confine import confine_sentry

if TYPE_CHECKING:
    from runsc_py.cgroups import SandboxCgroup

log = logging.getLogger("runsc-py.sentry")

SENTRY_FS = "sentry-fs"  # the sentry's private tmpfs, in the state dir
SYNTHETIC_KINDS = {"/proc": "proc", "/dev": "devfs", "/sys": "sysfs", "/dev/pts": "devpts",
                   "/dev/mqueue": "mqueue", "/sys/fs/cgroup": "cgroup"}


def sandbox_config(spec: Spec, cid: str, log_path: str | None, log_format: str,
                   debug: bool, platform: str = "seccomp",
                   pin_sentry: bool = True, rootless: bool = False) -> SandboxConfig:
    from runsc_py.rootfs import is_synthetic

    # sources are shown in /proc/mounts: never a host path
    mounts = [MountSpec("/", "gofer", "rootfs", "rootfs", spec.root_readonly)]
    for dest, kind in SYNTHETIC_KINDS.items():
        fstype = {"devfs": "tmpfs"}.get(kind, kind)
        mounts.append(MountSpec(dest, kind, kind, fstype, kind != "devpts"))
    for m in spec.mounts:
        if not is_synthetic(m):
            tmpfs = m.type == "tmpfs"
            mounts.append(MountSpec(m.destination, "gofer",
                                    (m.source or "tmpfs") if tmpfs else "none",
                                    "tmpfs" if tmpfs else "bind", m.readonly))
    return SandboxConfig(
        container_id=cid,
        hostname=spec.hostname or cid[:63] or "runsc-py",
        mounts=tuple(mounts),
        masked_paths=spec.masked_paths,
        readonly_paths=spec.readonly_paths,
        log_path=log_path, log_format=log_format, debug=debug, platform=platform,
        pin_sentry=pin_sentry, rootless=rootless,
    )


def _set_title(role: str, cid: str) -> None:
    try:
        import setproctitle

        setproctitle.setproctitle(f"runsc-py-{role} {cid}")
    except ImportError:
        pass
    ln.set_name(f"runsc-py-{role}")


def _make_sentry_fs(state_dir: Path) -> tuple[str, str]:
    """A tmpfs only the sentry's mount namespace sees, holding the skeletons of
    /proc, /dev, /sys and a private devpts instance."""
    ln.unshare(ln.CLONE_NEWNS)
    ln.mount("none", "/", None, ln.MS_REC | ln.MS_PRIVATE)
    base = state_dir / SENTRY_FS
    base.mkdir(exist_ok=True)
    ln.mount("tmpfs", str(base), "tmpfs", ln.MS_NOSUID | ln.MS_NOEXEC, "mode=0755")
    skeleton = base / "skeleton"
    for d in ("proc", "dev/pts", "dev/shm", "dev/mqueue", "sys/fs/cgroup"):
        (skeleton / d).mkdir(parents=True, exist_ok=True)
    (skeleton / "masked").touch()
    os.chmod(skeleton / "masked", 0o444)  # an empty file anyone may read, as /dev/null
    devpts = base / "devpts"
    devpts.mkdir()
    ln.mount("devpts", str(devpts), "devpts", ln.MS_NOSUID | ln.MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620")
    return str(skeleton), str(devpts)


def _pin_together(*pids: int) -> None:
    """The sentry and the gofer onto the CPU the sentry runs on. They work in lockstep
    (a request, then its reply), so one CPU costs them no parallelism, and each hop
    between them is then a wake-up on the same CPU instead of across two: measured on
    a 2-CPU VM, a trapped stat took 38 us instead of 88 (benchmarks/RESULTS.md). The
    workload (forked before) and exec'd processes (from the spawner) stay unpinned."""
    with open("/proc/self/stat", "rb") as f:
        cpu = int(f.read().rpartition(b")")[2].split()[36])  # field 39, "processor"
    for pid in pids:
        try:
            os.sched_setaffinity(pid, {cpu})
        except OSError:  # e.g. a CPU the cpuset just took away: stay movable
            pass


def _start_gofer(cid: str) -> tuple[int, socket.socket]:
    """The gofer, forked as the only process of a pid namespace of its own: the procfs
    it mounts for its /proc/self/fd idiom (gofer/confine.py) then holds nothing but
    itself, whoever may reach it."""
    sentry_end, gofer_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if not namespaces.in_initial_user_ns():
        # Returning to its own pid namespace takes privilege over the host's user
        # namespace, which a sentry outside it (rootless) lacks: the gofer then shares
        # the sentry's pid namespace and binds a copy of its /proc (gofer/confine.py).
        pid = os.fork()
    else:
        own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        pid = -1
        try:
            ln.unshare(ln.CLONE_NEWPID)
            pid = os.fork()
        finally:
            if pid != 0:  # later children in ours again (the gofer closes it below)
                ln.setns(own_pid_ns, ln.CLONE_NEWPID)
                os.close(own_pid_ns)
    if pid == 0:
        try:
            sentry_end.close()
            ln.prctl(ln.PR_SET_PDEATHSIG, signal.SIGKILL)
            _set_title("gofer", cid)
            os.closerange(0, gofer_end.fileno())
            os.closerange(gofer_end.fileno() + 1, 1 << 16)
            from gofer.server import serve

            serve(gofer_end)
        finally:
            os._exit(0)
    gofer_end.close()
    return pid, sentry_end


class _Background(threading.Thread):
    """fn(*args) in a thread of its own; result() joins it and raises what it raised."""

    def __init__(self, fn: Callable[..., object], *args: object) -> None:
        super().__init__(daemon=True)
        self._call = (fn, args)
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        fn, args = self._call
        try:
            fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised by result()
            self._error = e

    def result(self) -> None:
        self.join()
        if self._error is not None:
            raise self._error


class _Handoff:
    """One int from one thread to another: the first put() is the value get() returns."""

    def __init__(self) -> None:
        self._value = 0
        self._set = threading.Event()

    def put(self, value: int) -> None:
        if not self._set.is_set():
            self._value = value
            self._set.set()

    def get(self) -> int:
        self._set.wait()
        return self._value


def _move_in(cgroup: SandboxCgroup, sandbox: list[int], init_pid: _Handoff) -> None:
    """The sandbox's own processes into its cgroup's `sandbox` part, then the init
    (once forked; 0: never) into `workload`, in one burst: the host makes the first move
    of a burst wait for an RCU grace period (the cgroup_threadgroup_rwsem write side,
    ~10 ms here) and lets the moves right after it through at once. In a thread, so
    that the wait overlaps the init building the container tree."""
    part = cgroup.part("sandbox")
    for pid in sandbox:
        part.add(pid)
    pid = init_pid.get()
    if pid:
        cgroup.part("workload").add(pid)


class Sandbox:
    def __init__(self, spec: Spec, cid: str, state_dir: Path, config: SandboxConfig,
                 console_socket: str | None = None) -> None:
        self.spec = spec
        self.console_socket = console_socket
        self.tty_master: int | None = None  # for the caller to copy, without a socket
        self.cid = cid
        self.state_dir = state_dir
        self.config = config
        self.init_pid = 0
        self.init_sync: socket.socket | None = None
        self.gofer_pid = 0
        self.exit_status: int | None = None
        self.exec_conns: dict[int, socket.socket] = {}  # exec'd pid → its caller
        self.on_exit: Callable[[], object] = lambda: None
        self.cgroup = None  # the sandbox's SandboxCgroup, once it has one
        self.caller: socket.socket | None = None  # `create`'s end, for its hooks' turn
        self.start_conn: socket.socket | None = None  # `start`, answered at the execve
        self._reply_fd: int | None = None  # an fd to send with the current reply

    def create(self) -> None:
        """Everything up to the init waiting for `start`. Raises RuntimeFailure."""
        from sentry import platform as platforms

        ln.prctl(ln.PR_SET_CHILD_SUBREAPER, 1)
        self.spec = namespaces.resolve(self.spec)
        skeleton, devpts = _make_sentry_fs(self.state_dir)
        new_listener = platforms.needs_listener(self.config.platform)
        # The gofer, the spawner and the init are forked before the sentry imports its
        # kernel and builds the filter (~15 ms): the init builds the container tree on
        # the other CPU meanwhile, and receives the filter once it is built (the
        # spawner with BIND). Neither child needs those modules, so they do not hold
        # copies of pages the sentry goes on to write either.
        gc.freeze()
        self.gofer_pid, gofer_sock = _start_gofer(self.cid)
        self.spawner = Spawner.start(self.spec, skeleton, self.cid, new_listener)
        me = os.getpid()
        init_pid = _Handoff()
        # started before the sentry enters the new pid namespace (no threads after that)
        moving = _Background(_move_in, self.cgroup, [me, self.gofer_pid, self.spawner.pid],
                             init_pid) if self.cgroup is not None else None
        try:
            self._enter_pid_namespace()
            master = slave = None
            if self.spec.process.terminal:
                master, slave = terminal.open_pty(devpts)
                os.fchown(slave, *self.spec.host_ids(self.spec.process.uid,
                                                      self.spec.process.gid))
            sentry_end, init_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = os.fork()
            if pid == 0:
                sentry_end.close()
                from runsc_py import init as container_init  # (its imports: off our path)

                container_init.run(self.spec, self.spec.process, init_end, skeleton, me,
                                   None, new_listener, new_container=True, tty_slave=slave,
                                   hook_state=hooks.state(self.cid, str(self.spec.bundle),
                                                          self.spec.annotations, "creating", 0))
            init_end.close()
            init_pid.put(pid)
            self.program = platforms.filter_program(self.config.platform,
                                                    self.spec.process.capabilities.bounding)
            try:
                sentry_end.send(platforms.FILTER_MESSAGE + self.program)
            except OSError:
                pass  # the init failed: its report is waiting on sentry_end
            self.platform = platforms.make(self.config.platform)
            self._finish_create(pid, sentry_end, gofer_sock, skeleton, devpts, master, slave,
                                moving)
        finally:
            if moving is not None:
                init_pid.put(0)  # (if the init was never forked)
                moving.join()

    def _finish_create(self, pid: int, sentry_end: socket.socket,
                       gofer_sock: socket.socket, skeleton: str, devpts: str,
                       master: int | None, slave: int | None,
                       moving: _Background | None) -> None:
        """create()'s second half: from the forked init to the confined sentry."""
        from gofer.client import GoferClient
        from runsc_py.errors import RuntimeFailure
        from sentry.fs.node import skeleton_identity
        from sentry.kernel import Kernel

        if slave is not None:
            os.close(slave)
        # The init has the caller's stdio now; the sentry keeping them open would keep
        # a caller that reads them (a shim, a test) waiting for EOF until it exits.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        self.init_pid = pid
        self.init_sync = sentry_end
        from gofer.protocol import recv_message

        data, fds = recv_message(sentry_end)
        if data == b"HOOKS":
            self._caller_hooks(pid)
            sentry_end.send(b"GO")
            data, fds = recv_message(sentry_end)
        if not data.startswith(b"READY") or len(fds) != self.platform.needs_listener:
            for fd in fds:
                os.close(fd)
            reason = data[6:].decode(errors="replace") if data.startswith(b"ERROR") else \
                "container init exited during setup"
            raise RuntimeFailure(reason)
        # the container tree's root: the gofer's, and the sentry's own for the C
        # handlers' direct answers (sentry/_native/fastpath.c)
        root_fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        gofer = GoferClient(gofer_sock)
        userns_fd = self._tasks_user_namespace(pid)
        gofer.send_root(root_fd, userns_fd, hidden=skeleton_identity(skeleton))
        if userns_fd >= 0:
            os.close(userns_fd)
        self.kernel = Kernel(self.config, gofer, init_pid=pid, root_fd=root_fd)
        if not self.spec.hostname and any(ns.type == "uts" and ns.path
                                          for ns in self.spec.namespaces):
            # a joined UTS namespace (a pod's) names the host as its owner set it
            self.kernel.hostname = data.partition(b" ")[2].decode(errors="replace")
        self.kernel.skeleton = skeleton
        self.kernel.devpts = devpts
        self.kernel.started_at = time.monotonic()
        self.platform.attach(self.kernel)
        self.platform.add_task(pid, fds[0] if fds else None)
        # listening before `create` returns, so that `start` finds it at once
        self.control_socket = control.listen(self.state_dir)
        if master is not None:
            if self.console_socket:
                try:
                    terminal.send_master(self.console_socket, master)
                except OSError as e:
                    raise RuntimeFailure(f"console socket {self.console_socket}: "
                                         f"{e.strerror}") from None
                finally:
                    os.close(master)
            else:
                self.tty_master = master
        if moving is not None:
            moving.result()  # the init waits for START: it has run nothing of the workload's
        # from here on the sentry only serves: no exec, no mounts, no host files
        self.spawner.bind(self.init_pid, self.program)
        if self.config.pin_sentry:
            _pin_together(os.getpid(), self.gofer_pid)
        confine_sentry(str(self.state_dir), str(Path(skeleton).parent),
                       tuple(d.path for d in self.cgroup.dirs) if self.cgroup else (),
                       tracer=self.config.platform == "ptrace")

    def _tasks_user_namespace(self, pid: int) -> int:
        """An fd of the init's user namespace when it is not the sentry's (-1 if it
        is), the sentry then reading its tasks' credentials in that namespace's terms."""
        from sentry.task import translate_ids

        if namespaces.same_namespace(pid, "user"):
            return -1
        uid_map, gid_map = namespaces.read_id_maps(pid)
        translate_ids(tuple(dataclasses.astuple(m) for m in uid_map),
                      tuple(dataclasses.astuple(m) for m in gid_map))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)

    def _caller_hooks(self, init_pid: int) -> None:
        """`create` runs the prestart and createRuntime hooks (in the runtime's
        namespaces, which the sentry has left) with the init's host pid; it answers GO,
        or closes the connection when one failed."""
        from gofer.protocol import send_message
        from runsc_py.errors import RuntimeFailure

        if self.caller is None:
            raise RuntimeFailure("no caller to run the prestart hooks")
        send_message(self.caller, b"HOOKS %d" % init_pid, -1)
        if self.caller.recv(16) != b"GO":
            raise RuntimeFailure("create was given up while its hooks ran")

    def _enter_pid_namespace(self) -> None:
        for ns in self.spec.namespaces:
            if ns.type == "pid" and ns.path:
                fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    ln.setns(fd, ln.CLONE_NEWPID)
                finally:
                    os.close(fd)
                return
        # always a pid namespace of its own: signals and /proc stay inside the sandbox
        ln.unshare(ln.CLONE_NEWPID)

    # -- running -----------------------------------------------------------------------
    def serve(self) -> NoReturn:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # a full pipe already wakes the loop: no "buffer full" report, which Python
        # makes from inside its signal handler with a lock the interrupted code may hold
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)
        ctl = self.control_socket
        self._reap()
        waiting = self.kernel.waiting  # calls answered Later: polled on every tick
        while self.exit_status is None:
            wake = [wake_r, ctl.fileno(), waiting.wake_fd]
            if self.start_conn is not None and self.init_sync is not None:
                wake.append(self.init_sync.fileno())
            which = self.platform.serve(wake, waiting.timeout_ms())
            if which == 2:
                waiting.woken()
            elif which == 3:
                self._started()
            waiting.poll()
            if which == 0:
                try:
                    while os.read(wake_r, 256):
                        pass
                except BlockingIOError:
                    pass
                self._reap()
            elif which == 1:
                conn, _ = ctl.accept()
                with conn:
                    self._control(conn)
        self._shutdown()
        self.on_exit()
        os._exit(self.exit_status)

    def _reap(self) -> None:
        # the platform waits: on ptrace, waiting for any child also reports stops
        for pid, status in self.platform.reap():
            if pid == self.init_pid:
                self.exit_status = exit_code(status)
            elif pid in self.exec_conns:
                self._report_exec_exit(pid, exit_code(status))
            elif pid == self.spawner.pid:
                self.spawner.pid = 0  # (died: exec fails from now on; stop() skips it)
            elif pid == self.gofer_pid:
                self.gofer_pid = 0
                log.error("the gofer died: stopping the sandbox")
                self._kill_init(signal.SIGKILL)
                if self.exit_status is None:
                    self.exit_status = 128 + signal.SIGKILL

    def _kill_init(self, sig: int) -> None:
        try:
            os.kill(self.init_pid, sig)
        except ProcessLookupError:
            pass

    def _shutdown(self) -> None:
        self._started()  # (an init that died before its execve: its socket is closed)
        for pid in list(self.exec_conns):
            self._report_exec_exit(pid, 128 + signal.SIGKILL)
        self.spawner.stop()
        if self.gofer_pid:
            self.kernel.gofer.shutdown()
            try:
                os.waitpid(self.gofer_pid, 0)
            except ChildProcessError:
                pass
        try:
            os.unlink(self.state_dir / control.SOCKET_NAME)
        except OSError:
            pass

    def _into_workload_cgroup(self, pid: int) -> None:
        """Before it runs anything of the workload's (it waits for START)."""
        if self.cgroup is not None:
            self.cgroup.part("workload").add(pid)

    def _set_paused(self, paused: bool) -> None:
        """Freezes the sandbox's tasks (the cgroup freezer, where there is one; else
        SIGSTOP/SIGCONT). The sentry and gofer stay live: a frozen task makes no calls."""
        if self.cgroup is not None:
            workload = self.cgroup.part("workload")
            workload.freeze() if paused else workload.thaw()
            return
        for pid in self.sandbox_pids():
            try:
                os.kill(pid, signal.SIGSTOP if paused else signal.SIGCONT)
            except ProcessLookupError:
                pass

    def sandbox_pids(self) -> list[int]:
        """Host pids of every task in the sandbox's pid namespace."""
        try:
            ns = os.readlink(f"/proc/{self.init_pid}/ns/pid")
        except OSError:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                        pids.append(int(entry))
                except OSError:
                    pass
        return sorted(pids)

    def _control(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        fds: list[int] = []
        keep = False
        try:
            data, fds = control.receive(conn)
            req = json.loads(data)
            if req.get("op") == "exec":
                reply = self._exec(req, fds)
                keep = "pid" in reply  # the exit status follows on this connection
            else:
                reply = self._handle(req)
                if not reply:  # start: the reply waits for the init's execve
                    self.start_conn = conn.dup()
                    return
        except Exception as e:  # noqa: BLE001 - a bad request must not stop the sandbox
            reply = {"error": str(e)}
        finally:
            for fd in fds:
                os.close(fd)
        try:
            control.send(conn, reply, self._reply_fd)
        except OSError:
            keep = False
        finally:
            if self._reply_fd is not None:
                os.close(self._reply_fd)
                self._reply_fd = None
        if keep:
            self.exec_conns[reply["pid"]] = conn.dup()
            self._reap()  # it may be gone already

    def _exec(self, req: dict, stdio: list[int]) -> dict:
        """A new process in the running sandbox: made by the spawner inside the
        sandbox's pid namespace as the sentry's child, it joins the init's other
        namespaces, brings its own filter and listener, and runs at once."""
        from gofer.protocol import recv_message
        from runsc_py.spec import load_process

        process = load_process(req["process"])
        if self.exit_status is not None or self.init_sync is not None:
            return {"error": "cannot exec in a stopped or not yet started container"}
        master = slave = None
        if process.terminal:
            master, slave = terminal.open_pty(self.kernel.devpts)
            os.fchown(slave, *self.spec.host_ids(process.uid, process.gid))
        elif len(stdio) != 3:
            return {"error": "exec needs the caller's stdin, stdout and stderr"}
        sentry_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # The confined sentry cannot fork a privileged child: its spawner (forked
        # before confinement) makes the process, which becomes the sentry's child.
        try:
            pid = self.spawner.spawn(req["process"], child_end,
                                     stdio if slave is None else [slave])
        except OSError as e:
            sentry_end.close()
            for fd in (master, slave):
                if fd is not None:
                    os.close(fd)
            return {"error": f"exec: {e.strerror or e}"}
        finally:
            child_end.close()
        self._into_workload_cgroup(pid)
        if slave is not None:
            os.close(slave)
        with sentry_end:
            data, fds = recv_message(sentry_end)
            if not data.startswith(b"READY") or len(fds) != self.platform.needs_listener:
                for fd in fds:
                    os.close(fd)
                if master is not None:
                    os.close(master)
                return {"error": data[6:].decode(errors="replace") if
                        data.startswith(b"ERROR") else "exec: the process exited during setup"}
            self.platform.add_task(pid, fds[0] if fds else None)
            sentry_end.send(b"START")
        if master is not None:
            # the caller sends it on to its console socket: the confined sentry can
            # neither make sockets nor name host paths
            self._reply_fd = master
        return {"ok": True, "pid": pid}

    def _started(self) -> None:
        """The init's sync socket after START: closed by its execve (or its exit), or
        the one-line failure of a startContainer hook. Either answers `start`."""
        sync, conn = self.init_sync, self.start_conn
        if sync is None or conn is None:
            return
        self.init_sync = self.start_conn = None
        with sync, conn:
            try:
                data = sync.recv(4096)
            except OSError:
                data = b""
            reply = {"error": data[6:].decode(errors="replace")} \
                if data.startswith(b"ERROR") else {"ok": True}
            try:
                control.send(conn, reply)
            except OSError:
                pass

    def _report_exec_exit(self, pid: int, code: int) -> None:
        conn = self.exec_conns.pop(pid)
        try:
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        except OSError:
            pass
        conn.close()

    def _handle(self, req: dict) -> dict:
        op = req.get("op")
        if op == "start":
            if self.init_sync is None or self.start_conn is not None:
                return {"error": "container already started"}
            self.init_sync.send(b"START")
            return {}  # answered by _started()
        if op == "kill":
            sig = int(req["signal"])
            if req.get("pid"):  # an exec'd process (its proxy forwards signals)
                if int(req["pid"]) not in self.exec_conns:
                    return {"error": "no such process"}
                targets = [int(req["pid"])]
            else:
                targets = self.sandbox_pids() if req.get("all") else [self.init_pid]
            for pid in targets:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            return {"ok": True}
        if op == "ps":
            return {"pids": self.sandbox_pids()}
        if op in ("pause", "resume"):
            self._set_paused(op == "pause")
            return {"ok": True}
        if op == "update":
            if self.cgroup is None:
                return {"error": "the sandbox has no cgroup to update"}
            self.cgroup.update(req["resources"])
            return {"ok": True}
        if op == "stats":
            return {"stats": self.cgroup.stats() if self.cgroup is not None else {},
                    "pids": len(self.sandbox_pids())}
        return {"error": f"unknown request {op!r}"}


def boot(spec: Spec, cid: str, state_dir: Path, ready: socket.socket, config: SandboxConfig,
         console_socket: str | None) -> NoReturn:
    """The sandbox process's main (in the forked child of `create`). Reports "OK <init
    pid>" (with the pty master, for a terminal without console socket) or the one-line
    failure on `ready`, then serves until the init exits."""
    from runsc_py import log as runtime_log
    from runsc_py.errors import RuntimeFailure

    _set_title("sentry", cid)
    runtime_log.setup(config.log_path, config.log_format, config.debug)
    from runsc_py import cgroups

    sandbox = Sandbox(spec, cid, state_dir, config, console_socket)
    sandbox.caller = ready
    # opened now: once confined, the sentry can name no host path
    profile_path = os.environ.get("RUNSC_PY_SENTRY_PROFILE")
    profile_file = open(profile_path, "wb") if profile_path else None  # noqa: SIM115
    try:
        # first of all: the sandbox's limits (its processes move in before the init
        # may start: Sandbox.create)
        sandbox.cgroup = cgroups.prepare(cid, spec.resources, scope=state_dir.parent)
        if config.rootless:  # (after the cgroup: one delegated to the caller is its own)
            sandbox.spec = namespaces.rootless_sandbox(spec)
        sandbox.create()
    except (RuntimeFailure, OSError) as e:
        if sandbox.cgroup is not None:
            try:
                sandbox.cgroup.abandon()
            except RuntimeFailure:
                pass
        message = str(e) if isinstance(e, RuntimeFailure) else f"sandbox: {e.strerror or e}"
        _report(ready, f"ERROR {message}")
        os._exit(1)
    _report(ready, f"OK {sandbox.init_pid}", sandbox.tty_master)
    if sandbox.tty_master is not None:
        os.close(sandbox.tty_master)
    from sentry import loader

    loader.prepare()  # what the first exec needs, while the caller saves state and starts
    if profile_file is not None:  # where the sentry's time goes (benchmarks/README.md)
        import cProfile
        import marshal

        profiler = cProfile.Profile()
        profiler.enable()

        def dump() -> None:
            profiler.disable()
            profiler.create_stats()
            marshal.dump(profiler.stats, profile_file)  # pstats.Stats() reads this
            profile_file.close()

        sandbox.on_exit = dump
    sandbox.serve()


def _report(ready: socket.socket, message: str, fd: int | None = None) -> None:
    from gofer.protocol import send_message

    try:
        send_message(ready, message.encode(errors="replace"), -1 if fd is None else fd)
    except OSError as e:
        if e.errno not in (errno.EPIPE, errno.ECONNREFUSED, errno.ECONNRESET):
            raise
    finally:
        ready.close()
