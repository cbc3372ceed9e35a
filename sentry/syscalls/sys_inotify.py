"""inotify watches by path."""
from __future__ import annotations

import os

from sentry.syscalls.result import CONTINUE, Result
from sentry.task import AT_FDCWD, Task

IN_DONT_FOLLOW = 0x02000000


def inotify_add_watch(t: Task) -> Result:
    """inotify_add_watch implements Linux syscall inotify_add_watch(2).

    The sentry checks that the path exists and may be read by the caller; the host
    kernel then adds the watch (CONTINUE) on the inotify fd the task holds, resolving
    the same path in the workload's mount namespace, which holds only the container
    tree: a path swapped after the check can only watch another container file, and
    the kernel checks read permission itself. Synthetic files never change, so a
    watch on one (in the read-only skeleton) just never fires."""
    path = t.read_path(t.args[1])
    p = t.kernel.mounts.resolve(t, AT_FDCWD, path)
    follow = not t.args[2] & IN_DONT_FOLLOW
    t.kernel.mounts.follow(lambda q: q.fs.access(t, q, os.R_OK, follow), t, p)
    return CONTINUE
