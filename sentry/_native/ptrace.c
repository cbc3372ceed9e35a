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

static void stub_inherit(int parent, int child);
static void stub_forget(int tid);

/* Exits seen while waiting for one task (during fd installation), for trace_reap. */
static int pending_exits[MAX_EXITS][2];
static int npending;

static void remember_exit(int pid, int status)
{
    stub_forget(pid);
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

/* The current stop's answer is to come later (sentry/kernel.py WaitingCalls): the
 * task stays in its seccomp stop, and the loop goes on with the others. */
void trace_defer(void)
{
    cur_answered = 1;
}

/* A deferred stop's task made current again, for trace_respond/trace_install_fd:
 * 0, or -errno (ESRCH: it is gone). */
int trace_reselect(int tid)
{
    return ptrace(PTRACE_GETREGS, tid, 0, &cur_regs) == 0 ? 0 : -errno;
}

/* Answers the stop by running another call in its place: the registers the sentry
 * sets are what the kernel runs (after the filter has seen them again), whatever the
 * task's memory says meanwhile. */
int trace_run_instead(int tid, int64_t nr, const uint64_t *args)
{
    cur_answered = 1;
    cur_regs.orig_rax = (unsigned long long)nr;
    cur_regs.rdi = args[0];
    cur_regs.rsi = args[1];
    cur_regs.rdx = args[2];
    cur_regs.r10 = args[3];
    cur_regs.r8 = args[4];
    cur_regs.r9 = args[5];
    if (ptrace(PTRACE_SETREGS, tid, 0, &cur_regs) < 0)
        return -errno;
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
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE: {
        /* the new task is traced already, and has its parent's fd stub */
        unsigned long child;
        if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0)
            stub_inherit(tid, (int)child);
        resume(tid, 0);
        return;
    }
    case PTRACE_EVENT_EXEC: {
        /* a new image: no stub; a thread that exec'd took the leader's tid */
        unsigned long former;
        if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &former) == 0)
            stub_forget((int)former);
        stub_forget(tid);
        resume(tid, 0);
        return;
    }
    default:
        resume(tid, 0);
    }
}

/*
 * Handles the stops that are ready, at most budget of them (so that a busy workload,
 * always with another stop ready, cannot keep the sentry from its other fds); exits
 * seen on the way wait in pending_exits. Returns 1 when the budget ran out.
 */
#define STOP_BUDGET 64
static void on_stop(int tid, int status);

static int handle_stops(int budget)
{
    /* Every stop that is ready is taken first and only then handled: wait reports
     * tracees in a fixed order, and a task handled at once may stop again before the
     * others are looked at (40 threads opening files starved the oldest ones). A
     * stopped task stays stopped until handled, so each gets its turn per round. */
    int pids[STOP_BUDGET], statuses[STOP_BUDGET], n = 0;
    if (budget > STOP_BUDGET)
        budget = STOP_BUDGET;
    while (n < budget) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            break;
        if (WIFSTOPPED(status)) {
            pids[n] = pid;
            statuses[n++] = status;
        } else {
            remember_exit(pid, status);
        }
    }
    for (int i = 0; i < n; i++)
        on_stop(pids[i], statuses[i]);
    return n == budget;
}

/*
 * The exits (pid, wait status) that are ready, at most max, after handling the stops
 * that are (a budget of them). Also what the seccomp platform reaps children with.
 */
int trace_reap(int *out, int max)
{
    handle_stops(STOP_BUDGET);
    int n = 0;
    for (; n < max && n < npending; n++) {
        out[2 * n] = pending_exits[n][0];
        out[2 * n + 1] = pending_exits[n][1];
    }
    memmove(pending_exits, pending_exits + n, (size_t)(npending - n) * sizeof pending_exits[0]);
    npending -= n;
    return n;
}

/*
 * Serves tracee stops until a wake fd needs the caller: returns its index, with the
 * signal pipe (Python's wakeup fd, one byte per signal number) at sigpipe, reported
 * for a signal other than SIGCHLD or when exits are waiting for trace_reap.
 */
int trace_serve(const int *wake, int nwake, int sigpipe, int timeout_ms)
{
    struct pollfd pfds[16];
    if (nwake > 16)
        return -E2BIG;
    struct timespec deadline = deadline_in(timeout_ms);
    for (int i = 0; i < nwake; i++)
        pfds[i] = (struct pollfd){ .fd = wake[i], .events = POLLIN };
    for (;;) {
        /* stops first: their SIGCHLD may have been read from the pipe already */
        int more = handle_stops(STOP_BUDGET);
        if (npending > 0)
            return sigpipe;
        if (ms_until(&deadline) == 0)
            return -ETIMEDOUT;
        int ready = poll(pfds, nwake, more ? 0 : ms_until(&deadline));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (ready == 0) {
            if (more)
                continue;
            return -ETIMEDOUT;
        }
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
            if (other)
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

/* Sets the task's registers and resumes it (PTRACE_SYSCALL or PTRACE_CONT). */
static int set_and_resume(struct injection *in, struct user_regs_struct *r, int request)
{
    if (ptrace(PTRACE_SETREGS, in->tid, 0, r) < 0 || ptrace(request, in->tid, 0, 0) < 0) {
        in->dead = 1;
        return -ESRCH;
    }
    return 0;
}

/* The task's next stop (0, *status), or -ESRCH once it has ended (its exit kept). */
static int next_stop(struct injection *in, int *status)
{
    for (;;) {
        pid_t got = waitpid(in->tid, status, __WALL);
        if (got < 0 && errno == EINTR)
            continue;
        if (got > 0 && WIFSTOPPED(*status))
            return 0;
        if (got > 0)
            remember_exit(got, *status);
        in->dead = 1;
        return -ESRCH;
    }
}

/* A signal that arrived meanwhile: sent again once done (a flood means no real install). */
static int hold_signal(struct injection *in, int sig)
{
    if (in->nsignals >= 32)
        return -1;
    in->signals[in->nsignals++] = sig;
    return 0;
}

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
    if (set_and_resume(in, &r, PTRACE_SYSCALL) < 0)
        return -ESRCH;
    for (;;) {
        int status;
        if (next_stop(in, &status) < 0)
            return -ESRCH;
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
            if (hold_signal(in, sig) < 0)
                return hijacked(in);
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
 * The fd stub: two pages mapped into a task (and inherited by what it forks) the first
 * time it needs an fd. The first holds code the sentry runs in the task, the second
 * the arguments of its calls. One install is two stops (the two int3s) instead of a
 * stop before and after every injected call.
 */
extern const unsigned char rsp_stub_start[], rsp_stub_seg2[], rsp_stub_end[];
__asm__(
    ".pushsection .rodata\n"
    "rsp_stub_start:\n"
    "    syscall\n"                 /* socketpair(rdi, rsi, rdx, r10), set by the sentry */
    "    int3\n"                    /* the sentry takes its end and sends the fd */
    "rsp_stub_seg2:\n"
    "    mov $3, %eax\n"            /* close(sv[0]): its number is free again */
    "    mov %r12d, %edi\n"
    "    syscall\n"
    "    mov $47, %eax\n"           /* recvmsg(sv[1], msg, flags): the fd lands there */
    "    mov %r13d, %edi\n"
    "    mov %r14, %rsi\n"
    "    mov %r15d, %edx\n"
    "    syscall\n"
    "    mov %rax, %r12\n"
    "    mov $3, %eax\n"            /* close(sv[1]) */
    "    mov %r13d, %edi\n"
    "    syscall\n"
    "    mov %r12, %rax\n"
    "    int3\n"
    "rsp_stub_end:\n"
    ".popsection\n");

#define PAGE_SIZE_ 4096UL
#define OFF_SV 0
#define OFF_MSG 16
#define OFF_IOV 80
#define OFF_DATA 96
#define OFF_CMSG 112

/* Where each traced task has its stub: tid -> address, copied to what it forks. */
#define STUBS 8192
static struct { int tid; uint64_t addr; } stubs[STUBS];

static int stub_slot(int tid, int add)
{
    unsigned h = (unsigned)tid * 2654435761u % STUBS;
    for (unsigned i = 0; i < STUBS; i++) {
        unsigned k = (h + i) % STUBS;
        if (stubs[k].tid == tid || (add && stubs[k].tid <= 0))
            return (int)k;
        if (stubs[k].tid == 0)
            return -1;
    }
    return -1;
}

static uint64_t stub_get(int tid)
{
    int k = stub_slot(tid, 0);
    return k >= 0 ? stubs[k].addr : 0;
}

static void stub_set(int tid, uint64_t addr)
{
    int k = stub_slot(tid, 0);
    if (k < 0)
        k = stub_slot(tid, 1);
    if (k >= 0) {
        stubs[k].tid = tid;
        stubs[k].addr = addr;
    }
}

static void stub_forget(int tid)
{
    int k = stub_slot(tid, 0);
    if (k >= 0)
        stubs[k].tid = -1; /* a tombstone: keeps later probes going */
}

static void stub_inherit(int parent, int child)
{
    uint64_t addr = stub_get(parent);
    if (addr)
        stub_set(child, addr);
    else
        stub_forget(child);
}

static int64_t task_get(int tid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = { .iov_base = buf, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
    return process_vm_readv(tid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

/* The task's stub, checked byte for byte (the task may have unmapped or changed it). */
static uint64_t stub_find(int tid)
{
    size_t len = (size_t)(rsp_stub_end - rsp_stub_start);
    unsigned char code[64];
    uint64_t addr = stub_get(tid);
    if (!addr || len > sizeof code || task_get(tid, addr, code, len) < 0 ||
        memcmp(code, rsp_stub_start, len) != 0)
        return 0;
    return addr;
}

/* Maps a stub into the task with injected calls (the first replaces the trapped one). */
static int64_t stub_make(struct injection *in)
{
    int64_t addr = inject6(in, SYS_mmap, 0, 2 * PAGE_SIZE_, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, (unsigned long)-1, 0);
    if (addr < 0 && addr > -4096)
        return addr;
    if (task_put(in->tid, (uint64_t)addr, rsp_stub_start,
                 (size_t)(rsp_stub_end - rsp_stub_start)) < 0)
        return -EFAULT;
    int64_t ret = inject(in, SYS_mprotect, (unsigned long)addr, PAGE_SIZE_,
                         PROT_READ | PROT_EXEC);
    if (ret < 0)
        return ret;
    stub_set(in->tid, (uint64_t)addr);
    return addr;
}

/*
 * Runs the task from rip with regs r until the stub's int3 at expect_rip; returns the
 * task's rax there. Anything else the task does on the way (a trapped call, a fault,
 * a fork) means it is not running the sentry's stub: it is killed.
 */
static int64_t stub_run(struct injection *in, struct user_regs_struct *r, uint64_t expect_rip)
{
    if (in->dead)
        return -ESRCH;
    if (set_and_resume(in, r, PTRACE_CONT) < 0)
        return -ESRCH;
    in->at_seccomp_stop = 0;
    for (;;) {
        int status;
        if (next_stop(in, &status) < 0)
            return -ESRCH;
        int sig = WSTOPSIG(status);
        int event = (unsigned)status >> 16;
        if (event == 0 && sig == SIGTRAP) {
            struct user_regs_struct at;
            siginfo_t si;
            if (ptrace(PTRACE_GETREGS, in->tid, 0, &at) == 0 &&
                ptrace(PTRACE_GETSIGINFO, in->tid, 0, &si) == 0 &&
                si.si_code == SI_KERNEL && at.rip == expect_rip)
                return (int64_t)at.rax;
        }
        if (event != 0 && !(event == PTRACE_EVENT_STOP))
            return hijacked(in); /* a trapped call, fork, clone, exec: not the stub */
        if (event == 0 && is_fault(in->tid, sig))
            return hijacked(in);
        if ((event == 0 || is_stop_signal(sig)) && hold_signal(in, sig) < 0)
            return hijacked(in);
        if (ptrace(PTRACE_CONT, in->tid, 0, 0) < 0) {
            in->dead = 1;
            return -ESRCH;
        }
    }
}

/* The received fd's number, from the cmsg recvmsg left in the stub's data page. */
static int64_t received_fd(int tid, uint64_t data)
{
    char buf[CMSG_SPACE(sizeof(int))];
    if (task_get(tid, data + OFF_CMSG, buf, sizeof buf) < 0)
        return -EFAULT;
    struct cmsghdr *c = (struct cmsghdr *)buf;
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EMFILE; /* the fd did not fit (MSG_CTRUNC) */
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

static int data_write(int tid, uint64_t data)
{
    struct msghdr m = {
        .msg_iov = (void *)(data + OFF_IOV), .msg_iovlen = 1,
        .msg_control = (void *)(data + OFF_CMSG),
        .msg_controllen = CMSG_SPACE(sizeof(int)),
    };
    struct iovec iov = { .iov_base = (void *)(data + OFF_DATA), .iov_len = 1 };
    char zero[CMSG_SPACE(sizeof(int))] = { 0 };
    int sv[2] = { -1, -1 };
    return task_put(tid, data + OFF_SV, sv, sizeof sv) == 0 &&
           task_put(tid, data + OFF_MSG, &m, sizeof m) == 0 &&
           task_put(tid, data + OFF_IOV, &iov, sizeof iov) == 0 &&
           task_put(tid, data + OFF_CMSG, zero, sizeof zero) == 0 ? 0 : -EFAULT;
}

/*
 * Answers the task's trapped call with a copy of srcfd, at the lowest free number, as
 * ADDFD with SECCOMP_ADDFD_FLAG_SEND would. The task itself runs, in its stub:
 *   socketpair(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC, 0, sv)
 *   [int3: the sentry takes its own copy of sv[0] (pidfd_getfd) and sends srcfd on it]
 *   close(sv[0])          sv[0]'s number, the lowest free one, is free again
 *   recvmsg(sv[1], ...)   srcfd lands at the lowest free number: sv[0]'s
 *   close(sv[1])
 *   [int3: the sentry reads the number from the cmsg and restores the registers]
 * Returns the fd number the task got, or -errno (which the task's call returns).
 */
int64_t trace_install_fd(int tid, int srcfd, int cloexec)
{
    struct injection in = { .tid = tid, .at_seccomp_stop = 1 };
    int64_t result;
    cur_answered = 1;
    uint64_t stub = stub_find(tid);
    if (!stub) {
        int64_t made = stub_make(&in);
        if (made < 0 && made > -4096) {
            result = made;
            goto answer;
        }
        stub = (uint64_t)made;
    }
    uint64_t data = stub + PAGE_SIZE_;
    size_t seg1_end = (size_t)(rsp_stub_seg2 - rsp_stub_start);
    size_t end = (size_t)(rsp_stub_end - rsp_stub_start);
    if (data_write(tid, data) < 0) {
        result = -EFAULT;
        goto answer;
    }
    struct user_regs_struct r = cur_regs;
    r.orig_rax = (unsigned long long)-1; /* out of the trapped call (or the last injected) */
    r.rip = stub;
    r.rax = SYS_socketpair;
    r.rdi = AF_UNIX;
    r.rsi = SOCK_DGRAM | SOCK_CLOEXEC;
    r.rdx = 0;
    r.r10 = data + OFF_SV;
    result = stub_run(&in, &r, stub + seg1_end);
    if (result < 0)
        goto answer;
    int sv[2];
    if (task_get(tid, data + OFF_SV, sv, sizeof sv) < 0) {
        result = -EFAULT;
        goto answer;
    }
    int pidfd = task_pidfd(tid);
    int mine = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, sv[0], 0);
    int sent = mine < 0 ? -errno : send_fd(mine, srcfd);
    if (pidfd >= 0)
        close(pidfd);
    if (mine >= 0)
        close(mine);
    r.rip = stub + seg1_end;
    r.r12 = (unsigned)sv[0];
    r.r13 = (unsigned)sv[1];
    r.r14 = data + OFF_MSG;
    r.r15 = cloexec ? MSG_CMSG_CLOEXEC : 0;
    result = stub_run(&in, &r, stub + end);
    if (sent < 0)
        result = sent;
    else if (result >= 0)
        result = received_fd(tid, data);
answer:
    if (in.dead)
        return -ESRCH;
    {
        struct user_regs_struct fin = cur_regs;
        fin.rax = (unsigned long long)result;
        /* back after the trapped call, with its result; no syscall restart from here */
        fin.orig_rax = (unsigned long long)-1;
        ptrace(PTRACE_SETREGS, tid, 0, &fin);
        resume(tid, 0);
    }
    for (int i = 0; i < in.nsignals; i++)
        syscall(SYS_tkill, tid, in.signals[i]);
    return result;
}
