/* notify_floor.c: the cost of one seccomp user-notification round trip, answered by a
 * tight C loop: "the floor" under any sentry's trapped call.
 *
 *   gcc -O2 -static -o notify_floor notify_floor.c
 *   notify_floor [-t SECONDS] [MODE...]     MODE: unpinned | pinned | syncwake
 *
 * A child sets no_new_privs, installs a filter that NOTIFYs getppid (and getuid, its
 * "done" marker) with SECCOMP_FILTER_FLAG_NEW_LISTENER, passes the listener fd to the
 * parent over SCM_RIGHTS, then calls getppid in a loop for about -t seconds. The parent
 * answers each notification with RECV + SEND (val 42). Prints per mode:
 *   floor_<mode> NS_PER_TRAPPED_CALL iters=N
 * pinned: parent and child both on CPU 0. syncwake: SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
 * (Linux 6.6+), unpinned.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static double target_s = 0.5;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "notify_floor: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void pin0(void) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(0, &s);
    if (sched_setaffinity(0, sizeof s, &s) < 0) die("sched_setaffinity");
}

static void send_fd(int sock, int fd) {
    char dummy = 'x';
    struct iovec iov = {&dummy, 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(sock, &m, 0) < 0) die("sendmsg");
}

static int recv_fd(int sock) {
    char dummy;
    struct iovec iov = {&dummy, 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    if (recvmsg(sock, &m, 0) <= 0) die("recvmsg");
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_type != SCM_RIGHTS) { errno = EPROTO; die("no fd"); }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

static void child(int sock, int pinned) {
    if (pinned) pin0();
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getuid, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs");
    int lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (lfd < 0) die("seccomp");
    send_fd(sock, lfd);
    close(lfd);
    char go;
    if (read(sock, &go, 1) != 1) die("read go");
    long iters = 0, batch = 16;
    int64_t t0 = now_ns(), el, target = (int64_t)(target_s * 1e9);
    for (;;) {
        for (long i = 0; i < batch; i++)
            if (syscall(SYS_getppid) != 42) { errno = EPROTO; die("bad answer"); }
        iters += batch;
        el = now_ns() - t0;
        if (el >= target) break;
        double per = (double)el / iters;
        double want = (target - el) / per + 1;
        batch = want < batch * 4 ? (long)want : batch * 4;
        if (batch < 1) batch = 1;
    }
    syscall(SYS_getuid); /* done marker */
    char out[128];
    int n = snprintf(out, sizeof out, "%.1f iters=%ld", (double)el / iters, iters);
    if (write(sock, out, n) != n) die("write result");
    _exit(0);
}

static int run_mode(const char *mode) {
    int pinned = !strcmp(mode, "pinned"), sync = !strcmp(mode, "syncwake");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) die("socketpair");
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) { close(sv[0]); child(sv[1], pinned); }
    close(sv[1]);
    if (pinned) pin0();
    int lfd = recv_fd(sv[0]);
    if (sync && ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0) < 0) {
        printf("floor_%s unsupported (%s)\n", mode, strerror(errno));
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        close(lfd); close(sv[0]);
        return 0;
    }
    if (write(sv[0], "g", 1) != 1) die("write go");
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (;;) {
        memset(&req, 0, sizeof req);
        if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
            if (errno == EINTR) continue;
            die("NOTIF_RECV");
        }
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.val = 42;
        int done = req.data.nr == SYS_getuid;
        if (done) resp.val = 0;
        if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT) die("NOTIF_SEND");
        if (done) break;
    }
    char out[128];
    ssize_t n = read(sv[0], out, sizeof out - 1);
    if (n <= 0) die("read result");
    out[n] = 0;
    printf("floor_%s %s\n", mode, out);
    fflush(stdout);
    waitpid(p, NULL, 0);
    close(lfd);
    close(sv[0]);
    if (pinned) { /* unpin for the next mode */
        cpu_set_t s;
        CPU_ZERO(&s);
        for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &s);
        sched_setaffinity(0, sizeof s, &s);
    }
    return 0;
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "t:")) != -1) {
        if (opt == 't') target_s = atof(optarg);
        else { fprintf(stderr, "usage: notify_floor [-t SECONDS] [unpinned|pinned|syncwake...]\n"); return 2; }
    }
    if (optind >= argc) {
        run_mode("unpinned");
        run_mode("pinned");
        run_mode("syncwake");
    } else {
        for (int i = optind; i < argc; i++) run_mode(argv[i]);
    }
    return 0;
}
