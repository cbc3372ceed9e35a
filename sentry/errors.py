"""Errors a syscall handler raises; the dispatcher turns each into the task's answer."""
from __future__ import annotations

import errno


class SyscallError(Exception):
    """The syscall fails in the task with this errno (a named errno, never a bare int)."""

    def __init__(self, err: int, why: str = "") -> None:
        super().__init__(f"{errno.errorcode.get(err, err)}{': ' + why if why else ''}")
        self.errno = err


class TaskGone(Exception):
    """The notification is no longer valid: the task died or was interrupted. Nothing
    is to be done or answered for it."""
