"""Platforms: how the workload's trapped syscalls reach the sentry.

Both serve the same syscall table with the same handlers (sentry.kernel.answer); they
differ only in how a call is trapped and answered:

  seccomp  the filter returns SECCOMP_RET_USER_NOTIF; the sentry receives notifications
           on a listener fd per task tree and answers with NOTIF_SEND / NOTIF_ADDFD.
  ptrace   the filter returns SECCOMP_RET_TRACE; the sentry traces every task
           (PTRACE_SEIZE), answers through registers and installs fds by running
           syscalls in the stopped task. For hosts without user notification or ADDFD.
"""
from __future__ import annotations

PLATFORMS = ("seccomp", "ptrace")
FILTER_MESSAGE = b"FILTER "  # + filter_program(): to a task that waits for its filter


def filter_program(platform: str, capabilities: int) -> bytes:
    """The workload's filter: the table's NATIVE syscalls allowed (those native only
    with a capability, when the spec's bounding set `capabilities` holds it, as
    Docker's profile reads the container's capabilities), the rest trapped to the
    platform."""
    from sentry.platform.bpf import SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF, build_filter
    from sentry.syscalls.support import Support
    from sentry.syscalls.table import TABLE

    native = {nr: e.native_when for nr, e in TABLE.items()
              if e.support is Support.NATIVE or e.native_when is not None
              or (e.native_with_cap is not None and capabilities >> e.native_with_cap & 1)}
    trap = SECCOMP_RET_USER_NOTIF if platform == "seccomp" else SECCOMP_RET_TRACE
    return build_filter(native, trap)


def needs_listener(platform: str) -> bool:
    """Whether each task tree's filter comes with a listener fd for the sentry (the
    platform's `needs_listener`, known without importing it)."""
    return platform == "seccomp"


def make(platform: str):  # noqa: ANN201 - SeccompPlatform | PtracePlatform
    if platform == "ptrace":
        from sentry.platform.ptrace import PtracePlatform

        return PtracePlatform()
    from sentry.platform.seccomp import SeccompPlatform

    return SeccompPlatform()


def reap_children() -> list[tuple[int, int]]:
    """Every exit that is ready, as (pid, wait status). On the ptrace platform the
    same wait also reports the tracees' stops, which are handled on the way: nothing
    else in the sentry may wait for "any child"."""
    from sentry._native._notify import ffi, lib

    exits: list[tuple[int, int]] = []
    buf = ffi.new("int[]", 2 * 64)
    while True:
        n = lib.trace_reap(buf, 64)
        exits += [(buf[2 * i], buf[2 * i + 1]) for i in range(n)]
        if n < 64:
            return exits
