"""What a handler may return besides an integer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class InstallFd:
    """Install this sentry-held fd into the task (ADDFD) as the syscall's result; the
    dispatcher closes the sentry's copy."""

    fd: int
    cloexec: bool = False


@dataclass(frozen=True)
class RunInstead:
    """Run this call in the task in place of the trapped one, with these register
    arguments. Only the ptrace platform can (it sets the registers); the seccomp
    platform answers ENOSYS instead."""

    nr: int
    args: tuple[int, int, int, int, int, int]


class _Continue:
    """Let the host kernel run the call as the task made it (SECCOMP_USER_NOTIF_FLAG_
    CONTINUE). Only for calls whose pointer arguments decide nothing the sentry guards;
    every use says why next to its handler."""

    def __repr__(self) -> str:
        return "CONTINUE"


CONTINUE = _Continue()

@dataclass(frozen=True)
class Later:
    """The answer is not known yet, and waiting for it is not the serve loop's to do
    (an open that waits for a FIFO's peer): the task stays in its call while the loop
    serves the others and asks poll() again on each of its ticks, until poll() returns
    the Result (or raises the SyscallError) to answer with. cancel() releases what
    poll() holds when the task stops waiting (a signal, its death)."""

    poll: Callable[[], "Result | None"]
    cancel: Callable[[], None] = lambda: None


Result = int | InstallFd | RunInstead | _Continue | Later
