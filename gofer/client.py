"""The sentry's side of the gofer protocol."""
from __future__ import annotations

import errno
import os
import socket

from gofer.protocol import FIFO, REDIRECT, REPLY, Op, Request, recv_message, send_message


class GoferFifo(Exception):
    """The path is a FIFO opened for blocking: the kernel is to open it in the task."""


class GoferError(OSError):
    pass


class GoferRedirect(Exception):
    """The path leads, through a symlink, out of the container tree (into one of the
    sentry's synthetic mounts, say): resolve `path` (absolute) over the mount table."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class GoferClient:
    """One request at a time: the sentry is single-threaded."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send_root(self, root_fd: int, userns_fd: int = -1,
                  hidden: tuple[int, int] = (0, 0)) -> None:
        """The container root, the tasks' user namespace when it is not the sentry's
        (the gofer serves them from inside it), and the sentry's skeleton in the tree:
        its device, where what resolves reads as absent, but for the inode of its file
        that masks paths."""
        send_message(self.sock, Request(Op.ROOT, a=(*hidden, 0, 0)).encode(), root_fd,
                     userns_fd)

    def call(self, req: Request) -> tuple[int, bytes, int]:
        """Returns (value, payload, fd or -1); raises OSError with the gofer's errno,
        or GoferRedirect."""
        send_message(self.sock, req.encode(), -1)
        data, fds = recv_message(self.sock)
        if len(data) < REPLY.size:
            for fd in fds:
                os.close(fd)
            raise GoferError(errno.EIO, "the gofer hung up")
        err, value = REPLY.unpack_from(data)
        if err:
            raise GoferError(err, errno.errorcode.get(err, str(err)))
        if value == FIFO:
            raise GoferFifo()
        if value == REDIRECT:
            for fd in fds:
                os.close(fd)
            raise GoferRedirect(os.fsdecode(data[REPLY.size:]))
        return value, data[REPLY.size:], fds[0] if fds else -1

    def shutdown(self) -> None:
        try:
            send_message(self.sock, Request(Op.SHUTDOWN).encode(), -1)
        except OSError:
            pass
