"""What the runtime tells the sentry about one sandbox: everything spec-derived the
sentry needs, and nothing of the OCI spec's own shape."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MountSpec:
    destination: str
    kind: str  # "gofer" (rootfs, bind, tmpfs) or a synthetic: proc, sysfs, devpts, mqueue, cgroup
    source: str = "none"
    fstype: str = "none"
    readonly: bool = False


@dataclass(frozen=True)
class SandboxConfig:
    container_id: str
    hostname: str
    mounts: tuple[MountSpec, ...]
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    kernel_release: str = "6.1.0-runsc-py"
    kernel_version: str = "#1 SMP runsc-py"
    log_path: str | None = None
    log_format: str = "text"
    debug: bool = False
    platform: str = "seccomp"  # sentry.platform.PLATFORMS
    pin_sentry: bool = True  # the sentry and the gofer kept on one CPU
    rootless: bool = False  # the whole sandbox in a user namespace mapping the caller's ids
    env: tuple[str, ...] = field(default=())
