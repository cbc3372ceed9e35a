"""The seccomp platform: user notifications, answered from the C serve loop."""
from __future__ import annotations

import errno
import logging
import os

from gofer.protocol import OPEN_FLAGS
from sentry._native._notify import ffi, lib
from sentry.fs.node import MEMFD_LINK, skeleton_identity
from sentry.kernel import Kernel, answer, log_crash
from sentry.loader import Elf, Identity
from sentry.platform import reap_children
from sentry.syscalls.numbers import SYSCALL_NAMES
from sentry.task import Task

log = logging.getLogger("runsc-py.sentry")
_kernel: Kernel | None = None
_MOUNT_KINDS = {"gofer": 1, "proc": 2}  # fastpath.c's MOUNT_GOFER, MOUNT_PROC


@ffi.def_extern(onerror=lambda *exc: log_crash(_kernel, "notification handler crashed:", exc[1]))
def sentry_handle(listener: int, notif) -> None:  # type: ignore[no-untyped-def]
    nid = notif.id

    def still_valid() -> bool:
        return bool(lib.notif_id_valid(listener, nid))

    t = Task(_kernel, notif.pid, notif.data.nr, tuple(notif.data.args), still_valid)

    def respond(val: int, error: int, flags: int) -> None:
        lib.notif_respond(listener, nid, val, error, flags)

    def install(fd: int, newfd_flags: int) -> None:
        ret = lib.notif_addfd(listener, nid, fd, newfd_flags, 1)
        if ret < 0 and ret != -errno.ENOENT:
            respond(0, ret, 0)  # e.g. EMFILE: the task's fd table is full

    later = answer(_kernel, t, respond, install)
    if later is not None:  # the task waits in its notification meanwhile
        # (a signal ends the wait: the kernel restarts or fails the call as Linux does)
        _kernel.waiting.add(later, still_valid, respond, install, SYSCALL_NAMES.get(t.nr, ""))


def _remember_loadable(identity: Identity, elf: Elf) -> None:
    """An ELF program the loader found loadable: execve of it is answered in C from now
    on (while its identity stays the same), its interpreter checked there each time."""
    lib.exec_loadable_add(identity.dev, identity.ino, identity.size, identity.mtime_ns,
                          identity.ctime_ns, os.fsencode(elf.interp or ""))


class SeccompPlatform:
    needs_listener = True  # each task tree's filter comes with its listener fd

    def attach(self, kernel: Kernel) -> None:
        """The kernel whose table answers the calls (built once the init is READY).
        The C handlers (fastpath.c) learn which mounts the gofer serves, its socket and
        the tree's root: they answer stat and open of gofer paths without Python."""
        global _kernel
        _kernel = kernel
        mounts = kernel.mounts.mounts  # longest destination first
        dests = [ffi.new("char[]", os.fsencode(m.dest)) for m in mounts]
        ret = lib.fast_configure(kernel.gofer.sock.fileno(), kernel.root_fd, OPEN_FLAGS,
                                 os.fsencode(MEMFD_LINK),
                                 ffi.new("char *[]", dests),
                                 ffi.new("int[]", [_MOUNT_KINDS.get(m.fs.name, 0)
                                                   for m in mounts]),
                                 ffi.new("int[]", [kernel.mounts.mount_id(m) for m in mounts]),
                                 len(mounts))
        if ret < 0:  # a mount table C cannot hold: every call goes to Python
            log.warning("C fast path off: %s", os.strerror(-ret))
        kernel.loader.on_elf = _remember_loadable
        if getattr(kernel, "skeleton", None):  # the synthetic mounts' directories
            lib.inroot_hide(*skeleton_identity(kernel.skeleton))

    def __init__(self) -> None:
        self.listeners: list[int] = []

    def add_task(self, pid: int, listener: int | None) -> None:
        """A new task tree (the init, an exec'd process) under its own filter."""
        assert listener is not None
        # the task waits for our answer: its notification may wake us on its own CPU
        # (Linux 6.6+; older kernels say EINVAL and wake us wherever they do)
        lib.notif_set_sync_wakeup(listener)
        self.listeners.append(listener)

    def serve(self, wake_fds: list[int], timeout_ms: int = -1) -> int:
        """Serves notifications until a wake fd is readable (returns its index) or a
        listener has no tasks left (it is closed and dropped; returns -1)."""
        while True:
            ls = ffi.new("int[]", self.listeners)
            ws = ffi.new("int[]", wake_fds)
            ret = lib.serve_loop(ls, len(self.listeners), ws, len(wake_fds), timeout_ms)
            if ret >= 0:
                return ret
            if ret == -errno.ETIMEDOUT:
                return -2
            if ret <= -1000:  # listener -1000 - ret has no tasks left
                os.close(self.listeners.pop(-1000 - ret))
                return -1
            raise OSError(-ret, "serve_loop")

    def reap(self) -> list[tuple[int, int]]:
        return reap_children()
