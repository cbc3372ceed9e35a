"""The syscall table: every x86_64 syscall the sandbox knows, with how it is served.

NATIVE entries run in the host kernel untrapped: they act on fds the task already
holds, on its own memory, threads and signals (which its pid namespace confines), or
on namespaced state (IPC, network) that is the sandbox's own. Their argument rules
keep the dangerous corners (namespace-creating clone flags, unknown socket families,
ioctls outside a known-safe set, a second seccomp listener) trapped. FULL and PARTIAL
entries are emulated by the sentry. ERROR entries are refused with an errno and logged.
A syscall absent from this table is refused with ENOSYS and logged as unsupported.
`runsc-py help syscalls` prints this table.
"""
from __future__ import annotations

import errno

from sentry.platform.bpf import AllOf, AnyOf, ArgIn, ArgMaskClear, ArgNotIn
from sentry.syscalls import (
    sys_file,
    sys_identity,
    sys_inotify,
    sys_ptrace,
    sys_read_write,
    sys_refused,
    sys_stat,
    sys_sysinfo,
    sys_thread,
    sys_utsname,
    sys_xattr,
)
from sentry.syscalls.numbers import SYSCALL_NUMBERS
from sentry.syscalls.support import Handler, Support, Syscall

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
# Netlink protocols that act on the caller's own network namespace and that `ip` and
# `ss` need: interfaces, addresses, routes (ROUTE) and the socket tables (SOCK_DIAG).
# The others stay refused: audit and uevents are the host's, and generic netlink,
# netfilter, xfrm and the rest are host-kernel surface no container tool here needs.
NETLINK_ROUTE, NETLINK_SOCK_DIAG = 0, 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
CAP_SYS_PTRACE = 19
# personality(2) values Docker's default profile lets through: PER_LINUX, PER_LINUX32,
# UNAME26 alone and with PER_LINUX32, and the query. Not ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC
# and the other flags that weaken the task's own defences or change the ABI.
SAFE_PERSONAS = frozenset({0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF})
# Calls that reach into another task's memory or files: as in Docker's default profile,
# native only for a sandbox whose spec grants CAP_SYS_PTRACE (the kernel's own ptrace
# access checks then apply), EPERM otherwise.
PTRACE_CALLS = ("process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp")
SEEK_SET, SEEK_CUR, SEEK_DATA, SEEK_HOLE = 0, 1, 3, 4

# ioctl requests that act only on the fd's own file and leak nothing of the host:
# terminal attributes and sizes, pty allocation, fd flags, bytes readable, socket and
# interface queries (the sandbox has its own network namespace). TIOCSTI (typing into
# a terminal), TIOCLINUX and TIOCCONS are deliberately absent.
SAFE_IOCTLS = frozenset({
    0x5401, 0x5402, 0x5403, 0x5404, 0x5405, 0x5406, 0x5407, 0x5408,  # TCGETS..TCSETAF
    0x5409, 0x540A, 0x540B, 0x540C, 0x540D, 0x540E, 0x540F, 0x5410,  # TCSBRK..TIOCSPGRP
    0x5411, 0x5413, 0x5414, 0x541B, 0x5420, 0x5421, 0x5422, 0x5429,  # ..FIONBIO TIOCNOTTY TIOCGSID
    0x5441, 0x5450, 0x5451, 0x5452, 0x5456,  # TIOCGPTPEER FIONCLEX FIOCLEX FIOASYNC
    0x802C542A, 0x402C542B, 0x402C542C, 0x402C542D,  # TCGETS2 TCSETS2 TCSETSW2 TCSETSF2
    0x80045430, 0x40045431, 0x80045432, 0x40045436, 0x80045438, 0x80045440,  # pty queries
    0x8905, 0x8906, 0x8907, 0x8910, 0x8912, 0x8913, 0x8915, 0x8921, 0x8927, 0x8933,  # SIOC*
    0x8917, 0x8919, 0x891B, 0x891D, 0x8942,  # SIOCGIF{DSTADDR,BRDADDR,NETMASK,METRIC,TXQLEN}
    0x80086601,  # FS_IOC_GETFLAGS
})

_NATIVE = """
read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 close
close_range dup dup2 dup3 fcntl flock fsync fdatasync sync_file_range fallocate ftruncate
fchmod fchown fstat fstatfs getdents getdents64 fchdir fadvise64 readahead sendfile splice
tee vmsplice copy_file_range fgetxattr flistxattr fsetxattr fremovexattr sync syncfs
mmap munmap mprotect mremap madvise brk msync mincore mlock mlock2 munlock mlockall
munlockall membarrier memfd_create pkey_mprotect pkey_alloc pkey_free get_mempolicy
set_mempolicy mbind
futex futex_waitv set_robust_list get_robust_list set_tid_address rseq arch_prctl prctl
clock_gettime clock_getres gettimeofday time nanosleep clock_nanosleep getitimer setitimer
alarm timer_create timer_settime timer_gettime timer_getoverrun timer_delete times
getpid getppid gettid getuid geteuid getgid getegid getresuid getresgid getgroups getpgid
getpgrp getsid setsid setpgid getrlimit setrlimit prlimit64 getrusage sched_yield
sched_getaffinity sched_setaffinity sched_getparam sched_setparam sched_getscheduler
sched_setscheduler sched_get_priority_max sched_get_priority_min sched_rr_get_interval
sched_setattr sched_getattr getpriority setpriority ioprio_get ioprio_set getcpu
getrandom capget
rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend
rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack kill tkill tgkill pause pidfd_open
pidfd_send_signal
fork vfork exit exit_group wait4 waitid restart_syscall
pipe pipe2 eventfd eventfd2 timerfd_create timerfd_settime timerfd_gettime signalfd
signalfd4 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 poll
ppoll select pselect6 inotify_init inotify_init1 inotify_rm_watch
bind connect listen accept accept4 getsockname getpeername sendto recvfrom sendmsg recvmsg
sendmmsg recvmmsg shutdown setsockopt getsockopt
shmget shmat shmdt shmctl semget semop semctl semtimedop msgget msgsnd msgrcv msgctl
mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr
io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents
landlock_create_ruleset landlock_add_rule landlock_restrict_self
"""

_ERRORS: dict[str, tuple[int, str]] = {
    "io_uring_setup": (errno.ENOSYS, "io_uring operations would bypass the filter"),
    "io_uring_enter": (errno.ENOSYS, "io_uring"),
    "io_uring_register": (errno.ENOSYS, "io_uring"),
    "bpf": (errno.EPERM, "host kernel attack surface"),
    "perf_event_open": (errno.EPERM, "host kernel attack surface"),
    "userfaultfd": (errno.EPERM, "stalls kernel paths at will"),
    "kexec_load": (errno.EPERM, "host kernel"),
    "kexec_file_load": (errno.EPERM, "host kernel"),
    "init_module": (errno.EPERM, "host kernel"),
    "finit_module": (errno.EPERM, "host kernel"),
    "delete_module": (errno.EPERM, "host kernel"),
    "add_key": (errno.ENOSYS, "the host keyring is not namespaced"),
    "request_key": (errno.ENOSYS, "the host keyring is not namespaced"),
    "keyctl": (errno.ENOSYS, "the host keyring is not namespaced"),
    "open_by_handle_at": (errno.EPERM, "opens host files by handle (shocker)"),
    "name_to_handle_at": (errno.EOPNOTSUPP, "file handles are host handles"),
    "mount": (errno.EPERM, "the sandbox's mounts are fixed by its spec"),
    "umount2": (errno.EPERM, "the sandbox's mounts are fixed by its spec"),
    "pivot_root": (errno.EPERM, "the sandbox's mounts are fixed by its spec"),
    "chroot": (errno.EPERM, "not supported"),
    "setns": (errno.EPERM, "no namespaces beyond the sandbox's"),
    "unshare": (errno.EPERM, "no namespaces beyond the sandbox's"),
    "fsopen": (errno.EPERM, "mount API"),
    "fsconfig": (errno.EPERM, "mount API"),
    "fsmount": (errno.EPERM, "mount API"),
    "fspick": (errno.EPERM, "mount API"),
    "open_tree": (errno.EPERM, "mount API"),
    "move_mount": (errno.EPERM, "mount API"),
    "mount_setattr": (errno.EPERM, "mount API"),
    "reboot": (errno.EPERM, "host"),
    "swapon": (errno.EPERM, "host"),
    "swapoff": (errno.EPERM, "host"),
    "syslog": (errno.EPERM, "the host's kernel log"),
    "acct": (errno.EPERM, "host"),
    "quotactl": (errno.EPERM, "host"),
    "quotactl_fd": (errno.EPERM, "host"),
    "iopl": (errno.EPERM, "hardware"),
    "ioperm": (errno.EPERM, "hardware"),
    "modify_ldt": (errno.EPERM, "not needed by Linux programs"),
    "vhangup": (errno.EPERM, "host terminals"),
    "settimeofday": (errno.EPERM, "the host clock"),
    "clock_settime": (errno.EPERM, "the host clock"),
    "clock_adjtime": (errno.EPERM, "the host clock"),
    "adjtimex": (errno.EPERM, "the host clock"),
    "lookup_dcookie": (errno.EPERM, "host"),
    "fanotify_init": (errno.EPERM, "watches host mounts"),
    "fanotify_mark": (errno.EPERM, "watches host mounts"),
    "memfd_secret": (errno.ENOSYS, "not supported"),
    "uselib": (errno.ENOSYS, "obsolete"),
}


def _entries() -> list[Syscall]:
    N, F, P = Support.NATIVE, Support.FULL, Support.PARTIAL
    out = [Syscall(name, N) for name in _NATIVE.split()]
    out += [Syscall(name, Support.ERROR, note=why, errno=err)
            for name, (err, why) in _ERRORS.items()]

    def full(module, *names: str, note: str = "") -> None:  # type: ignore[no-untyped-def]
        for name in names:
            handler: Handler = getattr(module, name)
            out.append(Syscall(name, P if note else F, handler, note=note))

    full(sys_file, "open", "openat", note="O_PATH and blocking FIFO opens in the container "
         "tree, and /dev/pts terminals opened without O_NOCTTY, run in the host kernel "
         "(ADDFD cannot install O_PATH files; a terminal may become the controlling one); "
         "O_PATH on a synthetic file gives an O_RDONLY|O_NONBLOCK fd")
    full(sys_file, "creat", "mkdir", "mkdirat", "rmdir", "unlink",
         "unlinkat", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
         "symlinkat", "readlink", "readlinkat", "access", "faccessat", "faccessat2",
         "chmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchownat", "truncate",
         "utimensat", "utimes", "futimesat", "utime")
    full(sys_file, "openat2", note="RESOLVE_* flags honoured in the container tree "
         "(they only narrow its in-root resolution); on synthetic mounts only the "
         "scoping ones; O_PATH as for openat")
    full(sys_file, "mknod", "mknodat", note="regular files, FIFOs and sockets; "
         "device nodes are EPERM")
    full(sys_stat, "stat", "lstat", "newfstatat", "statfs")
    full(sys_stat, "statx", note="basic stats and the mount id (no birth time)")
    full(sys_thread, "execve", "execveat", "chdir", "getcwd")
    full(sys_utsname, "uname", "sethostname", "setdomainname")
    full(sys_identity, "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
         "setfsuid", "setfsgid", "setgroups", "capset", "umask")
    full(sys_xattr, "getxattr", "lgetxattr", "setxattr", "lsetxattr", "listxattr",
         "llistxattr", "removexattr", "lremovexattr")
    full(sys_inotify, "inotify_add_watch", note="watches in the container tree; "
         "synthetic files never change; a program's first exec adds the loader check's "
         "read (OPEN, ACCESS, CLOSE_NOWRITE)")
    full(sys_sysinfo, "sysinfo", note="the sandbox's uptime and tasks, the host's memory")

    def native_if(name: str, rule, handler: Handler, note: str) -> None:  # type: ignore[no-untyped-def]
        out.append(Syscall(name, P, handler, native_when=rule, note=note))

    native_if("ioctl", ArgIn(1, SAFE_IOCTLS), sys_refused.ioctl,
              "terminal, pty, fd-flag and socket requests run natively; others ENOTTY")
    native_if("socket", AnyOf((ArgIn(0, frozenset({AF_UNIX, AF_INET, AF_INET6})),
                               AllOf((ArgIn(0, frozenset({AF_NETLINK})),
                                      ArgIn(2, frozenset({NETLINK_ROUTE, NETLINK_SOCK_DIAG})))))),
              sys_refused.socket, "unix, inet and netlink (route and sock_diag, in the "
              "sandbox's network namespace); other netlink protocols EPROTONOSUPPORT, "
              "other families EAFNOSUPPORT")
    native_if("socketpair", ArgIn(0, frozenset({AF_UNIX})), sys_refused.socketpair,
              "AF_UNIX only")
    native_if("clone", ArgMaskClear(0, sys_refused.CLONE_NAMESPACES), sys_refused.clone,
              "new namespaces are EPERM")
    native_if("ptrace", ArgNotIn(0, sys_ptrace.BECOME_TRACER), sys_ptrace.ptrace,
              "between the sandbox's tasks (seccomp platform; the tracee's calls still "
              "meet the filter); EPERM on the ptrace platform, whose sentry traces "
              "every task")
    native_if("seccomp", ArgMaskClear(1, SECCOMP_FILTER_FLAG_NEW_LISTENER),
              sys_refused.seccomp, "filters without a notification listener")
    native_if("personality", ArgIn(0, SAFE_PERSONAS), sys_refused.personality,
              "0x0, 0x8, 0x20000, 0x20008 and the 0xffffffff query (Docker's); others EPERM")
    for name in PTRACE_CALLS:
        out.append(Syscall(name, P, getattr(sys_refused, name), native_with_cap=CAP_SYS_PTRACE,
                           note="native when the spec grants CAP_SYS_PTRACE; else EPERM"))
    native_if("lseek", ArgIn(2, frozenset({SEEK_SET, SEEK_CUR, SEEK_DATA, SEEK_HOLE})),
              sys_read_write.lseek, "SEEK_END on a synthetic /proc file or directory "
              "answered as Linux's (EINVAL for seq files, else offset + 0)")
    full(sys_refused, "clone3", note="run as the equivalent clone(2) on the ptrace "
         "platform; ENOSYS on the seccomp platform (libc falls back to clone(2), whose "
         "flags the filter sees), and for CLONE_VM, set_tid, CLONE_INTO_CGROUP, "
         "CLONE_CLEAR_SIGHAND; "
         "namespace flags EPERM")
    return out


def build_table() -> dict[int, Syscall]:
    table: dict[int, Syscall] = {}
    for entry in _entries():
        nr = SYSCALL_NUMBERS[entry.name]
        if nr in table:
            raise ValueError(f"syscall {entry.name} registered twice")
        table[nr] = entry
    return table


TABLE: dict[int, Syscall] = build_table()
