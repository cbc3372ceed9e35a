"""Namespace paths in a spec that name another runsc-py sandbox.

A caller that shares a container's namespaces (the CRI joining a pod's pause container,
`podman --pod`) names them as /proc/<pid>/ns/<kind> with the pid that `create` gave it,
which is that sandbox's sentry: a host process in the host's namespaces. The namespaces
meant are those of the sandbox's init, the sentry's child that is pid 1 of its own pid
namespace."""
from __future__ import annotations

import dataclasses
import re

from runsc_py.spec import Namespace, Spec

_NS_PATH = re.compile(r"^/proc/(\d+)/ns/(\w+)$")
SENTRY_TITLE = b"runsc-py-sentry"


def sandbox_init(sentry_pid: int) -> int | None:
    """The init of the sandbox whose sentry is sentry_pid, or None if it is no sentry."""
    try:
        with open(f"/proc/{sentry_pid}/cmdline", "rb") as f:
            if not f.read().startswith(SENTRY_TITLE):
                return None
        with open(f"/proc/{sentry_pid}/task/{sentry_pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return None
    for child in children:
        try:
            with open(f"/proc/{child}/status") as f:
                nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
        except OSError:
            continue
        if len(nspid) >= 2 and nspid[-1] == "1":
            return child
    return None


def resolve(spec: Spec) -> Spec:
    """The spec with namespace paths into a runsc-py sandbox pointed at its init."""
    changed = []
    for ns in spec.namespaces:
        m = _NS_PATH.match(ns.path)
        init = sandbox_init(int(m.group(1))) if m else None
        if m and init is not None:
            ns = Namespace(ns.type, f"/proc/{init}/ns/{m.group(2)}")
        changed.append(ns)
    return dataclasses.replace(spec, namespaces=tuple(changed))
