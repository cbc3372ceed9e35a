"""Calls that change a task's credentials: they run in the host kernel (CONTINUE), and
the sentry's credentials cache hears of each first (Task.creds_changing: the caller's
entry goes; a umask reaches every task sharing the caller's fs_struct). None of their
arguments decides anything the sentry guards: the kernel checks each change itself."""
from __future__ import annotations

from sentry.syscalls.result import CONTINUE, Result
from sentry.task import Task


def _changes_creds(t: Task) -> Result:
    t.creds_changing()
    return CONTINUE


def setuid(t: Task) -> Result:
    """setuid implements Linux syscall setuid(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def setgid(t: Task) -> Result:
    """setgid implements Linux syscall setgid(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def setreuid(t: Task) -> Result:
    """setreuid implements Linux syscall setreuid(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def setregid(t: Task) -> Result:
    """setregid implements Linux syscall setregid(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def setresuid(t: Task) -> Result:
    """setresuid implements Linux syscall setresuid(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def setresgid(t: Task) -> Result:
    """setresgid implements Linux syscall setresgid(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def setfsuid(t: Task) -> Result:
    """setfsuid implements Linux syscall setfsuid(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def setfsgid(t: Task) -> Result:
    """setfsgid implements Linux syscall setfsgid(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def setgroups(t: Task) -> Result:
    """setgroups implements Linux syscall setgroups(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def capset(t: Task) -> Result:
    """capset implements Linux syscall capset(2) (the kernel's, see the module doc)."""
    return _changes_creds(t)


def umask(t: Task) -> Result:
    """umask implements Linux syscall umask(2) (the kernel's: the sentry applies the
    caller's umask to what it creates, so its cache hears of the change, which reaches
    every task sharing the caller's fs_struct)."""
    return _changes_creds(t)
