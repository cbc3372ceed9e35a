"""The gofer's C hot path (gofer/_native/fast.c) behind a small Python face (cffi).

FastPath.next() stands in for recv_message() in the gofer's loop: it serves in C the
STAT, one-path OPEN and EXEC requests of a caller whose credentials the gofer already
runs with, and returns the first request that is Python's (or b"" when the sentry hung up).
Python tells it the credentials after each switch (set_creds) and forgets them before
one (forget_creds), so C never serves a request with credentials it was not asked for.
"""
from __future__ import annotations

import errno
import socket

try:
    from gofer._native._fast import ffi, lib
except ImportError:  # not built (python -m gofer._native.build): Python serves all
    ffi = lib = None

from gofer.protocol import MAX_MESSAGE, TRUNCATED


class FastPath:
    def __init__(self, sock: socket.socket, root: int, open_flags: int, resolve: int,
                 hidden: tuple[int, int]) -> None:
        self.sock = sock.fileno()
        self.buf = ffi.new("char[]", MAX_MESSAGE + 1)
        lib.gofer_fast_config(root, open_flags, resolve)
        lib.inroot_hide(*hidden)
        lib.gofer_fast_set_creds(0, 0, 0, 0, ffi.NULL, 0)

    @classmethod
    def available(cls) -> bool:
        return lib is not None

    def next(self) -> bytes:
        """The next request Python is to serve; b"" when the sentry hung up. Raises
        OSError (ConnectionError when the socket broke) as recv_message would."""
        n = lib.gofer_fast_serve(self.sock, self.buf, MAX_MESSAGE)
        if n == -errno.EMSGSIZE:
            return TRUNCATED
        if n < 0:
            raise OSError(-n, errno.errorcode.get(-n, str(-n)))
        return ffi.buffer(self.buf, n)[:]

    def set_creds(self, fsuid: int, fsgid: int, groups: tuple[int, ...], caps: int) -> None:
        lib.gofer_fast_set_creds(1, fsuid, fsgid, caps, ffi.new("uint32_t[]", groups) if
                                 groups else ffi.NULL, len(groups))

    def forget_creds(self) -> None:
        lib.gofer_fast_set_creds(0, 0, 0, 0, ffi.NULL, 0)
