"""The seccomp user-notification platform's kernel interface: installing the filter
(ctypes, in the workload before execve) and answering notifications (cffi)."""
from __future__ import annotations

import ctypes
import os

SYS_seccomp = 317
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1

_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_filter(program: bytes, new_listener: bool) -> int:
    """Installs the filter on the calling thread; returns the listener fd (O_CLOEXEC,
    as the kernel makes it) or 0. No-new-privileges or CAP_SYS_ADMIN must be held."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    flags = 0
    if new_listener:
        flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    ret = _libc.syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(prog))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SET_MODE_FILTER): {os.strerror(err)}")
    return ret
