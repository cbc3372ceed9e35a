/*
 * rsphelper: a small static test program for runsc-py.
 *
 * Build: gcc -O2 -static -o rsphelper rsphelper.c
 *
 * Usage: rsphelper SUBCOMMAND [ARGS...]
 * Each subcommand prints its result on stdout and exits 0 on success. When the
 * probed syscall fails it prints "ERR <ERRNAME> <errno>" and exits 1.
 * Usage errors exit 2.
 *
 * Syscalls that are the subject of a probe are made with raw syscall() where
 * libc might pick a different syscall (stat family, open, statx, openat2,
 * getcwd), so that tests know exactly which syscall the sandbox saw:
 *   stat -> SYS_stat, lstat -> SYS_lstat, fstat -> SYS_open + SYS_fstat,
 *   statx -> SYS_statx, cat/write/append -> SYS_open, openat-rel -> SYS_openat,
 *   openat2-inroot -> SYS_openat2, getcwd -> SYS_getcwd, chdir -> SYS_chdir,
 *   exec -> SYS_execve, fexec -> SYS_open (O_PATH) + SYS_execveat (AT_EMPTY_PATH),
 *   fork-exec -> fork + SYS_execve in the child.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/xattr.h>
#include <linux/seccomp.h>
#include <stddef.h>

/* ------------------------------------------------------------------ errors */

static const struct { int num; const char *name; } errtab[] = {
    {EPERM, "EPERM"},     {ENOENT, "ENOENT"},     {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},     {EIO, "EIO"},           {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},     {ENOEXEC, "ENOEXEC"},   {EBADF, "EBADF"},
    {ECHILD, "ECHILD"},   {EAGAIN, "EAGAIN"},     {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},   {EFAULT, "EFAULT"},     {ENOTBLK, "ENOTBLK"},
    {EBUSY, "EBUSY"},     {EEXIST, "EEXIST"},     {EXDEV, "EXDEV"},
    {ENODEV, "ENODEV"},   {ENOTDIR, "ENOTDIR"},   {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},   {ENFILE, "ENFILE"},     {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"},   {ETXTBSY, "ETXTBSY"},   {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},   {ESPIPE, "ESPIPE"},     {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},   {EPIPE, "EPIPE"},       {EDOM, "EDOM"},
    {ERANGE, "ERANGE"},   {EDEADLK, "EDEADLK"},   {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOLCK, "ENOLCK"},   {ENOSYS, "ENOSYS"},     {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},     {ENOMSG, "ENOMSG"},     {ENODATA, "ENODATA"},
    {ENOTSUP, "EOPNOTSUPP"}, {EOVERFLOW, "EOVERFLOW"}, {ENOTSOCK, "ENOTSOCK"},
    {EAFNOSUPPORT, "EAFNOSUPPORT"}, {EADDRINUSE, "EADDRINUSE"},
    {ECONNREFUSED, "ECONNREFUSED"}, {ETIMEDOUT, "ETIMEDOUT"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT"}, {ESTALE, "ESTALE"},
    {EDQUOT, "EDQUOT"},   {ECANCELED, "ECANCELED"}, {EOWNERDEAD, "EOWNERDEAD"},
    {ENOTCONN, "ENOTCONN"}, {ELIBBAD, "ELIBBAD"},
};

static const char *errname(int e)
{
    static char buf[32];
    for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
        if (errtab[i].num == e)
            return errtab[i].name;
    snprintf(buf, sizeof(buf), "E%d", e);
    return buf;
}

static int fail(void)
{
    int e = errno;
    printf("ERR %s %d\n", errname(e), e);
    fflush(stdout);
    return 1;
}

static int usage(const char *msg)
{
    fprintf(stderr, "rsphelper: usage: %s\n", msg);
    return 2;
}

#define NEED(n, msg) do { if (argc < (n)) return usage(msg); } while (0)

/* ----------------------------------------------------------------- helpers */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* copy fd to stdout; returns 0 or -1 with errno */
static int copy_out(int fd)
{
    char buf[65536];
    fflush(stdout);
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return 0;
        if (write_all(1, buf, (size_t)r) < 0)
            return -1;
    }
}

static const char *type_name(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG: return "reg";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "lnk";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "sock";
    default: return "unknown";
    }
}

static void print_stat(const struct stat *st)
{
    printf("mode=0%o size=%lld uid=%d gid=%d ino=%llu nlink=%lu rdev=%u:%u type=%s\n",
           (unsigned)(st->st_mode & 07777), (long long)st->st_size, (int)st->st_uid,
           (int)st->st_gid, (unsigned long long)st->st_ino, (unsigned long)st->st_nlink,
           major(st->st_rdev), minor(st->st_rdev), type_name(st->st_mode));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static long raw_open(const char *path, int flags, int mode)
{
    return syscall(SYS_open, path, flags, mode);
}

/* ------------------------------------------------------------ subcommands */

static int cmd_cat(const char *path)
{
    int fd = (int)raw_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fail();
    if (copy_out(fd) < 0)
        return fail();
    close(fd);
    return 0;
}

static int cmd_write(const char *path, const char *data, int extra_flags)
{
    int fd = (int)raw_open(path, O_WRONLY | O_CREAT | extra_flags, 0644);
    if (fd < 0)
        return fail();
    if (write_all(fd, data, strlen(data)) < 0)
        return fail();
    if (close(fd) < 0)
        return fail();
    printf("ok\n");
    return 0;
}

static int cmd_stat(const char *path, long nr)
{
    struct stat st;
    if (syscall(nr, path, &st) < 0)
        return fail();
    print_stat(&st);
    return 0;
}

static int cmd_fstat(const char *path)
{
    struct stat st;
    int fd = (int)raw_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fail();
    if (syscall(SYS_fstat, fd, &st) < 0)
        return fail();
    print_stat(&st);
    return 0;
}

static int cmd_statx(const char *path)
{
    struct statx sx;
    memset(&sx, 0, sizeof(sx));
    if (syscall(SYS_statx, AT_FDCWD, path, 0, STATX_BASIC_STATS, &sx) < 0)
        return fail();
    printf("mode=0%o size=%lld uid=%d gid=%d ino=%llu nlink=%lu rdev=%u:%u type=%s\n",
           (unsigned)(sx.stx_mode & 07777), (long long)sx.stx_size, (int)sx.stx_uid,
           (int)sx.stx_gid, (unsigned long long)sx.stx_ino, (unsigned long)sx.stx_nlink,
           sx.stx_rdev_major, sx.stx_rdev_minor, type_name(sx.stx_mode));
    return 0;
}

static int cmd_ls(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (!d)
        return fail();
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
            if (!names)
                return fail();
        }
        names[n++] = strdup(de->d_name);
        errno = 0;
    }
    if (errno)
        return fail();
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++)
        printf("%s\n", names[i]);
    return 0;
}

static int cmd_readlink(const char *path)
{
    char buf[PATH_MAX + 1];
    ssize_t n = readlink(path, buf, PATH_MAX);
    if (n < 0)
        return fail();
    buf[n] = 0;
    printf("%s\n", buf);
    return 0;
}

static int cmd_getcwd(void)
{
    char buf[PATH_MAX + 1];
    long r = syscall(SYS_getcwd, buf, sizeof(buf));
    if (r < 0)
        return fail();
    printf("%s\n", buf);
    return 0;
}

static int cmd_access(const char *path, const char *m)
{
    int mode = 0;
    for (; *m; m++) {
        switch (*m) {
        case 'r': mode |= R_OK; break;
        case 'w': mode |= W_OK; break;
        case 'x': mode |= X_OK; break;
        case 'f': mode |= F_OK; break;
        default: return usage("access PATH MODE (letters rwxf)");
        }
    }
    if (access(path, mode) < 0)
        return fail();
    printf("ok\n");
    return 0;
}

static int cmd_openat_rel(const char *dir, const char *rel)
{
    int dfd = (int)syscall(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0)
        return fail();
    int fd = (int)syscall(SYS_openat, dfd, rel, O_RDONLY, 0);
    if (fd < 0)
        return fail();
    if (copy_out(fd) < 0)
        return fail();
    return 0;
}

static int cmd_openat2_inroot(const char *dir, const char *rel)
{
    struct open_how how;
    int dfd = (int)syscall(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0)
        return fail();
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY;
    how.resolve = RESOLVE_IN_ROOT;
    int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
    if (fd < 0)
        return fail();
    if (copy_out(fd) < 0)
        return fail();
    return 0;
}

static int cmd_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int fds[4096];
    int n = 0;
    if (!d)
        return fail();
    int self = dirfd(d);
    while ((de = readdir(d)) != NULL && n < 4096) {
        if (de->d_name[0] == '.')
            continue;
        int fd = atoi(de->d_name);
        if (fd == self)
            continue;
        fds[n++] = fd;
    }
    for (int i = 1; i < n; i++)          /* insertion sort */
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j]; fds[j] = fds[j - 1]; fds[j - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        char p[64], target[PATH_MAX + 1];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fds[i]);
        ssize_t r = readlink(p, target, PATH_MAX);
        if (r < 0)
            snprintf(target, sizeof(target), "?%s", errname(errno));
        else
            target[r] = 0;
        printf("%d -> %s\n", fds[i], target);
    }
    closedir(d);
    return 0;
}

static int cmd_uname(void)
{
    struct utsname u;
    if (syscall(SYS_uname, &u) < 0)
        return fail();
    printf("sysname=%s\nnodename=%s\nrelease=%s\nversion=%s\nmachine=%s\n",
           u.sysname, u.nodename, u.release, u.version, u.machine);
    return 0;
}

static int cmd_id(void)
{
    gid_t groups[1024];
    int n = getgroups(1024, groups);
    if (n < 0)
        return fail();
    printf("uid=%d gid=%d euid=%d egid=%d groups=", (int)getuid(), (int)getgid(),
           (int)geteuid(), (int)getegid());
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", (int)groups[i]);
    printf("\n");
    return 0;
}

static int cmd_caps(void)
{
    char line[512];
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return fail();
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "CapPrm:", 7) ||
            !strncmp(line, "CapBnd:", 7))
            fputs(line, stdout);
    }
    fclose(f);
    return 0;
}

static const struct { const char *name; int res; } rlims[] = {
    {"CPU", RLIMIT_CPU},         {"FSIZE", RLIMIT_FSIZE},   {"DATA", RLIMIT_DATA},
    {"STACK", RLIMIT_STACK},     {"CORE", RLIMIT_CORE},     {"RSS", RLIMIT_RSS},
    {"NPROC", RLIMIT_NPROC},     {"NOFILE", RLIMIT_NOFILE}, {"MEMLOCK", RLIMIT_MEMLOCK},
    {"AS", RLIMIT_AS},           {"LOCKS", RLIMIT_LOCKS},   {"SIGPENDING", RLIMIT_SIGPENDING},
    {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},   {"RTPRIO", RLIMIT_RTPRIO},
    {"RTTIME", RLIMIT_RTTIME},
};

static void print_rlim(rlim_t v)
{
    if (v == RLIM_INFINITY)
        printf("unlimited");
    else
        printf("%llu", (unsigned long long)v);
}

static int cmd_rlimit(const char *name)
{
    const char *n = name;
    if (!strncmp(n, "RLIMIT_", 7))
        n += 7;
    for (size_t i = 0; i < sizeof(rlims) / sizeof(rlims[0]); i++) {
        if (!strcasecmp(rlims[i].name, n)) {
            struct rlimit rl;
            if (getrlimit(rlims[i].res, &rl) < 0)
                return fail();
            print_rlim(rl.rlim_cur);
            printf(" ");
            print_rlim(rl.rlim_max);
            printf("\n");
            return 0;
        }
    }
    return usage("rlimit NOFILE|NPROC|CORE|STACK|AS|DATA|FSIZE|CPU|MEMLOCK|...");
}

static void on_term(int sig)
{
    static const char msg[] = "got SIGTERM\n";
    (void)sig;
    if (write(1, msg, sizeof(msg) - 1) < 0)
        _exit(3);
    _exit(0);
}

static int cmd_spin_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0)
        return fail();
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}

static int cmd_fork_exit_wait(int n)
{
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0)
            return fail();
        if (p == 0)
            _exit(7);
    }
    for (int i = 0; i < n; i++) {
        int st;
        pid_t p = wait(&st);
        if (p < 0)
            return fail();
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) {
            printf("bad status 0x%x from pid %d\n", st, (int)p);
            return 1;
        }
    }
    printf("ok\n");
    return 0;
}

static void bp_report(const char *name, long r)
{
    if (r < 0)
        printf("%s %s\n", name, errname(errno));
    else
        printf("%s ok=%ld\n", name, r);
}

/*
 * Each case prints "name ERRNAME" (or "name ok=RET" if the call succeeded).
 * Expected on Linux: open-null EFAULT, open-one EFAULT, stat-unmapped EFAULT,
 * stat-toolong ENAMETOOLONG, stat-unterminated EFAULT (100 'a' bytes at the end
 * of a mapping followed by an unmapped page), open-unterminated EFAULT.
 */
static int cmd_bad_pointer(void)
{
    struct stat st;
    long pg = sysconf(_SC_PAGESIZE);
    long r;

    r = syscall(SYS_open, (char *)NULL, O_RDONLY, 0);
    bp_report("open-null", r);
    r = syscall(SYS_open, (char *)1, O_RDONLY, 0);
    bp_report("open-one", r);

    char *unm = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (unm == MAP_FAILED)
        return fail();
    munmap(unm, (size_t)pg);
    r = syscall(SYS_stat, unm, &st);
    bp_report("stat-unmapped", r);

    char *longp = malloc(5001);
    memset(longp, 'a', 5000);
    longp[5000] = 0;
    r = syscall(SYS_stat, longp, &st);
    bp_report("stat-toolong", r);
    free(longp);

    char *two = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (two == MAP_FAILED)
        return fail();
    munmap(two + pg, (size_t)pg);
    memset(two, 'a', (size_t)pg);
    r = syscall(SYS_stat, two + pg - 100, &st);
    bp_report("stat-unterminated", r);
    r = syscall(SYS_open, two + pg - 100, O_RDONLY, 0);
    bp_report("open-unterminated", r);
    return 0;
}

static int cmd_syscall(int argc, char **argv)
{
    long a[6] = {0, 0, 0, 0, 0, 0};
    long nr = strtol(argv[2], NULL, 0);
    for (int i = 3; i < argc && i - 3 < 6; i++)
        a[i - 3] = (long)strtoll(argv[i], NULL, 0);
    long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (r == -1)
        return fail();
    printf("ret=%ld\n", r);
    return 0;
}

/* race-rename: shared buffer flipped by a second thread */
static char race_buf[PATH_MAX];
static char race_a[PATH_MAX], race_b[PATH_MAX];
static volatile int race_stop;

static void *race_flipper(void *arg)
{
    (void)arg;
    while (!race_stop) {
        memcpy(race_buf, race_a, sizeof(race_buf));
        __asm__ __volatile__("" ::: "memory");
        memcpy(race_buf, race_b, sizeof(race_buf));
        __asm__ __volatile__("" ::: "memory");
    }
    return NULL;
}

static int cmd_race_rename(const char *a, const char *b, long n)
{
    pthread_t t;
    long ok = 0, tries = 0;
    if (strlen(a) >= PATH_MAX || strlen(b) >= PATH_MAX)
        return usage("race-rename PATH_A PATH_B N (paths too long)");
    strcpy(race_a, a);
    strcpy(race_b, b);
    strcpy(race_buf, a);
    if (pthread_create(&t, NULL, race_flipper, NULL) != 0)
        return usage("pthread_create failed");
    for (tries = 0; tries < n; tries++) {
        int fd = (int)syscall(SYS_open, race_buf, O_WRONLY, 0);
        if (fd >= 0) {
            ok++;
            close(fd);
        }
    }
    race_stop = 1;
    pthread_join(t, NULL);
    printf("opened=%ld tries=%ld\n", ok, tries);
    return 0;
}

/* -------------------------------------------------------------------- main */

/* ---- tracing: threads, signals, job control, fd installation ------------------- */

struct file_loop { const char *path; long n; long bad; };

static void *file_loop_thread(void *arg)
{
    struct file_loop *fl = arg;
    for (long i = 0; i < fl->n; i++) {
        int fd = (int)syscall(SYS_open, fl->path, O_RDONLY | O_CLOEXEC, 0);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
            !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
            fl->bad++;
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

/* N threads each open+fstat+close PATH ITER times: every fd valid and close-on-exec. */
static int cmd_threads_files(int n, const char *path, long iter)
{
    pthread_t th[64];
    struct file_loop fl[64];
    if (n < 1 || n > 64)
        return 2;
    for (int i = 0; i < n; i++) {
        fl[i] = (struct file_loop){ .path = path, .n = iter };
        if (pthread_create(&th[i], NULL, file_loop_thread, &fl[i]))
            return fail();
    }
    long bad = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        bad += fl[i].bad;
    }
    printf("opens=%ld bad=%ld\n", (long)n * iter, bad);
    return bad ? 1 : 0;
}

struct exec_args { char **argv; };

static void *exec_thread(void *arg)
{
    struct exec_args *ea = arg;
    usleep(50000); /* the other threads are busy making trapped calls by now */
    fflush(stdout);
    execv(ea->argv[0], ea->argv);
    perror("execv");
    _exit(126);
}

/* A forked child execs PATH ARGS; exits with the child's status (or 128+signal). */
static int cmd_fork_exec(char **argv)
{
    fflush(stdout);
    pid_t p = fork();
    if (p < 0)
        return fail();
    if (p == 0) {
        execv(argv[0], argv);
        fail();
        _exit(126);
    }
    int st;
    if (waitpid(p, &st, 0) < 0)
        return fail();
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * ptrace MODE: a forked child asks to be traced (PTRACE_TRACEME) and stops; the parent
 * traces it. Prints one line per step; exits 0.
 *   peek      the parent reads a word of the child's memory, continues it, and
 *             reports how it exited.
 *   rewrite   at the child's syscall-entry stop for getpid() the parent rewrites the
 *             call into open("/proc/self/status"): the filter still sees the rewritten
 *             call (the child prints the first bytes it reads from the fd it got).
 *   suspend   the parent asks for PTRACE_O_SUSPEND_SECCOMP.
 */
static long ptrace_word = 0x5eed;
static char ptrace_path[] = "/proc/self/status";

static int cmd_ptrace(const char *mode)
{
    fflush(stdout);
    pid_t p = fork();
    if (p < 0)
        return fail();
    if (p == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0) {
            printf("traceme ");
            fail();
            _exit(3);
        }
        raise(SIGSTOP);
        long fd = syscall(SYS_getpid);
        if (!strcmp(mode, "rewrite")) {
            char buf[6] = {0};
            if (fd < 3 || read((int)fd, buf, 5) != 5)
                _exit(4);
            printf("child read %s\n", buf);
        }
        _exit(7);
    }
    int st;
    if (waitpid(p, &st, 0) < 0)
        return fail();
    printf("stopped=%d sig=%d\n", WIFSTOPPED(st), WIFSTOPPED(st) ? WSTOPSIG(st) : 0);
    if (!WIFSTOPPED(st))
        return 1;
    if (!strcmp(mode, "peek")) {
        errno = 0;
        long v = ptrace(PTRACE_PEEKDATA, p, &ptrace_word, 0);
        printf("peek=%lx\n", errno ? -1L : v);
    } else if (!strcmp(mode, "suspend")) {
        long r = ptrace(PTRACE_SETOPTIONS, p, 0, (void *)(long)0x200000);
        printf("suspend-seccomp ");
        if (r < 0)
            fail();
        else
            printf("ok\n");
    } else if (!strcmp(mode, "rewrite")) {
        struct user_regs_struct regs;
        for (;;) {  /* to the entry of getpid(), past whatever raise() did after the stop */
            if (ptrace(PTRACE_SYSCALL, p, 0, 0) < 0 || waitpid(p, &st, 0) < 0)
                return fail();
            if (!WIFSTOPPED(st) || ptrace(PTRACE_GETREGS, p, 0, &regs) < 0)
                return 1;
            if (regs.orig_rax == SYS_getpid)
                break;
        }
        regs.orig_rax = SYS_open;
        regs.rdi = (unsigned long)ptrace_path;
        regs.rsi = O_RDONLY;
        if (ptrace(PTRACE_SETREGS, p, 0, &regs) < 0)
            return fail();
        printf("rewrote getpid\n");
    }
    fflush(stdout);
    if (ptrace(PTRACE_CONT, p, 0, 0) < 0)
        return fail();
    if (waitpid(p, &st, 0) < 0)
        return fail();
    printf("exited=%d code=%d\n", WIFEXITED(st), WIFEXITED(st) ? WEXITSTATUS(st) : 0);
    return 0;
}

static void pty_step(const char *what, long r)
{
    printf("%s ", what);
    if (r < 0)
        fail();
    else
        printf("ok\n");
}

/*
 * pty: a terminal of /dev/ptmx as a session leader without one (the container's init)
 * uses it: its replica opened without O_NOCTTY becomes the controlling terminal
 * (/dev/tty opens, another session's TIOCSCTTY is EPERM), a new session takes a
 * terminal of its own with TIOCSCTTY, and once the replica is closed the master reads
 * what was written, then EIO.
 */
static int cmd_pty(void)
{
    char buf[64];
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
        return fail();
    char *name = ptsname(m);
    int s = open(name, O_RDWR);
    if (s < 0)
        return fail();
    pty_step("controlling", tcgetsid(s) == getsid(0) ? 0 : -1);
    int tty = open("/dev/tty", O_RDWR);
    pty_step("dev-tty", tty);
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        setsid();
        pty_step("other-session-TIOCSCTTY", ioctl(s, TIOCSCTTY, 0));
        pty_step("other-session-dev-tty", open("/dev/tty", O_RDWR));
        int s2 = open(name, O_RDWR | O_NOCTTY);
        pty_step("noctty-TIOCSCTTY", ioctl(s2, TIOCSCTTY, 0));
        int m2 = open("/dev/ptmx", O_RDWR | O_NOCTTY);
        if (m2 < 0 || grantpt(m2) < 0 || unlockpt(m2) < 0)
            _exit(fail());
        int s3 = open(ptsname(m2), O_RDWR | O_NOCTTY);
        pty_step("own-pty-TIOCSCTTY", ioctl(s3, TIOCSCTTY, 0));
        pty_step("own-pty-dev-tty", open("/dev/tty", O_RDWR));
        fflush(stdout);
        _exit(0);
    }
    waitpid(p, NULL, 0);
    pty_step("master-TIOCSCTTY", ioctl(m, TIOCSCTTY, 0));
    if (write(s, "x\n", 2) != 2)
        return fail();
    close(s);
    if (tty >= 0)
        close(tty);
    for (int i = 0; i < 3; i++) {
        ssize_t n = read(m, buf, sizeof(buf));
        printf("master-read %zd ", n);
        if (n <= 0) {
            if (n < 0)
                fail();
            break;
        }
        printf("\n");
    }
    return 0;
}

/* clone3 FLAGS: a child by a raw clone3(2) (exit signal SIGCHLD), which exits 5. */
static int cmd_clone3(unsigned long long flags)
{
    uint64_t args[8] = { flags, 0, 0, 0, SIGCHLD, 0, 0, 0 }; /* struct clone_args v0 */
    fflush(stdout);
    long p = syscall(SYS_clone3, args, sizeof(args));
    if (p < 0)
        return fail();
    if (p == 0)
        _exit(5);
    int st;
    if (waitpid((pid_t)p, &st, 0) < 0)
        return fail();
    printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}

static void *busy_thread(void *arg)
{
    struct stat st;
    for (;;)
        syscall(SYS_stat, (const char *)arg, &st);
    return NULL;
}

/* N threads busy with trapped calls; a non-leader thread execs PATH ARGS. */
static int cmd_threads_exec(int n, char **argv)
{
    pthread_t th;
    struct exec_args ea = { .argv = argv };
    for (int i = 0; i < n; i++)
        if (pthread_create(&th, NULL, busy_thread, "/"))
            return fail();
    if (pthread_create(&th, NULL, exec_thread, &ea))
        return fail();
    for (;;)
        syscall(SYS_stat, "/", &(struct stat){ 0 });
}

static volatile sig_atomic_t usr1_count;
static void on_usr1(int sig) { (void)sig; usr1_count++; }

/*
 * ITER opens while a child floods us with SIGUSR1: every open returns the lowest free
 * fd (3) with the right close-on-exec flag, and the handler runs.
 */
static int cmd_open_signals(const char *path, long iter)
{
    struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        for (;;) {
            if (kill(parent, SIGUSR1) < 0)
                _exit(0);
            usleep(100);
        }
    }
    long bad = 0;
    for (long i = 0; i < iter; i++) {
        int cloexec = i & 1;
        int fd = (int)syscall(SYS_open, path, O_RDONLY | (cloexec ? O_CLOEXEC : 0), 0);
        if (fd != 3 || !!(fcntl(fd, F_GETFD) & FD_CLOEXEC) != cloexec) {
            if (bad++ < 5)
                printf("open %ld: fd %d flags %d\n", i, fd, fcntl(fd, F_GETFD));
        }
        if (fd >= 0)
            close(fd);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("opens=%ld bad=%ld signals=%s\n", iter, bad, usr1_count > 0 ? "yes" : "no");
    return bad || !usr1_count ? 1 : 0;
}

/* A syscall made with rsp near the bottom of a mapping: nothing below it is mapped. */
static long syscall_on_stack(void *stack_top, long nr, long a0, long a1, long a2)
{
    long ret;
    asm volatile(
        "mov %%rsp, %%r12\n\t"
        "mov %[stk], %%rsp\n\t"
        "syscall\n\t"
        "mov %%r12, %%rsp\n\t"
        : "=a"(ret)
        : "a"(nr), "D"(a0), "S"(a1), "d"(a2), [stk] "r"(stack_top)
        : "rcx", "r11", "r12", "memory");
    return ret;
}

static int cmd_open_lowstack(const char *path)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m, pg, PROT_NONE) < 0)
        return fail();
    long fd = syscall_on_stack(m + pg + 64, SYS_open, (long)path, O_RDONLY, 0);
    if (fd < 0) {
        errno = (int)-fd;
        return fail();
    }
    char buf[64];
    ssize_t n = read((int)fd, buf, sizeof buf - 1);
    if (n < 0)
        return fail();
    buf[n] = 0;
    printf("fd=%ld first=%s\n", fd, strtok(buf, "\n"));
    return 0;
}

/*
 * Job control as a parent sees it: a stopped child is reported stopped
 * (WUNTRACED) and makes no progress, SIGCONT is reported (WCONTINUED) and it runs
 * again; SIGCHLD's siginfo names the child and its status.
 */
static volatile sig_atomic_t chld_code, chld_status, chld_pid;
static void on_chld(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    chld_code = si->si_code;
    chld_status = si->si_status;
    chld_pid = si->si_pid;
}

static void sleep_us(long us) /* whole, though SIGCHLD handlers interrupt nanosleep */
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int cmd_job_control(void)
{
    volatile long *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa = { .sa_sigaction = on_chld, .sa_flags = SA_SIGINFO | SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    pid_t child = fork();
    if (child == 0) {
        for (;;) {
            (*counter)++;
            usleep(1000);
        }
    }
    int st;
    sleep_us(50000);
    kill(child, SIGSTOP);
    if (waitpid(child, &st, WUNTRACED) != child || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
        printf("stop: status 0x%x\n", st);
        return 1;
    }
    long a = *counter;
    sleep_us(200000);
    long b = *counter;
    kill(child, SIGCONT);
    if (waitpid(child, &st, WCONTINUED) != child || !WIFCONTINUED(st)) {
        printf("cont: status 0x%x\n", st);
        return 1;
    }
    sleep_us(100000);
    long c = *counter;
    kill(child, SIGTERM);
    if (waitpid(child, &st, 0) != child || !WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM) {
        printf("term: status 0x%x\n", st);
        return 1;
    }
    pid_t exiter = fork();
    if (exiter == 0)
        _exit(5);
    waitpid(exiter, &st, 0);
    printf("stopped_ran=%ld resumed_ran=%ld sigchld_pid_ok=%d code=%d status=%d\n",
           b - a, c - b, chld_pid == exiter, (int)chld_code, (int)chld_status);
    return 0;
}

/*
 * An attack on fd installation by syscall injection: trapped opens are made from an
 * RWX page (`syscall; ret`) while another thread keeps rewriting that `syscall` into
 * `ud2` and back. Whatever the sentry runs in this task must be its injected calls
 * only: the task either gets every fd right or is killed; it never crashes the sentry.
 */
static volatile unsigned char *hijack_code;

static void *hijack_flipper(void *arg)
{
    (void)arg;
    for (;;) {
        hijack_code[0] = 0x0f; hijack_code[1] = 0x0b; /* ud2 */
        hijack_code[0] = 0x0f; hijack_code[1] = 0x05; /* syscall */
    }
    return NULL;
}

static void on_sigill(int sig) { (void)sig; }

static int cmd_hijack_injection(const char *path, long iter)
{
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return fail();
    memcpy(page, "\x0f\x05\xc3", 3); /* syscall; ret */
    hijack_code = page;
    signal(SIGILL, on_sigill); /* a ud2 the task itself runs is its own business */
    pthread_t th;
    if (pthread_create(&th, NULL, hijack_flipper, NULL))
        return fail();
    long (*call)(long, long, long, long) = (long (*)(long, long, long, long))(void *)page;
    long ok = 0;
    for (long i = 0; i < iter; i++) {
        long fd;
        /* rax = nr, then the stub; its ud2 variant faults and the handler returns past
         * nothing, so retry until a real syscall ran */
        asm volatile("mov %1, %%rax\n\tmov %2, %%rdi\n\txor %%esi, %%esi\n\t"
                     "xor %%edx, %%edx\n\tcall *%3"
                     : "=a"(fd) : "i"(SYS_open), "r"(path), "r"(call)
                     : "rdi", "rsi", "rdx", "rcx", "r11", "memory");
        if (fd >= 0) {
            ok++;
            close((int)fd);
        }
    }
    printf("survived ok=%ld\n", ok);
    return 0;
}

/*
 * An attack on the ptrace platform's fd stub: find the stub the sentry mapped into
 * this process (an anonymous r-x page starting `syscall; int3`), and keep swapping its
 * code with code that makes a trapped call (uname into our own buffer) while the main
 * thread opens files. The sentry must never let that call run unseen: the process
 * is killed, or the sentry never ran the swapped code. "LEAK" means a host uname.
 */
static unsigned char stub_orig[20], stub_evil[20];
static unsigned char *volatile stub_code;
static struct utsname leak_buf;

static void *stub_flipper(void *arg)
{
    (void)arg;
    for (unsigned long n = 0;; n++) {
        unsigned char *code = stub_code;
        /* each for a while (the sentry checks the code, then runs it, microseconds
         * apart), at a varying rhythm */
        memcpy(code, (n & 1) ? stub_evil : stub_orig, sizeof stub_orig);
        for (volatile unsigned long spin = (n * 7919) % 20000; spin; spin--)
            ;
        if (leak_buf.release[0]) { /* the main thread spins in the evil code */
            printf("LEAK %s\n", leak_buf.release);
            fflush(stdout);
            _exit(1);
        }
    }
    return NULL;
}

/* A stub not yet attacked (still r-x), made writable: the sentry replaces a stub it
 * finds changed, so the attack moves on to each new one. */
static unsigned char *stub_take(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned char *found = NULL;
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long lo, hi, inode;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &lo, &hi, perms, &inode) == 4 &&
            !strcmp(perms, "r-xp") && inode == 0 && hi - lo == 4096 &&
            !memcmp((void *)lo, "\x0f\x05\xcc", 3))
            found = (unsigned char *)lo;
    }
    if (maps)
        fclose(maps);
    if (found && mprotect(found, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) < 0)
        return NULL;
    return found;
}

static int cmd_stub_hijack(const char *path, long iter)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail();
    close(fd);
    unsigned char *stub = stub_take();
    if (!stub) {
        printf("no stub\n");
        return 0;
    }
    memcpy(stub_orig, stub, sizeof stub_orig);
    /* mov $63,%eax; movabs $leak_buf,%rdi; syscall; jmp . */
    unsigned char evil[sizeof stub_evil] = { 0xb8, 63, 0, 0, 0, 0x48, 0xbf, 0, 0, 0, 0, 0, 0,
                                             0, 0, 0x0f, 0x05, 0xeb, 0xfe };
    uint64_t addr = (uint64_t)&leak_buf;
    memcpy(evil + 7, &addr, 8);
    memcpy(stub_evil, evil, sizeof stub_evil);
    stub_code = stub;
    pthread_t th;
    if (pthread_create(&th, NULL, stub_flipper, NULL))
        return fail();
    long stubs = 1;
    for (long i = 0; i < iter; i++) {
        fd = (int)syscall(SYS_open, path, O_RDONLY, 0);
        if (fd >= 0)
            close(fd);
        if (leak_buf.release[0]) {
            printf("LEAK %s\n", leak_buf.release);
            return 1;
        }
        unsigned char *next = stub_take();
        if (next) {
            stub_code = next;
            stubs++;
        }
    }
    printf("survived stubs=%ld\n", stubs);
    return 0;
}

/*
 * N threads loop on open/read/close (trapped calls, each an fd installed) with tiny
 * sleeps; the main thread exits once every thread has finished one round. A sentry
 * that always serves the same few threads first never lets it (CPython's
 * test_threading test_4_daemon_threads hung so on the ptrace platform).
 */
static volatile int fair_done[256];

static void *fair_thread(void *arg)
{
    long i = (long)arg;
    char buf[200];
    for (;;) {
        int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (read(fd, buf, sizeof buf) < 0)
                perror("read");
            close(fd);
        }
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, buf, 1) < 0)
                perror("write");
            close(fd);
        }
        fair_done[i] = 1;
        usleep((useconds_t)(rand_r(&(unsigned){ (unsigned)i }) % 500));
    }
    return NULL;
}

static int cmd_threads_fair(int n)
{
    if (n < 1 || n > 256)
        return 2;
    for (long i = 0; i < n; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, fair_thread, (void *)i))
            return fail();
    }
    for (;;) {
        int all = 1;
        for (int i = 0; i < n; i++)
            all &= fair_done[i];
        if (all)
            break;
        usleep(1000);
    }
    printf("all %d ran\n", n);
    fflush(stdout);
    _exit(0);
}

/* openat2 of "/proc" (absolutely and relatively) under every valid RESOLVE_*
 * combination, from AT_FDCWD and from dirfds of "/", "/etc" and "/proc"; for each /proc
 * opened, the pids it lists, and each one's cmdline and self/status's Pid opened both
 * through that /proc's fd and by the full path from the same dirfd. Prints "me PID",
 * then "entry R DIR PATH N", "cmdline R DIR PATH N TEXT", "status R DIR PATH PID". */
static int probe_open(int dfd, const char *path, uint64_t resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
}

static void probe_print(int fd, const char *kind, uint64_t resolve, const char *dir,
                        const char *path, const char *n)
{
    char buf[4096];
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[got > 0 ? got : 0] = 0;
    if (!strcmp(kind, "status")) {
        char *pid = strstr(buf, "\nPid:");
        printf("status %#llx %s %s %ld\n", (unsigned long long)resolve, dir, path,
               pid ? strtol(pid + 5, NULL, 10) : -1L);
        return;
    }
    for (ssize_t i = 0; i < got; i++)
        if (buf[i] == 0 || buf[i] == '\n')
            buf[i] = ' ';
    printf("cmdline %#llx %s %s %s %s\n", (unsigned long long)resolve, dir, path, n, buf);
}

static void probe_proc_dir(int dfd, int pfd, uint64_t resolve, const char *dir,
                           const char *path)
{
    char full[600];
    int copy = dup(pfd);
    DIR *d = copy < 0 ? NULL : fdopendir(copy);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        printf("entry %#llx %s %s %s\n", (unsigned long long)resolve, dir, path, de->d_name);
        char rel[300];
        snprintf(rel, sizeof(rel), "%s/cmdline", de->d_name);
        int fd = probe_open(pfd, rel, resolve);
        if (fd >= 0)
            probe_print(fd, "cmdline", resolve, dir, path, de->d_name);
        snprintf(full, sizeof(full), "%s/%s/cmdline", path, de->d_name);
        fd = probe_open(dfd, full, resolve);
        if (fd >= 0)
            probe_print(fd, "cmdline", resolve, dir, path, de->d_name);
    }
    if (d)
        closedir(d);
    int fd = probe_open(pfd, "self/status", resolve);
    if (fd >= 0)
        probe_print(fd, "status", resolve, dir, path, NULL);
    snprintf(full, sizeof(full), "%s/self/status", path);
    fd = probe_open(dfd, full, resolve);
    if (fd >= 0)
        probe_print(fd, "status", resolve, dir, path, NULL);
}

static int cmd_openat2_probe(void)
{
    static const char *dirs[] = { "AT_FDCWD", "/", "/etc", "/proc" };
    static const char *paths[] = { "/proc", "proc", "../proc", "../../../../proc", "." };
    printf("me %d\n", getpid());
    for (uint64_t resolve = 0; resolve < 0x40; resolve++) {
        if ((resolve & RESOLVE_BENEATH) && (resolve & RESOLVE_IN_ROOT))
            continue;
        for (unsigned i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
            int dfd = i == 0 ? AT_FDCWD : open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0 && i != 0)
                return fail();
            for (unsigned j = 0; j < sizeof(paths) / sizeof(paths[0]); j++) {
                struct open_how how;
                memset(&how, 0, sizeof(how));
                how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
                how.resolve = resolve;
                int pfd = (int)syscall(SYS_openat2, dfd, paths[j], &how, sizeof(how));
                if (pfd < 0)
                    continue;
                probe_proc_dir(dfd, pfd, resolve, dirs[i], paths[j]);
                close(pfd);
            }
            if (i != 0)
                close(dfd);
        }
    }
    fflush(stdout);
    return 0;
}

/* reopen PATH r|w|rw [unlink|NEWNAME]: PATH opened O_PATH, then unlinked or renamed to
 * NEWNAME if asked, then opened again through /proc/self/fd/N with the mode given:
 * prints what it read ("read TEXT") or "wrote", or ERR. */
static int cmd_reopen(const char *path, const char *mode, const char *then)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return fail();
    if (then && !strcmp(then, "unlink") && unlink(path) < 0)
        return fail();
    if (then && strcmp(then, "unlink") && rename(path, then) < 0)
        return fail();
    int flags = !strcmp(mode, "r") ? O_RDONLY : !strcmp(mode, "w") ? O_WRONLY : O_RDWR;
    char link[64], buf[256];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    int rfd = open(link, flags | O_CLOEXEC);
    if (rfd < 0)
        return fail();
    if (flags == O_RDONLY) {
        ssize_t n = read(rfd, buf, sizeof(buf) - 1);
        if (n < 0)
            return fail();
        buf[n] = 0;
        printf("read %s\n", buf);
    } else {
        if (write(rfd, "pwned\n", 6) != 6)
            return fail();
        printf("wrote\n");
    }
    return 0;
}

/* fifo-reopen PATH [stuck]: a FIFO made at PATH, opened O_PATH and unlinked, then
 * opened for reading through /proc/self/fd/N (blocking: it waits for a writer) while a
 * child opens it for writing the same way 300 ms later and writes "hello"; prints what
 * the reader read. With "stuck" no writer ever comes: the reader waits for good. */
static int cmd_fifo_reopen(const char *path, int stuck)
{
    if (mkfifo(path, 0666) < 0)
        return fail();
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0 || unlink(path) < 0)
        return fail();
    char link[64], buf[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    pid_t child = stuck ? 0 : fork();
    if (child < 0)
        return fail();
    if (child == 0 && !stuck) {
        usleep(300000);
        int w = open(link, O_WRONLY | O_CLOEXEC);
        _exit(w < 0 || write(w, "hello", 5) != 5 ? 1 : 0);
    }
    printf("waiting\n");
    fflush(stdout);
    int r = open(link, O_RDONLY | O_CLOEXEC);
    if (r < 0)
        return fail();
    ssize_t n = read(r, buf, sizeof(buf) - 1);
    if (n < 0)
        return fail();
    buf[n] = 0;
    int status = 0;
    if (child > 0 && waitpid(child, &status, 0) < 0)
        return fail();
    printf("read %s writer %d\n", buf, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

/* ---------------------------------------------- credentials, umask, own filters */

struct drop_exec { uid_t uid; char **argv; };

/* A non-leader thread drops to uid:gid UID (no groups) with raw syscalls, which change
 * only that thread's credentials, and execs: the new image takes the leader's tid. */
static void *drop_exec_thread(void *arg)
{
    struct drop_exec *de = arg;
    if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, de->uid, de->uid, de->uid) < 0 ||
        syscall(SYS_setresuid, de->uid, de->uid, de->uid) < 0)
        _exit(fail() + 124);
    fflush(stdout);
    syscall(SYS_execve, de->argv[0], de->argv, environ);
    _exit(fail() + 125);
}

/* The leader (root) makes trapped calls (so that the sentry knows its credentials),
 * once or, with BUSY, all along; a second thread drops to UID and execs PATH ARGS. */
static int cmd_thread_setuid_exec(uid_t uid, int busy, char **argv)
{
    pthread_t th;
    static struct drop_exec de;
    struct stat st;
    de = (struct drop_exec){ .uid = uid, .argv = argv };
    if (syscall(SYS_stat, "/", &st) < 0)
        return fail();
    if (pthread_create(&th, NULL, drop_exec_thread, &de))
        return fail();
    for (;;) {
        if (busy)
            syscall(SYS_stat, "/", &st);
        else
            pause();
    }
}

/* What the caller may do to root's files: read SECRET, create NEW, unlink VICTIM. */
static int cmd_creds_probe(const char *secret, const char *newfile, const char *victim)
{
    char buf[64];
    printf("uid=%d euid=%d\n", (int)getuid(), (int)geteuid());
    int fd = (int)raw_open(secret, O_RDONLY, 0);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    printf("read=%s\n", n >= 0 ? "OK" : errname(errno));
    fd = (int)raw_open(newfile, O_CREAT | O_EXCL | O_WRONLY, 0644);
    printf("create=%s\n", fd >= 0 ? "OK" : errname(errno));
    printf("unlink=%s\n", syscall(SYS_unlink, victim) == 0 ? "OK" : errname(errno));
    return 0;
}

static volatile int umask_step;

static void *umask_sibling(void *arg)
{
    struct stat st;
    syscall(SYS_stat, "/", &st); /* the sentry meets this thread (and its umask) first */
    umask_step = 1;
    while (umask_step != 2)
        usleep(1000);
    int fd = (int)raw_open((const char *)arg, O_CREAT | O_EXCL | O_WRONLY, 0666);
    if (fd < 0 || fstat(fd, &st) < 0)
        return (void *)(long)fail();
    printf("mode=0%o\n", (unsigned)(st.st_mode & 07777));
    return NULL;
}

/* The main thread sets umask 077 while a sibling thread (CLONE_FS) waits; the sibling
 * then creates PATH 0666. */
static int cmd_thread_umask(const char *path)
{
    pthread_t th;
    if (pthread_create(&th, NULL, umask_sibling, (void *)path))
        return fail();
    while (umask_step != 1)
        usleep(1000);
    syscall(SYS_umask, 077);
    umask_step = 2;
    pthread_join(th, NULL);
    return 0;
}

/* A child process sharing our fs_struct (clone(CLONE_FS), no CLONE_THREAD) sets umask
 * 077 (SHARE=1) or a fork()ed child does (SHARE=0); then we create PATH 0666. */
static int cmd_child_umask(int share, const char *path)
{
    struct stat st;
    syscall(SYS_stat, "/", &st);
    long pid = syscall(SYS_clone, (share ? CLONE_FS : 0) | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0)
        return fail();
    if (pid == 0) {
        syscall(SYS_umask, 077);
        _exit(0);
    }
    waitpid((pid_t)pid, NULL, 0);
    int fd = (int)raw_open(path, O_CREAT | O_EXCL | O_WRONLY, 0666);
    if (fd < 0 || fstat(fd, &st) < 0)
        return fail();
    printf("mode=0%o\n", (unsigned)(st.st_mode & 07777));
    return 0;
}

static char sibling_word[16] = "parent";

static const char *outcome(long r)
{
    return r >= 0 ? "OK" : errname(errno);
}

/* The calls that reach into another task, made on a forked child: process_vm_readv,
 * process_vm_writev, pidfd_getfd (its stdout) and kcmp (our stdout and its). */
static int cmd_sibling_calls(void)
{
    char buf[16];
    pid_t child = fork();
    if (child < 0)
        return fail();
    if (child == 0) {
        for (;;)
            pause();
    }
    struct iovec local = { buf, sizeof(buf) }, remote = { sibling_word, sizeof(sibling_word) };
    printf("process_vm_readv=%s\n", outcome(syscall(SYS_process_vm_readv, child, &local, 1, &remote, 1, 0)));
    printf("process_vm_writev=%s\n", outcome(syscall(SYS_process_vm_writev, child, &local, 1, &remote, 1, 0)));
    long pidfd = syscall(SYS_pidfd_open, child, 0);
    printf("pidfd_getfd=%s\n", outcome(pidfd < 0 ? pidfd : syscall(SYS_pidfd_getfd, pidfd, 1, 0)));
    printf("kcmp=%s\n", outcome(syscall(SYS_kcmp, getpid(), child, 0 /* KCMP_FILE */, 1, 1)));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}

/* The workload's own filter: SECCOMP_RET_TRACE for syscall NR (allowed otherwise), then
 * NR made N times; prints how many failed with ENOSYS (Linux's answer when no tracer
 * takes the call). */
static int cmd_own_trace_filter(int nr, long n)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return fail();
    long enosys = 0;
    for (long i = 0; i < n; i++)
        if (syscall(nr, 0, 0, 0, 0, 0, 0) < 0 && errno == ENOSYS)
            enosys++;
    printf("calls=%ld enosys=%ld\n", n, enosys);
    return 0;
}

/* COUNT calls of syscall NR, each with another value (FROM, FROM+1, ...) of argument
 * IDX (of the syscall number itself when IDX is -1), the other arguments 0. */
static int cmd_syscall_sweep(long nr, int idx, long from, long count)
{
    long ok = 0;
    for (long i = 0; i < count; i++) {
        long a[6] = { 0, 0, 0, 0, 0, 0 };
        if (idx >= 0 && idx < 6)
            a[idx] = from + i;
        if (syscall(idx < 0 ? from + i : nr, a[0], a[1], a[2], a[3], a[4], a[5]) >= 0)
            ok++;
    }
    printf("calls=%ld ok=%ld\n", count, ok);
    return 0;
}

struct drop_read { uid_t uid; const char *path; };

static void *drop_read_thread(void *arg)
{
    struct drop_read *dr = arg;
    char buf[64];
    if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, dr->uid, dr->uid, dr->uid) < 0 ||
        syscall(SYS_setresuid, dr->uid, dr->uid, dr->uid) < 0)
        return (void *)(long)fail();
    int fd = (int)raw_open(dr->path, O_RDONLY, 0);
    printf("thread=%s\n", fd >= 0 && read(fd, buf, sizeof(buf)) >= 0 ? "OK" : errname(errno));
    return NULL;
}

/* A second thread drops to UID with raw syscalls (its own credentials only) and reads
 * PATH; then the leader, which the sentry met before, reads it. */
static int cmd_thread_setuid_read(uid_t uid, const char *path)
{
    pthread_t th;
    struct drop_read dr = { uid, path };
    char buf[64];
    struct stat st;
    if (syscall(SYS_stat, path, &st) < 0 && errno != EACCES)
        return fail();
    if (pthread_create(&th, NULL, drop_read_thread, &dr))
        return fail();
    pthread_join(th, NULL);
    int fd = (int)raw_open(path, O_RDONLY, 0);
    printf("leader=%s\n", fd >= 0 && read(fd, buf, sizeof(buf)) >= 0 ? "OK" : errname(errno));
    return 0;
}

/* ------------------------------------------- gaps: proc, inotify, path edges
 * Each prints one line per case, "name: result", with host-varying numbers
 * (inodes, pids) replaced so that runc's and runsc-py's outputs compare equal. */

static void gp_res(const char *name, long r)
{
    if (r < 0)
        printf("%s: ERR %s\n", name, errname(errno));
    else
        printf("%s: %ld\n", name, r);
}

/* digits runs → N (inode numbers, pids) */
static void gp_norm(const char *name, const char *s)
{
    char out[512];
    size_t o = 0;
    for (const char *p = s; *p && o < sizeof(out) - 2; p++) {
        if (*p >= '0' && *p <= '9') {
            while (p[1] >= '0' && p[1] <= '9')
                p++;
            out[o++] = 'N';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
    printf("%s: %s\n", name, out);
}

static void gp_link(const char *name, const char *path)
{
    char buf[512];
    ssize_t n = readlink(path, buf, sizeof(buf) - 1);
    if (n < 0) {
        printf("%s: ERR %s\n", name, errname(errno));
        return;
    }
    buf[n] = 0;
    gp_norm(name, buf);
}

static ssize_t gp_slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t o = 0;
    for (;;) {
        ssize_t n = read(fd, buf + o, size - 1 - o);
        if (n < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0 || o + (size_t)n >= size - 1) {
            o += (size_t)n;
            break;
        }
        o += (size_t)n;
    }
    buf[o] = 0;
    close(fd);
    return (ssize_t)o;
}

/* the state letter of /proc/PID/stat */
static char gp_state(const char *path)
{
    char buf[1024];
    if (gp_slurp(path, buf, sizeof(buf)) < 0)
        return '?';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

static volatile unsigned gp_secret = 0x1234abcd;

static void *gp_idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }

static int cmd_gaps_proc(void)
{
    char path[512], buf[8192];
    unsigned v = 0;

    /* /proc/self/mem, and a child's */
    int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    gp_res("mem-open", fd);
    if (fd >= 0) {
        gp_res("mem-read", pread(fd, &v, sizeof(v), (off_t)(uintptr_t)&gp_secret));
        printf("mem-value: %x\n", v);
        v = 0x5678;
        gp_res("mem-write", pwrite(fd, &v, sizeof(v), (off_t)(uintptr_t)&gp_secret));
        printf("mem-written: %x\n", gp_secret);
        gp_res("mem-seek-end", lseek(fd, 0, SEEK_END));
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        gp_link("mem-fd-link", path);
        close(fd);
    }
    pid_t child = fork();
    if (child == 0) {
        for (;;)
            pause();
    }
    usleep(100000);
    snprintf(path, sizeof(path), "/proc/%d/mem", child);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    gp_res("mem-child-open", fd);
    if (fd >= 0) {
        v = 0;
        gp_res("mem-child-read", pread(fd, &v, sizeof(v), (off_t)(uintptr_t)&gp_secret));
        printf("mem-child-value: %x\n", v);
        close(fd);
    }
    gp_res("mem-parent-open", open("/proc/1/mem", O_RDONLY | O_CLOEXEC) >= 0 || getpid() == 1 ? 0 : -1);

    /* states: the reader R, a sleeping child S */
    printf("self-state: %c\n", gp_state("/proc/self/stat"));
    snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", (long)syscall(SYS_gettid));
    printf("self-task-state: %c\n", gp_state(path));
    snprintf(path, sizeof(path), "/proc/%d/stat", child);
    printf("child-state: %c\n", gp_state(path));
    if (gp_slurp("/proc/self/status", buf, sizeof(buf)) > 0) {
        char *s = strstr(buf, "\nState:");
        if (s) { char *e = strchr(s + 1, '\n'); if (e) *e = 0; printf("self-status: %s\n", s + 1); }
    }

    /* task/TID/{children,io,comm} */
    long tid = (long)syscall(SYS_gettid);
    snprintf(path, sizeof(path), "/proc/self/task/%ld/children", tid);
    if (gp_slurp(path, buf, sizeof(buf)) < 0)
        printf("children: ERR %s\n", errname(errno));
    else {
        char want[32];
        snprintf(want, sizeof(want), "%d ", child);
        printf("children: %s\n", !strcmp(buf, want) ? "the child" : buf);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    snprintf(path, sizeof(path), "/proc/self/task/%ld/io", tid);
    if (gp_slurp(path, buf, sizeof(buf)) < 0)
        printf("task-io: ERR %s\n", errname(errno));
    else {
        char keys[256] = "";
        for (char *l = buf; l && *l; ) {
            char *colon = strchr(l, ':');
            if (!colon) break;
            strncat(keys, l, (size_t)(colon - l));
            strcat(keys, ",");
            l = strchr(colon, '\n');
            if (l) l++;
        }
        printf("task-io: %s\n", keys);
    }
    gp_res("self-io-open", open("/proc/self/io", O_RDONLY | O_CLOEXEC) >= 0 ? 0 : -1);
    snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", tid);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    gp_res("comm-open-w", fd);
    if (fd >= 0) {
        gp_res("comm-write", write(fd, "renamed", 7));
        close(fd);
    }
    gp_slurp("/proc/self/comm", buf, sizeof(buf));
    printf("comm-now: %s", buf);
    pthread_t th;
    pthread_create(&th, NULL, gp_idle, NULL);
    usleep(50000);
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    int nthreads = 0;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || atol(de->d_name) == tid)
            continue;
        nthreads++;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            gp_res("thread-comm-write", write(fd, "worker", 6));
            close(fd);
        } else
            printf("thread-comm-write: ERR %s\n", errname(errno));
        gp_slurp(path, buf, sizeof(buf));
        printf("thread-comm: %s", buf);
    }
    if (d) closedir(d);
    printf("other-threads: %d\n", nthreads);
    fd = open("/proc/1/comm", O_WRONLY | O_CLOEXEC);  /* another process: EINVAL at write */
    if (fd >= 0 && getpid() != 1) {
        gp_res("other-comm-write", write(fd, "x", 1));
        close(fd);
    } else if (getpid() != 1)
        printf("other-comm-write: ERR %s\n", errname(errno));

    /* /proc/self/ns */
    static const char *nss[] = {"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children",
                                "time", "time_for_children", "user", "uts"};
    for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++) {
        char name[64];
        snprintf(path, sizeof(path), "/proc/self/ns/%s", nss[i]);
        snprintf(name, sizeof(name), "ns-%s", nss[i]);
        gp_link(name, path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        snprintf(name, sizeof(name), "ns-%s-open", nss[i]);
        gp_res(name, fd < 0 ? -1 : 0);
        if (fd >= 0) {
            struct stat st, lst;
            char lk[128];
            ssize_t n = readlink(path, lk, sizeof(lk) - 1);
            lk[n > 0 ? n : 0] = 0;
            char *br = strchr(lk, '[');
            unsigned long ino = br ? strtoul(br + 1, NULL, 10) : 0;
            fstat(fd, &st);
            int ok = stat(path, &lst) == 0 && lst.st_ino == st.st_ino && st.st_ino == ino;
            snprintf(name, sizeof(name), "ns-%s-ino", nss[i]);
            printf("%s: %s\n", name, ok ? "matches" : "differs");
            close(fd);
        }
    }
    gp_res("setns-net", syscall(SYS_setns, open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), 0));

    /* /proc/devices, /proc/sys basics */
    if (gp_slurp("/proc/devices", buf, sizeof(buf)) < 0)
        printf("devices: ERR %s\n", errname(errno));
    else
        printf("devices: %s %s %s\n", strncmp(buf, "Character devices:\n", 19) ? "bad-head" : "head",
               strstr(buf, "\nBlock devices:\n") ? "block" : "no-block",
               strstr(buf, "  1 mem\n") ? "mem" : "no-mem");
    static const char *sysfiles[] = {
        "kernel/hostname", "kernel/ostype", "kernel/osrelease", "kernel/pid_max",
        "kernel/threads-max", "kernel/ngroups_max", "kernel/cap_last_cap", "kernel/version",
        "kernel/random/boot_id", "kernel/random/uuid", "kernel/random/entropy_avail",
        "kernel/domainname", "kernel/shmmax", "kernel/shmall", "kernel/shmmni",
        "kernel/msgmax", "kernel/msgmnb", "kernel/msgmni", "kernel/sem",
        "kernel/overflowuid", "kernel/overflowgid", "kernel/printk", "kernel/core_pattern",
        "kernel/keys/maxkeys",
        "vm/overcommit_memory", "vm/max_map_count", "vm/mmap_min_addr", "vm/swappiness",
        "vm/overcommit_ratio", "vm/dirty_ratio",
        "fs/file-max", "fs/nr_open", "fs/file-nr", "fs/pipe-max-size", "fs/inode-nr",
        "fs/inotify/max_user_watches", "fs/inotify/max_user_instances",
        "fs/inotify/max_queued_events", "fs/mqueue/msg_max", "fs/mqueue/queues_max",
        "fs/protected_symlinks", "fs/protected_hardlinks", "fs/suid_dumpable",
        "net/core/somaxconn", "net/ipv4/ip_local_port_range", "net/ipv4/tcp_keepalive_time",
        "net/ipv4/ip_forward", "net/ipv4/tcp_fin_timeout", "net/ipv4/ping_group_range",
        "net/ipv4/ip_unprivileged_port_start", "net/ipv6/conf/all/disable_ipv6",
        "net/core/rmem_max", "net/core/wmem_max", "net/unix/max_dgram_qlen",
    };
    for (size_t i = 0; i < sizeof(sysfiles) / sizeof(sysfiles[0]); i++) {
        snprintf(path, sizeof(path), "/proc/sys/%s", sysfiles[i]);
        ssize_t n = gp_slurp(path, buf, sizeof(buf));
        const char *fixed = strstr(sysfiles[i], "ostype") || strstr(sysfiles[i], "somaxconn")
            || strstr(sysfiles[i], "ngroups") || strstr(sysfiles[i], "overflow")
            || strstr(sysfiles[i], "overcommit_memory") ? buf : "";
        if (n < 0)
            printf("sys %s: ERR %s\n", sysfiles[i], errname(errno));
        else
            printf("sys %s: %s%s", sysfiles[i], n > 0 && buf[n - 1] == '\n' ? "nl " : "no-nl ",
                   *fixed ? fixed : "\n");
    }

    /* a zombie's files, and an exited task's open file */
    child = fork();
    if (child == 0)
        _exit(3);
    usleep(200000);
    snprintf(path, sizeof(path), "/proc/%d/stat", child);
    printf("zombie-state: %c\n", gp_state(path));
    static const char *zf[] = {"status", "cmdline", "comm", "statm", "limits"};
    for (size_t i = 0; i < sizeof(zf) / sizeof(zf[0]); i++) {
        char name[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", child, zf[i]);
        snprintf(name, sizeof(name), "zombie-%s", zf[i]);
        printf("%s: %s\n", name, gp_slurp(path, buf, sizeof(buf)) >= 0 ? "readable" : errname(errno));
    }
    snprintf(path, sizeof(path), "/proc/%d", child);
    d = opendir(path);
    printf("zombie-dir: %s\n", d ? "ok" : errname(errno));
    if (d) closedir(d);
    d = opendir("/proc");
    int listed = 0;
    while (d && (de = readdir(d)))
        listed |= atoi(de->d_name) == child;
    if (d) closedir(d);
    printf("zombie-listed: %d\n", listed);
    snprintf(path, sizeof(path), "/proc/%d/stat", child);
    int zfd = open(path, O_RDONLY | O_CLOEXEC);
    waitpid(child, NULL, 0);
    if (zfd >= 0) {
        gp_res("reaped-read", read(zfd, buf, sizeof(buf)));
        close(zfd);
    }

    /* mountinfo: proc(5)'s fields */
    if (gp_slurp("/proc/self/mountinfo", buf, sizeof(buf)) > 0) {
        int bad = 0, lines = 0;
        for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
            char *f[64];
            int n = 0;
            lines++;
            for (char *s = l, *tok; n < 64 && (tok = strsep(&s, " ")); )
                f[n++] = tok;
            int sep = 0;
            for (int i = 6; i < n; i++)
                if (!strcmp(f[i], "-")) { sep = i; break; }
            unsigned a, b;
            int ok = n >= 10 && sep >= 6 && n == sep + 4 && atoi(f[0]) > 0 && atoi(f[1]) > 0
                && sscanf(f[2], "%u:%u", &a, &b) == 2 && f[3][0] == '/' && f[4][0] == '/';
            /* per-mount options: only the mount flags proc_show_vfsmnt prints */
            for (char *o = f[5], *tok; ok && (tok = strsep(&o, ",")); ) {
                static const char *mflags[] = {"rw", "ro", "nosuid", "nodev", "noexec",
                    "noatime", "nodiratime", "relatime", "nosymfollow", "idmapped", NULL};
                int known = 0;
                for (int k = 0; mflags[k]; k++)
                    known |= !strcmp(tok, mflags[k]);
                ok = known;
            }
            for (int i = 6; ok && i < sep; i++)
                ok = !strncmp(f[i], "shared:", 7) || !strncmp(f[i], "master:", 7)
                    || !strncmp(f[i], "propagate_from:", 15) || !strcmp(f[i], "unbindable");
            if (!ok && bad++ < 3)
                printf("mountinfo-bad: %s %s %s %s %s %s\n", f[0], f[1], f[2], f[3], f[4], n > 5 ? f[5] : "");
        }
        printf("mountinfo: %s\n", lines && !bad ? "proc(5) format" : "malformed");
    }

    /* lseek(SEEK_END) */
    static const char *seeks[] = {
        "/proc/self/status", "/proc/self/stat", "/proc/meminfo", "/proc/self/cmdline",
        "/proc/self/environ", "/proc/self/maps", "/proc/self/mountinfo", "/proc/self/comm",
        "/proc/uptime", "/proc/sys/kernel/ostype", "/proc/sys/kernel/hostname",
        "/proc/sys/vm/overcommit_memory", "/proc", "/proc/self", "/proc/self/fd",
        "/proc/self/task", "/proc/sys", "/proc/sys/kernel", "/proc/self/ns", "/proc/self/oom_score_adj",
    };
    for (size_t i = 0; i < sizeof(seeks) / sizeof(seeks[0]); i++) {
        char name[96];
        fd = open(seeks[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            printf("seek-end %s: open ERR %s\n", seeks[i], errname(errno));
            continue;
        }
        snprintf(name, sizeof(name), "seek-end %s", seeks[i]);
        gp_res(name, lseek(fd, 0, SEEK_END));
        snprintf(name, sizeof(name), "seek-end+5 %s", seeks[i]);
        gp_res(name, lseek(fd, 5, SEEK_END));
        snprintf(name, sizeof(name), "seek-cur %s", seeks[i]);
        gp_res(name, lseek(fd, 0, SEEK_CUR));
        close(fd);
    }

    /* fd links of memfds, pipes, sockets, anonymous inodes */
    int mfd = memfd_create("probe", MFD_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
    gp_link("link-memfd", path);
    int pp[2];
    pipe2(pp, O_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", pp[0]);
    gp_link("link-pipe", path);
    int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", sk);
    gp_link("link-socket", path);
    int ev = eventfd(0, EFD_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", ev);
    gp_link("link-eventfd", path);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", ep);
    gp_link("link-epoll", path);
    int in = inotify_init1(IN_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", in);
    gp_link("link-inotify", path);
    int sf = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", sf);
    gp_link("link-proc-file", path);
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", mfd);
    gp_res("fdinfo-memfd", gp_slurp(path, buf, sizeof(buf)) > 0 ? 0 : -1);

    /* chdir through /proc/self/fd/N */
    mkdir("/tmp/gp-dir", 0755);
    int dfd = open("/tmp/gp-dir", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
    gp_res("chdir-fd", syscall(SYS_chdir, path));
    if (getcwd(buf, sizeof(buf)))
        printf("cwd: %s\n", buf);
    chdir("/");
    int pfd = open("/tmp/gp-dir", O_PATH | O_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
    gp_res("chdir-opath-fd", syscall(SYS_chdir, path));
    if (getcwd(buf, sizeof(buf)))
        printf("cwd: %s\n", buf);
    chdir("/");
    snprintf(path, sizeof(path), "/proc/self/fd/%d", sf);
    gp_res("chdir-file-fd", syscall(SYS_chdir, path));
    snprintf(path, sizeof(path), "/proc/self/fd/%d", pp[0]);
    gp_res("chdir-pipe-fd", syscall(SYS_chdir, path));
    snprintf(path, sizeof(path), "/proc/self/fd/%d/..", dfd);
    gp_res("chdir-fd-dotdot", syscall(SYS_chdir, path));
    if (getcwd(buf, sizeof(buf)))
        printf("cwd: %s\n", buf);
    gp_res("chdir-proc-self", syscall(SYS_chdir, "/proc/self/fd"));
    if (getcwd(buf, sizeof(buf)))
        gp_norm("cwd", buf);
    return 0;
}

/* the events queued on inotify fd `in`, as "NAME(file) ..." */
static void gp_events(const char *name, int in)
{
    char buf[4096] __attribute__((aligned(8)));
    static const struct { unsigned m; const char *n; } evn[] = {
        {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
        {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"},
        {IN_OPEN, "OPEN"}, {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},
        {IN_CREATE, "CREATE"}, {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"},
        {IN_ISDIR, "ISDIR"},
    };
    printf("%s:", name);
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n; ) {
            struct inotify_event *e = (struct inotify_event *)p;
            const char *sep = " ";
            for (size_t i = 0; i < sizeof(evn) / sizeof(evn[0]); i++)
                if (e->mask & evn[i].m) {
                    printf("%s%s", sep, evn[i].n);
                    sep = "|";
                }
            printf("(%s)", e->len ? e->name : ".");
            p += sizeof(*e) + e->len;
        }
    }
    printf("\n");
}

static int gp_watch(const char *dir, const char *file)
{
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    inotify_add_watch(in, dir, IN_ALL_EVENTS);
    if (file)
        inotify_add_watch(in, file, IN_ALL_EVENTS);
    return in;
}

static int cmd_gaps_inotify(const char *self)
{
    const char *D = "/tmp/gi";
    int in, fd;
    mkdir(D, 0755);
    close(open("/tmp/gi/f", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));

    in = gp_watch(D, NULL);
    fd = open("/tmp/gi/f", O_WRONLY | O_CLOEXEC);
    /* a trapped call first: under runsc-py the sentry drops its own reference to the
     * file it installed (ADDFD_FLAG_SEND answers the open first) before it answers the
     * next call, so the last close below is the task's, as under runc */
    struct stat dst;
    stat("/tmp/gi/f", &dst);
    int fd2 = dup(fd);
    write(fd, "x", 1);
    close(fd);
    gp_events("dup-first-close", in);
    close(fd2);
    gp_events("dup-last-close", in);
    close(in);

    in = gp_watch(self, NULL);
    pid_t c = fork();
    if (c == 0) {
        execl(self, self, "true", (char *)NULL);
        _exit(127);
    }
    waitpid(c, NULL, 0);
    gp_events("exec", in);
    close(in);

    in = gp_watch(D, NULL);
    gp_res("mknod-fifo", mknod("/tmp/gi/fifo", S_IFIFO | 0644, 0));
    gp_res("mknod-reg", mknod("/tmp/gi/reg", S_IFREG | 0644, 0));
    gp_events("mknod", in);
    close(in);

    in = gp_watch(D, "/tmp/gi/f");
    gp_res("truncate", truncate("/tmp/gi/f", 10));
    gp_events("truncate", in);
    close(in);

    in = gp_watch(D, "/tmp/gi/f");
    gp_res("link", link("/tmp/gi/f", "/tmp/gi/g"));
    gp_events("link", in);
    close(in);

    in = gp_watch(D, "/tmp/gi/f");
    gp_res("utimensat", utimensat(AT_FDCWD, "/tmp/gi/f", NULL, 0));
    gp_res("chmod", chmod("/tmp/gi/f", 0600));
    gp_res("rename", rename("/tmp/gi/g", "/tmp/gi/h"));
    gp_res("unlink", unlink("/tmp/gi/h"));
    gp_res("symlink", symlink("f", "/tmp/gi/s"));
    gp_res("mkdir", mkdir("/tmp/gi/d", 0755));
    gp_res("rmdir", rmdir("/tmp/gi/d"));
    gp_events("others", in);
    close(in);

    in = gp_watch(D, "/tmp/gi/f");
    fd = open("/tmp/gi/f", O_RDONLY | O_CLOEXEC);
    close(fd);
    fd = open("/tmp/gi/f", O_RDWR | O_TRUNC | O_CLOEXEC);
    close(fd);
    fd = open("/tmp/gi/new", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    close(fd);
    gp_events("opens", in);
    close(in);

    /* futimes on an unlinked fd */
    fd = open("/tmp/gi/gone", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    unlink("/tmp/gi/gone");
    struct timeval tv[2] = {{1000, 0}, {2000, 0}};
    gp_res("futimes-unlinked", futimes(fd, tv));
    struct stat st;
    fstat(fd, &st);
    printf("futimes-unlinked-mtime: %ld\n", (long)st.st_mtime);
    struct timespec ts[2] = {{3000, 0}, {4000, 0}};
    gp_res("futimens-unlinked", futimens(fd, ts));
    fstat(fd, &st);
    printf("futimens-unlinked-mtime: %ld\n", (long)st.st_mtime);
    close(fd);
    return 0;
}

/* /proc/PID/mem of children, one dumpable and one not: who may open it */
static int cmd_gaps_mem_access(void)
{
    char path[64];
    for (int dumpable = 1; dumpable >= 0; dumpable--) {
        pid_t c = fork();
        if (c == 0) {
            prctl(PR_SET_DUMPABLE, dumpable);
            for (;;)
                pause();
        }
        usleep(100000);
        snprintf(path, sizeof(path), "/proc/%d/mem", c);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        printf("mem-child-dumpable-%d: %s\n", dumpable, fd >= 0 ? "opened" : errname(errno));
        if (fd >= 0) {
            snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
            int again = open(path, O_RDONLY | O_CLOEXEC);  /* a reopen, same answer */
            printf("mem-reopen-dumpable-%d: %s\n", dumpable, again >= 0 ? "opened" : errname(errno));
            close(fd);
        }
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
    }
    return 0;
}

static volatile sig_atomic_t gp_xfsz;
static void gp_on_xfsz(int sig) { (void)sig; gp_xfsz++; }

static int cmd_gaps_path(void)
{
    mkdir("/tmp/gp", 0755);
    mkdir("/tmp/gp/d", 0755);
    close(open("/tmp/gp/f", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    close(open("/tmp/gp/e", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));

    gp_res("link-new-slash", link("/tmp/gp/f", "/tmp/gp/new/"));
    gp_res("link-existing-slash", link("/tmp/gp/f", "/tmp/gp/e/"));
    gp_res("link-dir-slash", link("/tmp/gp/f", "/tmp/gp/d/"));
    gp_res("link-from-slash", link("/tmp/gp/f/", "/tmp/gp/new2"));
    gp_res("linkat-new-slash", linkat(AT_FDCWD, "/tmp/gp/f", AT_FDCWD, "/tmp/gp/n3/", 0));
    gp_res("symlink-new-slash", symlink("f", "/tmp/gp/sl/"));
    gp_res("mknod-new-slash", mknod("/tmp/gp/nod/", S_IFREG | 0644, 0));
    gp_res("mkdir-new-slash", mkdir("/tmp/gp/md/", 0755));

    gp_res("rename-noreplace-dot", syscall(SYS_renameat2, AT_FDCWD, "/tmp/gp/f", AT_FDCWD, "/tmp/gp/d/.", 1));
    gp_res("rename-dot", syscall(SYS_renameat2, AT_FDCWD, "/tmp/gp/f", AT_FDCWD, "/tmp/gp/d/.", 0));
    gp_res("rename-noreplace-dotdot", syscall(SYS_renameat2, AT_FDCWD, "/tmp/gp/f", AT_FDCWD, "/tmp/gp/d/..", 1));
    gp_res("rename-from-dot", syscall(SYS_renameat2, AT_FDCWD, "/tmp/gp/d/.", AT_FDCWD, "/tmp/gp/x", 1));
    gp_res("rename-noreplace-exists", syscall(SYS_renameat2, AT_FDCWD, "/tmp/gp/f", AT_FDCWD, "/tmp/gp/e", 1));
    gp_res("rename-exchange-missing", syscall(SYS_renameat2, AT_FDCWD, "/tmp/gp/f", AT_FDCWD, "/tmp/gp/zz", 2));
    gp_res("rename-both-flags", syscall(SYS_renameat2, AT_FDCWD, "/tmp/gp/f", AT_FDCWD, "/tmp/gp/e", 3));

    /* statx STATX_MNT_ID against mountinfo's ids */
    static const char *mp[] = {"/", "/proc", "/tmp/gp/f", "/dev/null", "/proc/self/status"};
    for (size_t i = 0; i < sizeof(mp) / sizeof(mp[0]); i++) {
        struct statx sx;
        memset(&sx, 0, sizeof(sx));
        long r = syscall(SYS_statx, AT_FDCWD, mp[i], 0, STATX_BASIC_STATS | STATX_MNT_ID, &sx);
        char name[64];
        snprintf(name, sizeof(name), "statx-mnt-id %s", mp[i]);
        if (r < 0) { gp_res(name, r); continue; }
        /* the mount whose mount point is the longest prefix of the path */
        char buf[8192], *l, *save = NULL;
        long want = -1;
        size_t best = 0;
        gp_slurp("/proc/self/mountinfo", buf, sizeof(buf));
        for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            long id;
            char mpt[256];
            if (sscanf(l, "%ld %*d %*s %*s %255s", &id, mpt) != 2)
                continue;
            size_t n = strlen(mpt);
            int under = !strcmp(mpt, "/") || (!strncmp(mp[i], mpt, n) && (mp[i][n] == '/' || !mp[i][n]));
            if (under && n >= best) { best = n; want = id; }
        }
        printf("%s: mask %s, %s\n", name, sx.stx_mask & STATX_MNT_ID ? "has MNT_ID" : "no MNT_ID",
               (long)sx.stx_mnt_id == want ? "matches mountinfo" : "differs from mountinfo");
    }

    /* truncate past RLIMIT_FSIZE */
    signal(SIGXFSZ, gp_on_xfsz);
    struct rlimit rl = {4096, 4096};
    setrlimit(RLIMIT_FSIZE, &rl);
    gp_res("truncate-past-fsize", truncate("/tmp/gp/e", 8192));
    printf("sigxfsz: %d\n", gp_xfsz);
    gp_res("truncate-within-fsize", truncate("/tmp/gp/e", 4096));
    int fd = open("/tmp/gp/e", O_RDWR | O_CLOEXEC);
    gp_res("ftruncate-past-fsize", ftruncate(fd, 8192));
    printf("sigxfsz: %d\n", gp_xfsz);
    close(fd);
    gp_res("open-trunc-past-fsize", open("/tmp/gp/e", O_RDWR | O_TRUNC | O_CLOEXEC) >= 0 ? 0 : -1);
    rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
    setrlimit(RLIMIT_FSIZE, &rl);

    /* futimesat(fd, NULL), utimes(NULL), utimensat with both UTIME_OMIT */
    fd = open("/tmp/gp/e", O_RDWR | O_CLOEXEC);
    struct timeval tv[2] = {{1000, 0}, {2000, 0}};
    gp_res("futimesat-fd-null", syscall(SYS_futimesat, fd, NULL, tv));
    struct stat st;
    fstat(fd, &st);
    printf("futimesat-fd-null-mtime: %ld\n", (long)st.st_mtime);
    gp_res("futimesat-cwd-null", syscall(SYS_futimesat, AT_FDCWD, NULL, tv));
    gp_res("utimes-null", syscall(SYS_utimes, NULL, tv));
    gp_res("utimensat-fd-null", syscall(SYS_utimensat, fd, NULL, NULL, 0));
    gp_res("utimensat-fd-null-nofollow", syscall(SYS_utimensat, fd, NULL, NULL, AT_SYMLINK_NOFOLLOW));
    gp_res("utimensat-cwd-null", syscall(SYS_utimensat, AT_FDCWD, NULL, NULL, 0));
    struct timespec omit[2] = {{5, UTIME_OMIT}, {5, UTIME_OMIT}};
    gp_res("utimensat-omit-missing", syscall(SYS_utimensat, AT_FDCWD, "/tmp/gp/missing", omit, 0));
    gp_res("utimensat-omit-badflags", syscall(SYS_utimensat, AT_FDCWD, "/tmp/gp/e", omit, 0x4000));
    gp_res("utimensat-omit-proc", syscall(SYS_utimensat, AT_FDCWD, "/proc/self/status", omit, 0));
    struct timespec badns[2] = {{5, 2000000000L}, {5, UTIME_OMIT}};
    gp_res("utimensat-bad-nsec", syscall(SYS_utimensat, AT_FDCWD, "/tmp/gp/e", badns, 0));
    close(fd);

    /* setxattr errnos */
    const char *F = "/tmp/gp/e";
    char big[70000];
    memset(big, 'v', sizeof(big));
    char longname[300];
    memset(longname, 'a', sizeof(longname));
    memcpy(longname, "user.", 5);
    longname[sizeof(longname) - 1] = 0;
    gp_res("xattr-create", setxattr(F, "user.a", "v", 1, XATTR_CREATE));
    gp_res("xattr-create-again", setxattr(F, "user.a", "v", 1, XATTR_CREATE));
    gp_res("xattr-replace-missing", setxattr(F, "user.b", "v", 1, XATTR_REPLACE));
    gp_res("xattr-replace", setxattr(F, "user.a", "w", 1, XATTR_REPLACE));
    gp_res("xattr-both-flags", setxattr(F, "user.a", "v", 1, XATTR_CREATE | XATTR_REPLACE));
    gp_res("xattr-bad-flags", setxattr(F, "user.a", "v", 1, 4));
    gp_res("xattr-empty-name", setxattr(F, "", "v", 1, 0));
    gp_res("xattr-no-namespace", setxattr(F, "plain", "v", 1, 0));
    gp_res("xattr-unknown-namespace", setxattr(F, "bogus.x", "v", 1, 0));
    gp_res("xattr-prefix-only", setxattr(F, "user.", "v", 1, 0));
    gp_res("xattr-long-name", setxattr(F, longname, "v", 1, 0));
    gp_res("xattr-too-big", setxattr(F, "user.big", big, sizeof(big), 0));
    gp_res("xattr-max-size", setxattr(F, "user.max", big, 65536, 0));
    gp_res("xattr-empty-value", setxattr(F, "user.empty", "", 0, 0));
    gp_res("xattr-trusted", setxattr(F, "trusted.x", "v", 1, 0));
    gp_res("xattr-security", setxattr(F, "security.x", "v", 1, 0));
    gp_res("xattr-system-bad", setxattr(F, "system.posix_acl_access", "v", 1, 0));
    gp_res("xattr-system-unknown", setxattr(F, "system.nope", "v", 1, 0));
    symlink("e", "/tmp/gp/lnk");
    gp_res("xattr-user-on-symlink", lsetxattr("/tmp/gp/lnk", "user.a", "v", 1, 0));
    gp_res("xattr-user-on-dir", setxattr("/tmp/gp/d", "user.a", "v", 1, 0));
    mknod("/tmp/gp/fifo", S_IFIFO | 0644, 0);
    gp_res("xattr-user-on-fifo", setxattr("/tmp/gp/fifo", "user.a", "v", 1, 0));
    gp_res("xattr-missing-file", setxattr("/tmp/gp/missing", "user.a", "v", 1, 0));
    gp_res("xattr-proc", setxattr("/proc/self/status", "user.a", "v", 1, 0));
    char small[1];
    gp_res("getxattr-small", getxattr(F, "user.a", small, 0 + 1) >= 0 ? 0 : -1);
    gp_res("getxattr-size0", getxattr(F, "user.a", NULL, 0));
    gp_res("getxattr-missing", getxattr(F, "user.zz", small, 1));
    gp_res("getxattr-no-namespace", getxattr(F, "plain", small, 1));
    gp_res("removexattr-missing", removexattr(F, "user.zz"));
    gp_res("removexattr-no-namespace", removexattr(F, "plain"));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return usage("rsphelper SUBCOMMAND [ARGS...]");
    const char *c = argv[1];

    if (!strcmp(c, "true"))
        return 0;
    if (!strcmp(c, "exit")) {
        NEED(3, "exit N");
        return atoi(argv[2]);
    }
    if (!strcmp(c, "kill-self")) {
        NEED(3, "kill-self SIG");
        fflush(stdout);
        if (raise(atoi(argv[2])) != 0)
            return fail();
        return 0;
    }
    if (!strcmp(c, "cat")) { NEED(3, "cat PATH"); return cmd_cat(argv[2]); }
    if (!strcmp(c, "write")) { NEED(4, "write PATH DATA"); return cmd_write(argv[2], argv[3], O_TRUNC); }
    if (!strcmp(c, "append")) { NEED(4, "append PATH DATA"); return cmd_write(argv[2], argv[3], O_APPEND); }
    if (!strcmp(c, "stat")) { NEED(3, "stat PATH"); return cmd_stat(argv[2], SYS_stat); }
    if (!strcmp(c, "lstat")) { NEED(3, "lstat PATH"); return cmd_stat(argv[2], SYS_lstat); }
    if (!strcmp(c, "statx")) { NEED(3, "statx PATH"); return cmd_statx(argv[2]); }
    if (!strcmp(c, "fstat")) { NEED(3, "fstat PATH"); return cmd_fstat(argv[2]); }
    if (!strcmp(c, "ls")) { NEED(3, "ls DIR"); return cmd_ls(argv[2]); }
    if (!strcmp(c, "readlink")) { NEED(3, "readlink PATH"); return cmd_readlink(argv[2]); }
    if (!strcmp(c, "getcwd")) return cmd_getcwd();
    if (!strcmp(c, "chdir-getcwd")) {
        NEED(3, "chdir-getcwd DIR");
        if (syscall(SYS_chdir, argv[2]) < 0)
            return fail();
        return cmd_getcwd();
    }
    if (!strcmp(c, "chdir-cat")) {
        NEED(4, "chdir-cat DIR RELPATH");
        if (syscall(SYS_chdir, argv[2]) < 0)
            return fail();
        return cmd_cat(argv[3]);
    }
    if (!strcmp(c, "mkdir")) {
        NEED(3, "mkdir PATH");
        if (mkdir(argv[2], 0755) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "rmdir")) {
        NEED(3, "rmdir PATH");
        if (rmdir(argv[2]) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "unlink")) {
        NEED(3, "unlink PATH");
        if (unlink(argv[2]) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "rename")) {
        NEED(4, "rename OLD NEW");
        if (rename(argv[2], argv[3]) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "link")) {
        NEED(4, "link OLD NEW");
        if (link(argv[2], argv[3]) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "symlink")) {
        NEED(4, "symlink TARGET LINK");
        if (symlink(argv[2], argv[3]) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "chmod")) {
        NEED(4, "chmod PATH OCTALMODE");
        if (chmod(argv[2], (mode_t)strtol(argv[3], NULL, 8)) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "chown")) {
        NEED(5, "chown PATH UID GID");
        if (chown(argv[2], (uid_t)atoi(argv[3]), (gid_t)atoi(argv[4])) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "truncate")) {
        NEED(4, "truncate PATH LEN");
        if (truncate(argv[2], (off_t)strtoll(argv[3], NULL, 0)) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "utimens")) {
        NEED(4, "utimens PATH SEC");
        struct timespec ts[2];
        ts[0].tv_sec = ts[1].tv_sec = (time_t)strtoll(argv[3], NULL, 0);
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
        if (utimensat(AT_FDCWD, argv[2], ts, 0) < 0) return fail();
        printf("ok\n"); return 0;
    }
    if (!strcmp(c, "access")) { NEED(4, "access PATH MODE"); return cmd_access(argv[2], argv[3]); }
    if (!strcmp(c, "statfs")) {
        NEED(3, "statfs PATH");
        struct statfs sf;
        if (statfs(argv[2], &sf) < 0) return fail();
        printf("f_type=0x%lx\n", (unsigned long)sf.f_type);
        return 0;
    }
    if (!strcmp(c, "openat-rel")) { NEED(4, "openat-rel DIRPATH REL"); return cmd_openat_rel(argv[2], argv[3]); }
    if (!strcmp(c, "openat2-inroot")) { NEED(4, "openat2-inroot DIRPATH REL"); return cmd_openat2_inroot(argv[2], argv[3]); }
    if (!strcmp(c, "fds")) return cmd_fds();
    if (!strcmp(c, "uname")) return cmd_uname();
    if (!strcmp(c, "id")) return cmd_id();
    if (!strcmp(c, "caps")) return cmd_caps();
    if (!strcmp(c, "nnp")) {
        int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        if (r < 0) return fail();
        printf("%d\n", r);
        return 0;
    }
    if (!strcmp(c, "rlimit")) { NEED(3, "rlimit NAME"); return cmd_rlimit(argv[2]); }
    if (!strcmp(c, "hostname")) {
        char h[256];
        if (gethostname(h, sizeof(h)) < 0) return fail();
        h[255] = 0;
        printf("%s\n", h);
        return 0;
    }
    if (!strcmp(c, "sleep")) {
        NEED(3, "sleep SECONDS");
        double s = atof(argv[2]);
        struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        return 0;
    }
    if (!strcmp(c, "pause-forever")) {
        for (;;)
            sleep(1000);
    }
    if (!strcmp(c, "spin-signal")) return cmd_spin_signal();
    if (!strcmp(c, "exec")) {
        NEED(3, "exec PATH [ARGS...]");
        fflush(stdout);
        execv(argv[2], &argv[2]);
        return fail();
    }
    if (!strcmp(c, "as-user")) {  /* drop to UID:GID (no groups, no caps), then exec */
        NEED(5, "as-user UID GID PATH [ARGS...]");
        gid_t gid = (gid_t)atoi(argv[3]);
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(atoi(argv[2]), atoi(argv[2]), atoi(argv[2])) < 0)
            return fail();
        fflush(stdout);
        execv(argv[4], &argv[4]);
        return fail();
    }
    if (!strcmp(c, "fexec")) {  /* fexecve of an O_PATH fd, as glibc does it */
        NEED(3, "fexec PATH [ARGS...]");
        int fd = (int)syscall(SYS_open, argv[2], O_PATH);
        if (fd < 0)
            return fail();
        fflush(stdout);
        syscall(SYS_execveat, fd, "", &argv[2], environ, AT_EMPTY_PATH);
        return fail();
    }
    if (!strcmp(c, "fork-exit-wait")) { NEED(3, "fork-exit-wait N"); return cmd_fork_exit_wait(atoi(argv[2])); }
    if (!strcmp(c, "bad-pointer")) return cmd_bad_pointer();
    if (!strcmp(c, "syscall")) { NEED(3, "syscall NR [ARGS...]"); return cmd_syscall(argc, argv); }
    if (!strcmp(c, "race-rename")) {
        NEED(5, "race-rename PATH_A PATH_B N");
        return cmd_race_rename(argv[2], argv[3], strtol(argv[4], NULL, 0));
    }
    if (!strcmp(c, "threads-files")) {
        NEED(5, "threads-files N PATH ITER");
        return cmd_threads_files(atoi(argv[2]), argv[3], strtol(argv[4], NULL, 0));
    }
    if (!strcmp(c, "ptrace")) { NEED(3, "ptrace peek|rewrite|suspend"); return cmd_ptrace(argv[2]); }
    if (!strcmp(c, "pty")) return cmd_pty();
    if (!strcmp(c, "clone3")) { NEED(3, "clone3 FLAGS"); return cmd_clone3(strtoull(argv[2], NULL, 0)); }
    if (!strcmp(c, "fork-exec")) { NEED(3, "fork-exec PATH [ARGS...]"); return cmd_fork_exec(&argv[2]); }
    if (!strcmp(c, "threads-exec")) { NEED(4, "threads-exec N PATH [ARGS...]"); return cmd_threads_exec(atoi(argv[2]), &argv[3]); }
    if (!strcmp(c, "open-signals")) { NEED(4, "open-signals PATH ITER"); return cmd_open_signals(argv[2], strtol(argv[3], NULL, 0)); }
    if (!strcmp(c, "open-lowstack")) { NEED(3, "open-lowstack PATH"); return cmd_open_lowstack(argv[2]); }
    if (!strcmp(c, "job-control")) return cmd_job_control();
    if (!strcmp(c, "threads-fair")) { NEED(3, "threads-fair N"); return cmd_threads_fair(atoi(argv[2])); }
    if (!strcmp(c, "stub-hijack")) {
        NEED(4, "stub-hijack PATH ITER");
        return cmd_stub_hijack(argv[2], strtol(argv[3], NULL, 0));
    }
    if (!strcmp(c, "hijack-injection")) {
        NEED(4, "hijack-injection PATH ITER");
        return cmd_hijack_injection(argv[2], strtol(argv[3], NULL, 0));
    }
    if (!strcmp(c, "openat2-probe")) return cmd_openat2_probe();
    if (!strcmp(c, "reopen")) {
        NEED(4, "reopen PATH r|w|rw [unlink|NEWNAME]");
        return cmd_reopen(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
    }
    if (!strcmp(c, "fifo-reopen")) {
        NEED(3, "fifo-reopen PATH [stuck]");
        return cmd_fifo_reopen(argv[2], argc > 3 && !strcmp(argv[3], "stuck"));
    }
    if (!strcmp(c, "thread-setuid-exec")) {
        NEED(5, "thread-setuid-exec UID BUSY PATH [ARGS...]");
        return cmd_thread_setuid_exec((uid_t)atoi(argv[2]), atoi(argv[3]), &argv[4]);
    }
    if (!strcmp(c, "creds-probe")) {
        NEED(5, "creds-probe SECRET NEWFILE VICTIM");
        return cmd_creds_probe(argv[2], argv[3], argv[4]);
    }
    if (!strcmp(c, "thread-umask")) { NEED(3, "thread-umask PATH"); return cmd_thread_umask(argv[2]); }
    if (!strcmp(c, "child-umask")) {
        NEED(4, "child-umask SHARE PATH");
        return cmd_child_umask(atoi(argv[2]), argv[3]);
    }
    if (!strcmp(c, "sibling-calls")) return cmd_sibling_calls();
    if (!strcmp(c, "own-trace-filter")) {
        NEED(4, "own-trace-filter NR N");
        return cmd_own_trace_filter(atoi(argv[2]), strtol(argv[3], NULL, 0));
    }
    if (!strcmp(c, "syscall-sweep")) {
        NEED(6, "syscall-sweep NR IDX FROM COUNT");
        return cmd_syscall_sweep(strtol(argv[2], NULL, 0), atoi(argv[3]), strtol(argv[4], NULL, 0),
                                 strtol(argv[5], NULL, 0));
    }
    if (!strcmp(c, "thread-setuid-read")) {
        NEED(4, "thread-setuid-read UID PATH");
        return cmd_thread_setuid_read((uid_t)atoi(argv[2]), argv[3]);
    }
    if (!strcmp(c, "gaps-proc")) return cmd_gaps_proc();
    if (!strcmp(c, "gaps-inotify")) return cmd_gaps_inotify(argv[0]);
    if (!strcmp(c, "gaps-path")) return cmd_gaps_path();
    if (!strcmp(c, "gaps-mem-access")) return cmd_gaps_mem_access();
    fprintf(stderr, "rsphelper: unknown subcommand %s\n", c);
    return 2;
}
