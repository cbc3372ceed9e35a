"""The workload's mount namespace: the container tree and nothing else.

It holds the rootfs (bind-mounted nodev), the spec's bind and tmpfs mounts, and, at
/proc, /dev and /sys, read-only binds of the sentry's skeleton directories (where the
sentry materialises its synthetic directories), with the sandbox's private devpts
instance at /dev/pts. The gofer serves this same tree through
/proc/<init>/root, so the host kernel (exec, chdir) and the gofer resolve a path to the
same file. Runs in the init process, in its new mount namespace, before pivot_root
(createContainer hooks run between build() and pivot()).
"""
from __future__ import annotations

import os
import stat

from gofer.openat2_native import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2
from sentry.platform import linux_native as ln
from runsc_py import namespaces
from runsc_py.errors import RuntimeFailure
from runsc_py.spec import Mount, Spec

# Mount points the sentry serves itself (type → skeleton subdirectory or None when
# it lives inside another synthetic mount).
SYNTHETIC_TYPES = {"proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"}
SKELETON_ROOTS = ("proc", "dev", "sys")
_MOUNT_FLAGS = {
    "ro": ln.MS_RDONLY, "nosuid": ln.MS_NOSUID, "nodev": ln.MS_NODEV, "noexec": ln.MS_NOEXEC,
}
_IGNORED_OPTIONS = {"rw", "bind", "rbind", "suid", "dev", "exec", "private", "rprivate",
                    "slave", "rslave", "shared", "rshared", "relatime", "norelatime",
                    "strictatime", "noatime", "nodiratime", "sync", "async"}


def is_synthetic(m: Mount) -> bool:
    """Served by the sentry: proc, sysfs, devpts, mqueue, cgroup, and /dev itself."""
    return m.type in SYNTHETIC_TYPES or m.destination == "/dev"


class _Root:
    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def mountpoint(self, dest: str, is_dir: bool) -> str:
        """A /proc/self/fd path naming dest inside the root, created if missing and
        resolved in-root, so a symlink in the rootfs cannot send a mount elsewhere."""
        parts = [p for p in dest.split("/") if p]
        cur = os.dup(self.fd)
        try:
            for i, name in enumerate(parts):
                last = i == len(parts) - 1
                try:
                    nxt = openat2(cur, name, os.O_PATH | os.O_NOFOLLOW, 0,
                                  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
                    if stat.S_ISLNK(os.fstat(nxt).st_mode):
                        os.close(nxt)
                        rel = "/".join(parts[: i + 1])
                        nxt = openat2(self.fd, rel, os.O_PATH, 0,
                                      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
                except FileNotFoundError:
                    if last and not is_dir:
                        os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC,
                                         0o644, dir_fd=cur))
                    else:
                        os.mkdir(name, 0o755, dir_fd=cur)
                    nxt = openat2(cur, name, os.O_PATH | os.O_NOFOLLOW, 0,
                                  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
                os.close(cur)
                cur = nxt
            return f"/proc/self/fd/{cur}"
        except OSError:
            os.close(cur)
            raise


def _flags_and_data(m: Mount) -> tuple[int, str]:
    flags, data = 0, []
    for opt in m.options:
        if opt in _MOUNT_FLAGS:
            flags |= _MOUNT_FLAGS[opt]
        elif opt not in _IGNORED_OPTIONS:
            data.append(opt)
    return flags, ",".join(data)


def _bind(source: str, root: _Root, dest: str, is_dir: bool, flags: int,
          recursive: bool = True) -> None:
    target = root.mountpoint(dest, is_dir)
    try:
        ln.mount(source, target, None, ln.MS_BIND | (ln.MS_REC if recursive else 0))
    finally:
        _close_mountpoint(target)
    if flags:
        # the old fd names the directory under the new mount: resolve dest again
        target = root.mountpoint(dest, is_dir)
        try:
            _remount_bind(target, flags)
        finally:
            _close_mountpoint(target)


_STATVFS_FLAGS = ((os.ST_NOSUID, ln.MS_NOSUID), (os.ST_NODEV, ln.MS_NODEV),
                  (os.ST_NOEXEC, ln.MS_NOEXEC), (os.ST_RDONLY, ln.MS_RDONLY))


def _remount_bind(target: str, flags: int) -> None:
    """A bind mount's flags changed to flags. In a user namespace (rootless), the kernel
    locks the nosuid, nodev, noexec and ro of the mounts the namespace inherited: a
    remount that would clear one is refused, so those of the mount are kept, as runc
    keeps them."""
    if not namespaces.in_initial_user_ns():
        st = os.statvfs(target).f_flag
        flags |= sum(ms for st_flag, ms in _STATVFS_FLAGS if st & st_flag)
    ln.mount("none", target, None, ln.MS_REMOUNT | ln.MS_BIND | flags)


def _tmpfs_owner(spec: Spec, data: str) -> str:
    """A tmpfs's options with its root's uid= and gid= (container ids, 0 if not given)
    as the host numbers them: the tree is built as host root, before the user
    namespace, where runc mounts it from inside (so its root is the container's)."""
    if not spec.uid_mappings:
        return data
    ids = {"uid": 0, "gid": 0}
    kept = []
    for opt in filter(None, data.split(",")):
        key, _, value = opt.partition("=")
        if key in ids:
            if not value.isdigit():
                raise RuntimeFailure(f"tmpfs option {opt}: not a number")
            ids[key] = int(value)
        else:
            kept.append(opt)
    uid, gid = spec.host_ids(ids["uid"], ids["gid"])
    return ",".join([*kept, f"uid={uid}", f"gid={gid}"])


def _close_mountpoint(path: str) -> None:
    os.close(int(path.rsplit("/", 1)[1]))


def build(spec: Spec, skeleton: str) -> None:
    """Builds the container tree at the rootfs path (pivot() then enters it)."""
    ln.mount("none", "/", None, ln.MS_REC | ln.MS_PRIVATE)
    root_path = str(spec.root_path)
    ln.mount(root_path, root_path, None, ln.MS_BIND | ln.MS_REC)
    root = _Root(root_path)

    # The sentry's read-only skeletons: /proc, /dev, /sys never reach the host's.
    synthetic_flags = ln.MS_RDONLY | ln.MS_NOSUID | ln.MS_NODEV | ln.MS_NOEXEC
    for name in SKELETON_ROOTS:
        _bind(os.path.join(skeleton, name), root, "/" + name, True, synthetic_flags,
              recursive=False)
    # The sandbox's own devpts instance (boot.py makes it beside the skeleton) under
    # /dev/pts, as runc mounts one: the kernel opens a terminal by its path there
    # (sys_file.do_open), so that it can become the caller's controlling terminal.
    _bind(os.path.join(os.path.dirname(skeleton), "devpts"), root, "/dev/pts", True,
          ln.MS_RDONLY | ln.MS_NOSUID | ln.MS_NOEXEC, recursive=False)

    for m in spec.mounts:
        if is_synthetic(m):
            continue
        if _in_synthetic(m.destination):
            # under /dev, /proc or /sys (the kubelet's /dev/termination-log): the mount
            # point goes into the sentry's skeleton, read-only from the container side
            _skeleton_mountpoint(skeleton, m)
        flags, data = _flags_and_data(m)
        flags |= ln.MS_NODEV  # device files are the sentry's: none in the tree opens
        try:
            if m.is_bind:
                if not os.path.exists(m.source):
                    raise RuntimeFailure(f"mount {m.destination}: source {m.source} does not exist")
                _bind(m.source, root, m.destination, os.path.isdir(m.source),
                      flags | ln.MS_NOSUID)
            elif m.type == "tmpfs":
                target = root.mountpoint(m.destination, True)
                try:
                    ln.mount("tmpfs", target, "tmpfs", flags | ln.MS_NOSUID,
                             _tmpfs_owner(spec, data) or None)
                finally:
                    _close_mountpoint(target)
            else:
                raise RuntimeFailure(
                    f"mount {m.destination}: unsupported type {m.type or '(none)'}")
        except OSError as e:
            raise RuntimeFailure(f"mount {m.destination}: {e.strerror}") from None

    _mask_and_protect(spec, root, skeleton)

    # the rootfs itself: no devices, and read-only if asked
    _remount_bind(root_path, ln.MS_NODEV | (ln.MS_RDONLY if spec.root_readonly else 0))

    os.close(root.fd)


def pivot(spec: Spec) -> None:
    """Makes the built tree the root of this mount namespace, the host's tree gone."""
    os.chdir(str(spec.root_path))
    ln.pivot_root(".", ".")
    ln.umount(".", ln.MNT_DETACH)
    os.chdir("/")


def _skeleton_mountpoint(skeleton: str, m: Mount) -> None:
    target = os.path.join(skeleton, m.destination.lstrip("/"))
    is_dir = m.type == "tmpfs" or os.path.isdir(m.source)
    os.makedirs(target if is_dir else os.path.dirname(target), mode=0o755, exist_ok=True)
    if not is_dir and not os.path.lexists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _in_synthetic(path: str) -> bool:
    return any(path == "/" + r or path.startswith("/" + r + "/") for r in SKELETON_ROOTS)


def _mask_and_protect(spec: Spec, root: _Root, skeleton: str) -> None:
    """maskedPaths and readonlyPaths inside the container tree (those under /proc, /dev
    and /sys are the sentry's to honour)."""
    for path in spec.masked_paths:
        path = os.path.normpath(path)
        if _in_synthetic(path) or not os.path.lexists(root.path + path):
            continue
        if os.path.isdir(root.path + path):
            target = root.mountpoint(path, True)
            try:
                ln.mount("tmpfs", target, "tmpfs", ln.MS_RDONLY | ln.MS_NOSUID | ln.MS_NODEV,
                         "size=0")
            finally:
                _close_mountpoint(target)
        else:
            _bind(os.path.join(skeleton, "masked"), root, path, False,
                  ln.MS_RDONLY | ln.MS_NOSUID | ln.MS_NODEV | ln.MS_NOEXEC, recursive=False)
    for path in spec.readonly_paths:
        path = os.path.normpath(path)
        if _in_synthetic(path) or not os.path.lexists(root.path + path):
            continue
        is_dir = os.path.isdir(root.path + path)
        target = root.mountpoint(path, is_dir)
        try:
            _bind(target, root, path, is_dir, ln.MS_RDONLY | ln.MS_NOSUID | ln.MS_NODEV)
        finally:
            _close_mountpoint(target)
