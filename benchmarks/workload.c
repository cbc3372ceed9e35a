/* workload.c: the benchmark workloads, one static binary with subcommands.
 *
 *   gcc -O2 -static -pthread -o workload workload.c
 *   workload [-t SECONDS] [-n ITERS] NAME [ARGS...]
 *
 * Each subcommand repeats one operation and prints one line:
 *   NAME NS_PER_OP [KEY=VALUE ...]
 * The loop runs for about -t seconds (default 0.5): iterations are run in batches
 * sized from the rate measured so far, so a 100 ns call and a 1 ms fork+exec both
 * take about the same wall time under any runtime (a fixed count tuned for native
 * would take minutes under a runtime that traps the call). -n fixes the count.
 * The time is CLOCK_MONOTONIC read around the batches (vDSO; cost negligible).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double target_s = 0.5;
static long fixed_iters = 0;

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* TIMED(body): run body repeatedly; afterwards `iters` and `elapsed` (ns) are set. */
#define TIMED(body)                                                                  \
    long iters = 0;                                                                  \
    int64_t elapsed = 0;                                                             \
    do {                                                                             \
        int64_t _t0 = now_ns(), _target = (int64_t)(target_s * 1e9);                 \
        long _batch = fixed_iters > 0 ? fixed_iters : 1;                             \
        for (;;) {                                                                   \
            for (long _i = 0; _i < _batch; _i++) { body; }                           \
            iters += _batch;                                                         \
            elapsed = now_ns() - _t0;                                                \
            if (fixed_iters > 0 || elapsed >= _target) break;                        \
            double _per = (double)elapsed / (double)iters;                           \
            double _want = (double)(_target - elapsed) / (_per > 0 ? _per : 1) + 1;  \
            long _next = _batch * 4;                                                 \
            if (_want < _next) _next = (long)_want;                                  \
            _batch = _next < 1 ? 1 : _next;                                          \
        }                                                                            \
    } while (0)

#define REPORT(name, extra_fmt, ...)                                                 \
    printf("%s %.1f iters=%ld" extra_fmt "\n", name, (double)elapsed / iters, iters, \
           ##__VA_ARGS__)

/* ---------------------------------------------------------------- workloads */

static int w_getppid(void) {
    TIMED(syscall(SYS_getppid));
    REPORT("getppid", "");
    return 0;
}

static int w_clock_syscall(void) {
    struct timespec ts;
    TIMED(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts));
    REPORT("clock_syscall", "");
    return 0;
}

static int w_clock_vdso(void) {
    struct timespec ts;
    TIMED(clock_gettime(CLOCK_MONOTONIC, &ts); __asm__ volatile("" ::"r"(&ts) : "memory"));
    REPORT("clock_vdso", "");
    return 0;
}

static int w_read_zero(void) {
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0) die("open /dev/zero");
    char c;
    TIMED(if (read(fd, &c, 1) != 1) die("read /dev/zero"));
    REPORT("read_zero", "");
    close(fd);
    return 0;
}

static int w_open_close(const char *path) {
    TIMED(int fd = open(path, O_RDONLY); if (fd < 0) die(path); close(fd));
    REPORT("open_close", "");
    return 0;
}

static int w_stat(const char *path) {
    struct stat st;
    TIMED(if (stat(path, &st) < 0) die(path));
    REPORT("stat", "");
    return 0;
}

#define SEQ_TOTAL (64L << 20)
#define SEQ_CHUNK (64L << 10)

static void write_file(const char *path, char *buf) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die(path);
    for (long off = 0; off < SEQ_TOTAL; off += SEQ_CHUNK)
        if (write(fd, buf, SEQ_CHUNK) != SEQ_CHUNK) die("write");
    if (close(fd) < 0) die("close");
}

static int w_seq_write(const char *name, const char *path) {
    char *buf = malloc(SEQ_CHUNK);
    memset(buf, 'w', SEQ_CHUNK);
    TIMED(write_file(path, buf));
    unlink(path);
    REPORT(name, " MB_s=%.1f", (double)SEQ_TOTAL / 1e6 / ((double)elapsed / iters / 1e9));
    return 0;
}

static int w_seq_read(const char *name, const char *path) {
    char *buf = malloc(SEQ_CHUNK);
    memset(buf, 'r', SEQ_CHUNK);
    struct stat st;
    int created = 0;
    if (stat(path, &st) < 0 || st.st_size < SEQ_TOTAL) { /* untimed setup */
        write_file(path, buf);
        created = 1;
    }
    { /* warm the page cache once, untimed */
        int fd = open(path, O_RDONLY);
        if (fd < 0) die(path);
        while (read(fd, buf, SEQ_CHUNK) > 0) {}
        close(fd);
    }
    TIMED(int fd = open(path, O_RDONLY); if (fd < 0) die(path);
          for (long off = 0; off < SEQ_TOTAL; off += SEQ_CHUNK)
              if (read(fd, buf, SEQ_CHUNK) != SEQ_CHUNK) die("read");
          close(fd));
    if (created) unlink(path);
    REPORT(name, " MB_s=%.1f", (double)SEQ_TOTAL / 1e6 / ((double)elapsed / iters / 1e9));
    return 0;
}

static int w_fork_exit_wait(void) {
    TIMED(pid_t p = fork(); if (p < 0) die("fork"); if (p == 0) _exit(0);
          int st; if (waitpid(p, &st, 0) != p) die("waitpid"));
    REPORT("fork_exit_wait", "");
    return 0;
}

static int w_fork_exec_true(const char *path) {
    char *argv[] = {"true", NULL};
    char *envp[] = {NULL};
    TIMED(pid_t p = fork(); if (p < 0) die("fork");
          if (p == 0) { execve(path, argv, envp); _exit(127); }
          int st; if (waitpid(p, &st, 0) != p) die("waitpid");
          if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { errno = 0; die("exec true failed"); });
    REPORT("fork_exec_true", "");
    return 0;
}

static int w_file_mix(const char *name, const char *dir) {
    char path[4096], buf[4096];
    memset(buf, 'f', sizeof buf);
    snprintf(path, sizeof path, "%s/bench-file-mix.%d", dir, (int)getpid());
    TIMED(int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644); if (fd < 0) die(path);
          if (write(fd, buf, sizeof buf) != sizeof buf) die("write");
          if (close(fd) < 0) die("close"); if (unlink(path) < 0) die("unlink"));
    REPORT(name, " files_s=%.0f", 1e9 / ((double)elapsed / iters));
    return 0;
}

static int w_pipe_pingpong(void) {
    int a[2], b[2];
    if (pipe(a) < 0 || pipe(b) < 0) die("pipe");
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        close(a[1]); close(b[0]);
        char c;
        while (read(a[0], &c, 1) == 1)
            if (write(b[1], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    close(a[0]); close(b[1]);
    char c = 'x';
    TIMED(if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1) die("pingpong"));
    close(a[1]);
    waitpid(p, NULL, 0);
    REPORT("pipe_pingpong", "");
    return 0;
}

static _Atomic int fx_state; /* 0: main's turn, 1: thread's turn, 2: stop */

static void fx_wait(_Atomic int *addr, int val) {
    while (atomic_load(addr) == val)
        syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void fx_wake(_Atomic int *addr) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *fx_thread(void *arg) {
    (void)arg;
    for (;;) {
        fx_wait(&fx_state, 0);
        if (atomic_load(&fx_state) == 2) return NULL;
        atomic_store(&fx_state, 0);
        fx_wake(&fx_state);
    }
}

static int w_futex_pingpong(void) {
    pthread_t t;
    atomic_store(&fx_state, 0);
    if (pthread_create(&t, NULL, fx_thread, NULL) != 0) die("pthread_create");
    TIMED(atomic_store(&fx_state, 1); fx_wake(&fx_state); fx_wait(&fx_state, 1));
    atomic_store(&fx_state, 2);
    fx_wake(&fx_state);
    pthread_join(t, NULL);
    REPORT("futex_pingpong", "");
    return 0;
}

static int w_mmap_munmap(void) {
    TIMED(void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (p == MAP_FAILED) die("mmap"); if (munmap(p, 1 << 20) < 0) die("munmap"));
    REPORT("mmap_munmap", "");
    return 0;
}

/* Memory probes: print "ready" once set up, then sleep until killed. */
static int w_idle(void) {
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
    return 0;
}

static int w_idle_file(const char *path) {
    char *buf = malloc(SEQ_CHUNK);
    memset(buf, 'm', SEQ_CHUNK);
    write_file(path, buf);
    return w_idle();
}

static void usage(void) {
    fprintf(stderr,
            "usage: workload [-t SECONDS] [-n ITERS] NAME [ARGS]\n"
            "  getppid | clock_syscall | clock_vdso | read_zero | open_close PATH | stat PATH\n"
            "  seq_read ROWNAME PATH | seq_write ROWNAME PATH | fork_exit_wait\n"
            "  fork_exec_true PATH | file_mix ROWNAME DIR | pipe_pingpong | futex_pingpong\n"
            "  mmap_munmap | idle | idle_file PATH\n");
    exit(2);
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "+t:n:")) != -1) {
        if (opt == 't') target_s = atof(optarg);
        else if (opt == 'n') fixed_iters = atol(optarg);
        else usage();
    }
    argc -= optind;
    argv += optind;
    if (argc < 1) usage();
    const char *w = argv[0];
#define ARG(i) (argc > (i) ? argv[i] : (usage(), ""))
    if (!strcmp(w, "getppid")) return w_getppid();
    if (!strcmp(w, "clock_syscall")) return w_clock_syscall();
    if (!strcmp(w, "clock_vdso")) return w_clock_vdso();
    if (!strcmp(w, "read_zero")) return w_read_zero();
    if (!strcmp(w, "open_close")) return w_open_close(ARG(1));
    if (!strcmp(w, "stat")) return w_stat(ARG(1));
    if (!strcmp(w, "seq_read")) return w_seq_read(ARG(1), ARG(2));
    if (!strcmp(w, "seq_write")) return w_seq_write(ARG(1), ARG(2));
    if (!strcmp(w, "fork_exit_wait")) return w_fork_exit_wait();
    if (!strcmp(w, "fork_exec_true")) return w_fork_exec_true(ARG(1));
    if (!strcmp(w, "file_mix")) return w_file_mix(ARG(1), ARG(2));
    if (!strcmp(w, "pipe_pingpong")) return w_pipe_pingpong();
    if (!strcmp(w, "futex_pingpong")) return w_futex_pingpong();
    if (!strcmp(w, "mmap_munmap")) return w_mmap_munmap();
    if (!strcmp(w, "idle")) return w_idle();
    if (!strcmp(w, "idle_file")) return w_idle_file(ARG(1));
    usage();
    return 2;
}
