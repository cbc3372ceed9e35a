/*
 * The ptrace platform's hot path. The sentry traces every task of the sandbox
 * (PTRACE_SEIZE); the workload's filter answers the calls the sentry emulates with
 * SECCOMP_RET_TRACE, so each one arrives here as a PTRACE_EVENT_SECCOMP stop. This
 * file waits for stops, hands seccomp stops to the Python dispatcher (the same one
 * the seccomp platform uses), writes results back through registers, re-injects
 * signals, keeps group stops (PTRACE_LISTEN) and installs fds into a stopped task
 * without SECCOMP_IOCTL_NOTIF_ADDFD, by running a few syscalls in it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_O_EXITKILL
#define PTRACE_O_EXITKILL (1 << 20)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#include <fcntl.h>

#define TRACE_OPTIONS (PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | \
                       PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL |  \
                       PTRACE_O_TRACESYSGOOD)
#define SYSCALL_INSN_LEN 2 /* `syscall` (0f 05): rewinding rip by it runs the call again */
#define RED_ZONE 128
#define MAX_EXITS 4096

struct trace_call {
    int tid;
    int nr;
    uint64_t args[6];
};

/* Implemented in Python (sentry/platform/ptrace.py) through cffi's extern "Python". */
static void sentry_trace(struct trace_call *call);

/* The seccomp stop being answered: the sentry answers one call at a time. */
static struct user_regs_struct cur_regs;
static int cur_answered;

/* Exits seen while waiting for one task (during fd installation), for trace_reap. */
static int pending_exits[MAX_EXITS][2];
static int npending;

static void remember_exit(int pid, int status)
{
    if (npending < MAX_EXITS) {
        pending_exits[npending][0] = pid;
        pending_exits[npending][1] = status;
        npending++;
    }
}

int trace_seize(int tid)
{
    return ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)TRACE_OPTIONS) == 0 ? 0 : -errno;
}

static void resume(int tid, int sig)
{
    ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig); /* ESRCH: killed meanwhile */
}

int trace_respond(int tid, int64_t val, int32_t error, uint32_t cont)
{
    cur_answered = 1;
    if (!cont) {
        /* orig_rax -1 skips the call; rax is what the task sees it return */
        cur_regs.orig_rax = (unsigned long long)-1;
        cur_regs.rax = (unsigned long long)(error ? (int64_t)error : val);
        if (ptrace(PTRACE_SETREGS, tid, 0, &cur_regs) < 0)
            return -errno;
    }
    /* unchanged registers: the filter is re-run, lets a traced call through, and the
     * host kernel runs it as the task made it */
    return ptrace(PTRACE_CONT, tid, 0, 0) == 0 ? 0 : -errno;
}

static void on_seccomp_stop(int tid)
{
    if (ptrace(PTRACE_GETREGS, tid, 0, &cur_regs) < 0)
        return; /* killed in the stop: its exit follows */
    struct trace_call call = {
        .tid = tid,
        .nr = (int)cur_regs.orig_rax,
        .args = { cur_regs.rdi, cur_regs.rsi, cur_regs.rdx,
                  cur_regs.r10, cur_regs.r8, cur_regs.r9 },
    };
    cur_answered = 0;
    sentry_trace(&call);
    if (!cur_answered) /* the handler crashed before answering: never leave it stopped */
        trace_respond(tid, 0, -ENOSYS, 0);
}

static int is_stop_signal(int sig)
{
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* A signal the kernel raised for what the task executed (si_code > 0), not a sent one. */
static int is_fault(int tid, int sig)
{
    siginfo_t si;
    if (sig != SIGILL && sig != SIGSEGV && sig != SIGBUS && sig != SIGFPE && sig != SIGTRAP)
        return 0;
    return ptrace(PTRACE_GETSIGINFO, tid, 0, &si) == 0 && si.si_code > 0;
}

static void on_stop(int tid, int status)
{
    int sig = WSTOPSIG(status);
    int event = (unsigned)status >> 16;
    switch (event) {
    case PTRACE_EVENT_SECCOMP:
        on_seccomp_stop(tid);
        return;
    case PTRACE_EVENT_STOP:
        if (is_stop_signal(sig))
            /* a group stop: the task stays stopped until SIGCONT, and its parent's
             * wait(WUNTRACED) sees it stopped, as without tracing */
            ptrace(PTRACE_LISTEN, tid, 0, 0);
        else
            resume(tid, 0); /* a new task's first stop, or the end of a group stop */
        return;
    case 0:
        /* a signal-delivery stop (delivered as it came), or a stray syscall stop */
        resume(tid, sig == (SIGTRAP | 0x80) ? 0 : sig);
        return;
    default:
        /* fork, vfork, clone: the new task is traced already; exec */
        resume(tid, 0);
    }
}

/*
 * Handles every stop that is ready and returns the exits seen (pid, wait status) in
 * out, at most max of them. Also what the seccomp platform reaps children with.
 */
int trace_reap(int *out, int max)
{
    int n = 0;
    while (npending > 0 && n < max) {
        npending--;
        out[2 * n] = pending_exits[npending][0];
        out[2 * n + 1] = pending_exits[npending][1];
        n++;
    }
    while (n < max) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            break;
        if (WIFSTOPPED(status)) {
            on_stop(pid, status);
            continue;
        }
        out[2 * n] = pid;
        out[2 * n + 1] = status;
        n++;
    }
    return n;
}

/*
 * Serves tracee stops until a wake fd needs the caller: returns its index, with the
 * signal pipe (Python's wakeup fd, one byte per signal number) at sigpipe, reported
 * only for a signal other than SIGCHLD or when exits are waiting for trace_reap.
 */
int trace_serve(const int *wake, int nwake, int sigpipe, int timeout_ms)
{
    struct pollfd pfds[16];
    if (nwake > 16)
        return -E2BIG;
    for (int i = 0; i < nwake; i++)
        pfds[i] = (struct pollfd){ .fd = wake[i], .events = POLLIN };
    for (;;) {
        int ready = poll(pfds, nwake, timeout_ms);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (ready == 0)
            return -ETIMEDOUT;
        for (int i = 0; i < nwake; i++) {
            if (!pfds[i].revents)
                continue;
            if (i != sigpipe)
                return i;
            unsigned char sigs[64];
            int other = 0;
            ssize_t got;
            while ((got = read(wake[i], sigs, sizeof sigs)) > 0)
                for (ssize_t k = 0; k < got; k++)
                    other |= sigs[k] != SIGCHLD;
            int exits[2 * 8];
            int n = trace_reap(exits, 8);
            for (int k = n - 1; k >= 0; k--) /* back in order for the caller's reap */
                remember_exit(exits[2 * k], exits[2 * k + 1]);
            if (other || npending > 0)
                return i;
        }
    }
}

/* ---- fds into a stopped task, without ADDFD ---------------------------------------- */

struct injection {
    int tid;
    int at_seccomp_stop;   /* still in the seccomp stop: the next call replaces the trapped one */
    int dead;
    int signals[32];       /* signals that arrived meanwhile, sent again once done */
    int nsignals;
};

/* The task ran something other than the injected call: it dies (fail closed). */
static int64_t hijacked(struct injection *in)
{
    kill(in->tid, SIGKILL);
    in->dead = 1;
    return -ESRCH;
}

/*
 * Runs one syscall in the task and returns its result. The first replaces the trapped
 * call in the seccomp stop; later ones rewind rip onto the `syscall` instruction from
 * the previous one's exit stop. Signals that arrive in between are held back (and sent
 * again by the caller), so no handler runs on half-injected registers.
 */
static int64_t inject(struct injection *in, long nr, unsigned long a0, unsigned long a1,
                      unsigned long a2)
{
    if (in->dead)
        return -ESRCH;
    struct user_regs_struct r = cur_regs;
    r.orig_rax = nr;
    r.rax = nr;
    r.rdi = a0;
    r.rsi = a1;
    r.rdx = a2;
    if (!in->at_seccomp_stop)
        r.rip = cur_regs.rip - SYSCALL_INSN_LEN;
    if (ptrace(PTRACE_SETREGS, in->tid, 0, &r) < 0 ||
        ptrace(PTRACE_SYSCALL, in->tid, 0, 0) < 0) {
        in->dead = 1;
        return -ESRCH;
    }
    for (;;) {
        int status;
        pid_t got = waitpid(in->tid, &status, __WALL);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            in->dead = 1;
            return -ESRCH;
        }
        if (!WIFSTOPPED(status)) {
            remember_exit(got, status);
            in->dead = 1;
            return -ESRCH;
        }
        int sig = WSTOPSIG(status);
        int event = (unsigned)status >> 16;
        if (sig == (SIGTRAP | 0x80)) {
            struct __ptrace_syscall_info info;
            if (ptrace(PTRACE_GET_SYSCALL_INFO, in->tid, sizeof info, &info) <= 0)
                return hijacked(in);
            if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
                in->at_seccomp_stop = 0;
                return info.exit.rval;
            }
            /* The entry of a re-executed call must be exactly ours: another thread
             * may have rewritten the code at rip, and what runs in this task's
             * context must never include a trapped call the sentry did not see. */
            if (info.op != PTRACE_SYSCALL_INFO_ENTRY || info.entry.nr != (uint64_t)nr ||
                info.instruction_pointer != cur_regs.rip || info.entry.args[0] != a0 ||
                info.entry.args[1] != a1 || info.entry.args[2] != a2)
                return hijacked(in);
        } else if (event == PTRACE_EVENT_SECCOMP) {
            /* every injected call runs natively: a trapped one is not ours */
            return hijacked(in);
        } else if (event == 0 && is_fault(in->tid, sig)) {
            /* a fault on the way to the `syscall` instruction: the code is not ours */
            return hijacked(in);
        } else if (event == 0 || (event == PTRACE_EVENT_STOP && is_stop_signal(sig))) {
            if (in->nsignals >= 32) /* a flood no real injection sees */
                return hijacked(in);
            in->signals[in->nsignals++] = sig;
        }
        /* syscall entry, a held signal, the end of a group stop */
        if (ptrace(PTRACE_SYSCALL, in->tid, 0, 0) < 0) {
            in->dead = 1;
            return -ESRCH;
        }
    }
}

static int64_t task_put(int tid, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
    ssize_t n = process_vm_writev(tid, &local, 1, &remote, 1, 0);
    return n == (ssize_t)len ? 0 : -EFAULT;
}

static int task_pidfd(int tid)
{
    int fd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    if (fd >= 0 || errno != EINVAL)
        return fd;
    return (int)syscall(SYS_pidfd_open, tid, 0); /* before Linux 6.9: a leader only */
}

/* Sends fd with one byte over sock (the sentry's copy of the task's socket). */
static int send_fd(int sock, int fd)
{
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &m, MSG_DONTWAIT) == 1 ? 0 : -errno;
}

static int64_t inject6(struct injection *in, long nr, unsigned long a0, unsigned long a1,
                       unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
    unsigned long long r10 = cur_regs.r10, r8 = cur_regs.r8, r9 = cur_regs.r9;
    cur_regs.r10 = a3;
    cur_regs.r8 = a4;
    cur_regs.r9 = a5;
    int64_t ret = inject(in, nr, a0, a1, a2);
    cur_regs.r10 = r10;
    cur_regs.r8 = r8;
    cur_regs.r9 = r9;
    return ret;
}

/*
 * Where the injected calls keep their arguments: below the task's red zone, or, where
 * the stack is not mapped that far down, a page mapped for the purpose.
 */
#define SCRATCH_SIZE 256
#define OFF_SV 0
#define OFF_MSG 16
#define OFF_IOV 80
#define OFF_DATA 96
#define OFF_CMSG 112

static int scratch_write(int tid, uint64_t base)
{
    struct msghdr m = {
        .msg_iov = (void *)(base + OFF_IOV), .msg_iovlen = 1,
        .msg_control = (void *)(base + OFF_CMSG),
        .msg_controllen = CMSG_SPACE(sizeof(int)),
    };
    struct iovec iov = { .iov_base = (void *)(base + OFF_DATA), .iov_len = 1 };
    char zero[CMSG_SPACE(sizeof(int))] = { 0 };
    return task_put(tid, base + OFF_MSG, &m, sizeof m) == 0 &&
           task_put(tid, base + OFF_IOV, &iov, sizeof iov) == 0 &&
           task_put(tid, base + OFF_CMSG, zero, sizeof zero) == 0 ? 0 : -EFAULT;
}

/* The received fd's number, from the cmsg recvmsg left in the task's scratch. */
static int64_t received_fd(int tid, uint64_t base)
{
    char buf[CMSG_SPACE(sizeof(int))];
    struct iovec local = { .iov_base = buf, .iov_len = sizeof buf };
    struct iovec remote = { .iov_base = (void *)(base + OFF_CMSG), .iov_len = sizeof buf };
    if (process_vm_readv(tid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof buf)
        return -EFAULT;
    struct cmsghdr *c = (struct cmsghdr *)buf;
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EMFILE; /* the fd did not fit (MSG_CTRUNC) */
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/*
 * Answers the task's trapped call with a copy of srcfd, at the lowest free number, as
 * ADDFD with SECCOMP_ADDFD_FLAG_SEND would. The task itself runs:
 *   socketpair(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC, 0, sv)   (in place of the trapped call)
 *   close(sv[0])          after the sentry took its own copy of sv[0] (pidfd_getfd)
 *                         and sent srcfd over it; sv[0]'s number is free again
 *   recvmsg(sv[1], ...)   srcfd lands at the lowest free number: sv[0]'s
 *   close(sv[1])
 * Returns the fd number the task got, or -errno (which the task's call returns).
 */
int64_t trace_install_fd(int tid, int srcfd, int cloexec)
{
    struct injection in = { .tid = tid, .at_seccomp_stop = 1 };
    uint64_t base = (cur_regs.rsp - RED_ZONE - SCRATCH_SIZE) & ~15ULL;
    int64_t mapped = 0, result;
    cur_answered = 1;
    if (scratch_write(tid, base) < 0) {
        mapped = inject6(&in, SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, (unsigned long)-1, 0);
        if (mapped < 0 && mapped > -4096) {
            result = mapped;
            mapped = 0;
            goto answer;
        }
        base = (uint64_t)mapped;
        if (scratch_write(tid, base) < 0) {
            result = -EFAULT;
            goto unmap;
        }
    }
    result = inject6(&in, SYS_socketpair, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
                     base + OFF_SV, 0, 0);
    if (result < 0)
        goto unmap;
    int sv[2];
    struct iovec local = { .iov_base = sv, .iov_len = sizeof sv };
    struct iovec remote = { .iov_base = (void *)(base + OFF_SV), .iov_len = sizeof sv };
    if (process_vm_readv(tid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof sv) {
        result = -EFAULT;
        goto unmap;
    }
    int pidfd = task_pidfd(tid);
    int mine = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, sv[0], 0);
    result = mine < 0 ? -errno : send_fd(mine, srcfd);
    if (pidfd >= 0)
        close(pidfd);
    if (mine >= 0)
        close(mine);
    inject(&in, SYS_close, (unsigned long)sv[0], 0, 0);
    if (result == 0) {
        result = inject(&in, SYS_recvmsg, (unsigned long)sv[1], base + OFF_MSG,
                        cloexec ? MSG_CMSG_CLOEXEC : 0);
        if (result >= 0)
            result = received_fd(tid, base);
    }
    inject(&in, SYS_close, (unsigned long)sv[1], 0, 0);
unmap:
    if (mapped)
        inject(&in, SYS_munmap, (unsigned long)mapped, 4096, 0);
answer:
    if (in.dead)
        return -ESRCH;
    {
        struct user_regs_struct r = cur_regs;
        r.rax = (unsigned long long)result;
        if (in.at_seccomp_stop)
            r.orig_rax = (unsigned long long)-1; /* nothing ran: skip the trapped call */
        ptrace(PTRACE_SETREGS, tid, 0, &r);
        resume(tid, 0);
    }
    for (int i = 0; i < in.nsignals; i++)
        syscall(SYS_tkill, tid, in.signals[i]);
    return result;
}
