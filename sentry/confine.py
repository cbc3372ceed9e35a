"""The sentry confines itself once the sandbox is built (issue 3, item 5): after the
init is waiting, the gofer started and the control socket bound.

1. Filesystem: in its private mount namespace the sentry pivots into a fresh tmpfs that
   holds bind mounts of exactly what it still uses, each at its host path:
     /proc                       host procfs (tasks' status, mem, fd/N, cwd, ns by host pid)
     /dev/{null,zero,full,random,urandom,tty}   the host devices devfs hands out
     the state dir               control socket (unlinked at shutdown) and the sentry-fs
                                 tmpfs with the skeleton and the private devpts
     the sandbox's cgroup dirs   (extra_dirs) its own cgroup in each hierarchy
     the Python installation and sys.path, read-only, for lazy imports
   Nothing else of the host (no /etc, /home, /root, /var, no container bundle) can be
   named any more.
2. Capabilities: what serving the sandbox takes (see SENTRY_CAPS); no CAP_SYS_ADMIN, so
   no mount, setns, unshare, pivot_root, BPF or seccomp-listener games even if the
   allowlist had a hole. The bounding set goes too.
3. A seccomp allowlist (no_new_privs first): anything else kills the sentry, and a dead
   sentry takes the sandbox with it (PDEATHSIG of the init and the gofer). Not allowed:
   execve/execveat, fork/clone/clone3/vfork (new sandbox processes come from the
   spawner, forked before confinement), mount family, pivot_root, setns/unshare, ptrace,
   bpf, perf_event_open, open_by_handle_at, kexec/modules, keyctl, io_uring, socket
   creation (the control socket and the gofer's are already there; accept4 remains).
"""
from __future__ import annotations

import os
import sys

from sentry.platform import confine_native as cn

SENTRY_CAPS = (
    "CAP_SYS_PTRACE",       # process_vm_readv/writev and /proc/PID/mem of any task
    "CAP_DAC_OVERRIDE",     # /proc/PID/{fd,cwd,root,...} and reopening of other uids' fds
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",           # fchmod/fchown of sentry-made files for tasks of other uids
    "CAP_FSETID",           # a caller's, for the files fastpath.c creates or truncates
    "CAP_CHOWN",            # the pty slave of an exec'd process belongs to its uid
    "CAP_KILL",             # signals to sandbox tasks of any uid
    "CAP_SETUID",           # setfsuid, setfsgid, setgroups to a caller's for a reopen
    "CAP_SETGID",           # of its fd (sentry/fs/reopen.py): the caller's checks
)

SENTRY_SYSCALLS = frozenset({
    # CPython runtime and glibc
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "getrandom",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "clock_gettime",
    "clock_nanosleep", "nanosleep", "gettimeofday", "getpid", "gettid", "getppid",
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
    "sched_yield", "sched_getaffinity", "exit", "exit_group", "restart_syscall",
    "set_robust_list", "rseq", "prlimit64", "getrlimit", "uname", "sysinfo",
    "getcwd", "chdir", "fchdir", "umask", "times", "getrusage",
    # fds and polling (seccomp listeners, control and gofer sockets, signal wakeup pipe)
    "read", "write", "pread64", "pwrite64", "readv", "writev", "close", "close_range",
    "dup", "dup2", "dup3", "fcntl", "ioctl", "lseek", "poll", "ppoll", "select",
    "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "pipe2",
    "recvmsg", "sendmsg", "recvfrom", "sendto", "accept4", "accept", "shutdown",
    "getsockopt", "setsockopt", "getsockname", "getpeername", "socketpair",
    # tasks: their memory, fds (ADDFD goes through ioctl), signals, reaping
    "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "kill", "tgkill", "tkill", "rt_sigqueueinfo", "wait4",
    "waitid",
    # host files it still may read: /proc, /dev nodes, its tmpfs, the state dir, Python
    "open", "openat", "openat2", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs",
    "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat",
    "getdents64", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "symlink",
    "symlinkat", "rename", "renameat", "renameat2", "ftruncate",  # (its own tmpfs)
    "fchmod", "fchown", "fsync", "fdatasync",
    "utimensat",  # the times of a task's unlinked file, through an O_PATH fd of it
    # synthetic files are sealed memfds
    "memfd_create",
    # the capability calls of gofer.creds-like code paths and prctl reads
    "capget", "capset", "prctl",  # (capset: fastpath.c's direct answers)
    # a reopen of a task's fd checked with the caller's credentials (sentry/fs/reopen.py),
    # and whether a FIFO it waits on has a writer (tee of nothing)
    "setfsuid", "setfsgid", "setgroups", "tee",
})


def _python_paths() -> list[str]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repo
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, here}
    paths.update(os.path.abspath(p) for p in sys.path if p)
    existing = sorted(os.path.realpath(p) for p in paths if os.path.isdir(p))
    out: list[str] = []
    for p in existing:  # drop what a shorter bound path already covers
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return out


DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def _bind(src: str, new_root: str, readonly: bool, is_dir: bool,
          recursive: bool = True) -> None:
    dst = new_root + src
    if is_dir:
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w"):
            pass
    cn.mount(src, dst, None, cn.MS_BIND | (cn.MS_REC if recursive else 0))
    if readonly:
        cn.remount_readonly(dst, cn.MS_NOSUID | cn.MS_NODEV)


def _preimport() -> None:
    """Modules the sentry imports only when a call needs them, loaded while every
    path still resolves (the read-only Python bind is there for anything missed)."""
    import sentry.fs.devfs  # noqa: F401, PLC0415
    import sentry.fs.procfs  # noqa: F401, PLC0415
    import sentry.fs.synthetic  # noqa: F401, PLC0415
    import sentry.fs.sysfs  # noqa: F401, PLC0415
    import gofer.protocol  # noqa: F401, PLC0415
    import traceback  # noqa: F401, PLC0415


def confine_sentry(state_dir: str, sentry_fs: str, extra_dirs: tuple[str, ...] = (),
                   tracer: bool = False) -> None:
    """Called by the sentry at the end of Sandbox.create (its mount namespace is already
    private: _make_sentry_fs unshared it). state_dir holds the control socket,
    sentry_fs (inside it) the skeleton and the private devpts; extra_dirs are host
    directories it keeps using by name, read-write (the sandbox's own cgroup
    directories: exec, pause/resume, update, stats). A tracer (the ptrace platform) keeps
    ptrace(2) itself; the seccomp platform's sentry does not need it."""
    _preimport()
    state_dir = os.path.realpath(state_dir)
    sentry_fs = os.path.realpath(sentry_fs)
    cn.mount(None, "/", None, cn.MS_REC | cn.MS_PRIVATE)
    new_root = os.path.join(state_dir, ".sentry-root")
    os.makedirs(new_root, exist_ok=True)
    cn.mount("tmpfs", new_root, "tmpfs", cn.MS_NOSUID | cn.MS_NODEV | cn.MS_NOEXEC,
             "mode=0755,size=64k")
    _bind("/proc", new_root, readonly=False, is_dir=True)
    for dev in DEVICES:
        if os.path.exists(f"/dev/{dev}"):
            _bind(f"/dev/{dev}", new_root, readonly=False, is_dir=False)
    # the state dir itself without its submounts (new_root is one), then the sentry-fs
    # tmpfs with its devpts
    _bind(state_dir, new_root, readonly=False, is_dir=True, recursive=False)
    _bind(sentry_fs, new_root, readonly=False, is_dir=True)
    for path in extra_dirs:
        _bind(os.path.realpath(path), new_root, readonly=False, is_dir=True)
    for path in _python_paths():
        if not (path == state_dir or path.startswith(state_dir + "/")):
            _bind(path, new_root, readonly=True, is_dir=True)
    cn.pivot_into(new_root)
    cn.remount_readonly("/", cn.MS_NOSUID | cn.MS_NODEV | cn.MS_NOEXEC)
    cn.prctl(cn.PR_SET_DUMPABLE, 0)
    cn.keep_only_caps(SENTRY_CAPS)
    if os.environ.get("RUNSC_PY_TEST_FORBIDDEN") == "sentry":
        _arm_test_hook()
    cn.install_allowlist(SENTRY_SYSCALLS | ({"ptrace"} if tracer else set()))


def _arm_test_hook() -> None:
    """TEST HOOK (tests/security/test_self_confinement.py): with
    RUNSC_PY_TEST_FORBIDDEN=sentry, the serving sentry makes a forbidden syscall 1.5 s
    after confining itself (from a SIGALRM handler: the serve loop wakes for it)."""
    import signal  # noqa: PLC0415

    signal.signal(signal.SIGALRM, lambda *_: cn.forbidden_syscall())
    signal.setitimer(signal.ITIMER_REAL, 1.5)
