"""The shape of the syscall table's entries."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from sentry.platform.bpf import ArgRule

if TYPE_CHECKING:
    from sentry.syscalls.result import Result
    from sentry.task import Task

Handler = Callable[["Task"], "Result"]


class Support(enum.Enum):
    NATIVE = "native"  # runs in the host kernel untrapped (fd- and memory-local)
    FULL = "full"  # emulated by the sentry
    PARTIAL = "partial"  # emulated, with the limits in its note
    ERROR = "error"  # refused with an errno, logged


@dataclass(frozen=True)
class Syscall:
    name: str
    support: Support
    handler: Handler | None = None
    native_when: ArgRule | None = None  # NATIVE only while this argument rule holds
    native_with_cap: int | None = None  # NATIVE only when the spec grants this capability
    note: str = ""
    errno: int = 0
