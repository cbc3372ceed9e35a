"""The gofer confines itself once it holds the container root (issue 3, item 5).

1. It sees only its mounts: a mount namespace of its own whose root is an empty,
   read-only tmpfs holding nothing but a procfs for the `/proc/self/fd/N` idiom of the
   O_PATH-fd operations. The gofer is the only process of its pid namespace
   (runsc_py/boot.py forks it so), and the procfs is that namespace's, with pid
   directories only (subset=pid) of processes it may ptrace (hidepid=invisible): it
   shows the gofer alone. (Where the sentry cannot make it that pid namespace, outside
   the host's user namespace, e.g. rootless: a copy of the /proc it has.)
   Every file it serves is reached through the root fd it was handed (openat2 with
   RESOLVE_IN_ROOT), never by a host path.
2. With a user namespace of the workload's, it enters it (its capabilities are then
   that namespace's: see confine_gofer).
3. Capabilities: exactly what a file server acting with its callers' credentials needs
   (the permitted set, which gofer.creds_native.switch_to raises back to per request).
   The bounding set is cut to the same list.
4. A seccomp allowlist (no_new_privs first): anything else kills the gofer, and a dead
   gofer stops the sandbox (the sentry kills the init when it reaps the gofer).
"""
from __future__ import annotations

import os

from sentry.platform import confine_native as cn

GOFER_CAPS = (
    "CAP_CHOWN",           # chown for callers that hold it
    "CAP_DAC_OVERRIDE",    # ... and the DAC bypasses of a root caller
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",          # chmod/utimes of others' files
    "CAP_FSETID",          # keep set-id bits on chmod/chown
    "CAP_SETUID",          # setfsuid per request
    "CAP_SETGID",          # setfsgid/setgroups per request
)

# What the gofer's Python code makes the kernel do while serving: found with
# `strace -f` over the whole test suite, plus what CPython and glibc may do at any time
# (memory, signals, futexes, time). No open/openat by name (openat2 relative to the
# root fd does all), no exec, no fork, no mount, no socket creation, no ptrace.
GOFER_SYSCALLS = frozenset({
    # CPython runtime and glibc
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "getrandom",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "clock_gettime",
    "gettimeofday", "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid",
    "sched_yield", "exit", "exit_group", "restart_syscall", "set_robust_list", "rseq",
    # the socket to the sentry
    "recvmsg", "sendmsg", "recvfrom", "sendto", "read", "write", "poll", "ppoll",
    # fds
    "close", "fcntl", "dup", "fstat", "newfstatat", "statx", "lseek", "ioctl",
    # the file operations, all relative to an fd
    "openat2", "mkdirat", "mknodat", "unlinkat", "renameat2", "renameat", "symlinkat",
    "linkat", "readlinkat", "fchmodat", "fchmodat2", "fchownat", "utimensat",
    "ftruncate", "truncate", "fstatfs", "statfs", "faccessat2", "faccessat", "getdents64",
    "chmod",  # os.chmod("/proc/self/fd/N"): nothing else is nameable in its root
    # extended attributes (through /proc/self/fd/N of an fd it holds)
    "getxattr", "lgetxattr", "setxattr", "lsetxattr", "listxattr", "llistxattr",
    "removexattr", "lremovexattr",
    # per-request credentials
    "setfsuid", "setfsgid", "setgroups", "getgroups", "capget", "capset",
})


def confine_gofer(root_fd: int, userns_fd: int = -1) -> None:
    """Called in the gofer right after it has received root_fd (which keeps working:
    it names the container root however the gofer's own root changes), and the tasks'
    user namespace when they have one of their own: the gofer then serves them from
    inside it, so that the kernel applies that namespace's rules to every request (its
    ids mapped to the host's, its capabilities only over files whose owners it maps),
    and the gofer keeps no privilege over the host."""
    _private_root()
    if userns_fd >= 0:
        cn.setns(userns_fd, cn.CLONE_NEWUSER)
        os.close(userns_fd)
    cn.prctl(cn.PR_SET_DUMPABLE, 0)  # no /proc/PID/{mem,fd,root} of the gofer for others
    cn.keep_only_caps(GOFER_CAPS)
    cn.install_allowlist(GOFER_SYSCALLS)
    del root_fd


def _private_root() -> None:
    cn.unshare(cn.CLONE_NEWNS)
    cn.mount(None, "/", None, cn.MS_REC | cn.MS_PRIVATE)
    # /proc exists in every root the gofer may start from (the host's, or the sentry's
    # own confined root if the sentry pivoted first in the namespace they shared).
    new_root = "/proc"
    host_proc = cn.clone_tree("/proc")  # (for rootless, below: it is hidden next)
    cn.mount("tmpfs", new_root, "tmpfs", cn.MS_NOSUID | cn.MS_NODEV | cn.MS_NOEXEC,
             "mode=0555,size=16k,nr_inodes=16")
    os.mkdir(f"{new_root}/proc", 0o555)
    try:
        cn.mount("proc", f"{new_root}/proc", "proc",
                 cn.MS_NOSUID | cn.MS_NODEV | cn.MS_NOEXEC, "subset=pid,hidepid=invisible")
    except PermissionError:
        # rootless: a procfs of the host's pid namespace is not the sandbox user
        # namespace's to mount; a copy of the one it has (whose other pids it may
        # not act on, and the allowlist names no path but /proc/self/fd/N) instead
        cn.attach_tree(host_proc, f"{new_root}/proc")
    finally:
        os.close(host_proc)
    cn.pivot_into(new_root)
    cn.remount_readonly("/", cn.MS_NOSUID | cn.MS_NODEV | cn.MS_NOEXEC)
