"""What a handler may return besides an integer."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstallFd:
    """Install this sentry-held fd into the task (ADDFD) as the syscall's result; the
    dispatcher closes the sentry's copy."""

    fd: int
    cloexec: bool = False


class _Continue:
    """Let the host kernel run the call as the task made it (SECCOMP_USER_NOTIF_FLAG_
    CONTINUE). Only for calls whose pointer arguments decide nothing the sentry guards;
    every use says why next to its handler."""

    def __repr__(self) -> str:
        return "CONTINUE"


CONTINUE = _Continue()

Result = int | InstallFd | _Continue
