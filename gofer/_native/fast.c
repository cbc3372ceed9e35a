/*
 * The gofer's hot path: STAT, OPEN and EXEC of one path, served in C.
 *
 * gofer_fast_serve() receives requests (gofer/protocol.py's wire format) and answers
 * the ones it can exactly as gofer/server.py would: a STAT, an OPEN or an EXEC of one
 * path, from a caller whose credentials are the ones the gofer already runs with (the
 * last request served in Python switched to them: gofer_fast_set_creds). Every path is
 * resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from the root fd.
 * Anything else -- another op, other credentials, a malformed request, ENOENT or
 * ENOTDIR (which may be a redirect into the sentry's synthetic mounts), a FIFO, a
 * program its caller may execute but not read -- is handed back to Python, whole, to
 * be served there from the start.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/openat2.h>

#define OP_OPEN 2
#define OP_STAT 3
#define OP_EXEC 22
#define EXEC_MAX_READ (32 * 1024)  /* gofer/protocol.py */
#define HEADER_SIZE 60  /* struct.Struct("<HHIIIIQqqqq") */
#define MAX_GROUPS 256

struct header {
    uint16_t op, npaths;
    uint32_t fsuid, fsgid, umask, ngroups;
    uint64_t caps;
    int64_t a[4];
} __attribute__((packed));

struct reply {  /* struct.Struct("<iq") */
    int32_t err;
    int64_t value;
} __attribute__((packed));

static int root_fd = -1;
static uint64_t open_mask, in_root;
/* the credentials the gofer runs with; have_creds 0: unknown (Python serves all) */
static int have_creds;
static uint32_t cur_fsuid, cur_fsgid, cur_ngroups;
static uint64_t cur_caps;
static uint32_t cur_groups[MAX_GROUPS];

void gofer_fast_config(int root, uint64_t open_flags_mask, uint64_t resolve)
{
    root_fd = root;
    open_mask = open_flags_mask;
    in_root = resolve;
}

void gofer_fast_set_creds(int known, uint32_t fsuid, uint32_t fsgid, uint64_t caps,
                          const uint32_t *groups, uint32_t ngroups)
{
    have_creds = 0;
    if (!known || ngroups > MAX_GROUPS)
        return;
    cur_fsuid = fsuid;
    cur_fsgid = fsgid;
    cur_caps = caps;
    cur_ngroups = ngroups;
    memcpy(cur_groups, groups, ngroups * sizeof(uint32_t));
    have_creds = 1;
}

static int send_reply(int sock, int32_t err, const void *payload, size_t len, int fd)
{
    struct reply r = { .err = err, .value = 0 };
    struct iovec iov[2] = { { &r, sizeof(r) }, { (void *)payload, len } };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

/* path's O_PATH fd in *fd (a[0]: symlinks followed), or -1 there and what serving the
 * request comes to: 0 for ENOENT and ENOTDIR (maybe a redirect: Python's), else the
 * errno answered (1, or <0: -errno of the reply's send) */
static int open_path(int sock, const struct header *h, const char *path, int *fd)
{
    *fd = inroot_openat2(root_fd, path, O_PATH | O_CLOEXEC | (h->a[0] ? 0 : O_NOFOLLOW), 0,
                         in_root);
    if (*fd >= 0)
        return 0;
    int err = -*fd;
    *fd = -1;
    if (err == ENOENT || err == ENOTDIR)
        return 0;
    return send_reply(sock, err, NULL, 0, -1) ?: 1;
}

/* 1: answered; 0: Python's; <0: -errno of the reply's send */
static int serve_stat(int sock, const struct header *h, const char *path)
{
    int fd, ret = open_path(sock, h, path, &fd);
    if (fd < 0)
        return ret;
    struct stat st;  /* x86_64's struct stat is the protocol's STAT payload */
    memset(&st, 0, sizeof(st));
    int err = fstat(fd, &st) < 0 ? errno : 0;
    close(fd);
    if (err)
        return send_reply(sock, err, NULL, 0, -1) ?: 1;
    return send_reply(sock, 0, &st, sizeof(st), -1) ?: 1;
}

static int serve_open(int sock, const struct header *h, const char *path)
{
    uint64_t flags = (uint64_t)h->a[0] & open_mask;
    int creates = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
    uint64_t mode = creates ? (uint64_t)h->a[1] & 07777 & ~h->umask : 0;
    int fd = inroot_open(root_fd, path, flags, mode, in_root);
    if (fd == INROOT_FIFO)
        return 0; /* Python says so */
    if (fd < 0) {
        if (fd == -ENOENT || fd == -ENOTDIR)
            return 0;
        return send_reply(sock, -fd, NULL, 0, -1) ?: 1;
    }
    int ret = send_reply(sock, 0, NULL, 0, fd);
    close(fd);
    return ret ?: 1;
}

/* server.py's op_exec: a regular file the caller may execute, its stat, then up to
 * a[2] bytes from a[1]. The bytes are read through the checked O_PATH fd, reopened
 * with the caller's credentials; a program the caller may not read (mode 0111) is
 * Python's, which reads it as the gofer itself. */
static int serve_exec(int sock, const struct header *h, const char *path)
{
    static char payload[sizeof(struct stat) + EXEC_MAX_READ];
    int64_t offset = h->a[1], length = h->a[2];
    if (offset < 0 || length < 0 || length > EXEC_MAX_READ)
        return 0;  /* malformed: Python says EINVAL */
    int fd, ret = open_path(sock, h, path, &fd);
    if (fd < 0)
        return ret;
    struct stat st;
    memset(&st, 0, sizeof(st));
    int err = fstat(fd, &st) < 0 ? errno : 0;
    if (!err && S_ISLNK(st.st_mode))  /* not followed: execveat(AT_SYMLINK_NOFOLLOW) */
        err = ELOOP;
    else if (!err && !S_ISREG(st.st_mode))  /* nothing else loads */
        err = EACCES;
    /* the file just checked, not the path again: server.py asks through
     * /proc/self/fd/N, here the fd itself is asked (AT_EMPTY_PATH) */
    if (!err && faccessat(fd, "", X_OK, AT_EACCESS | AT_EMPTY_PATH) < 0)
        err = EACCES;  /* (os.access: any failure is a no) */
    if (err || !length) {
        close(fd);
        return send_reply(sock, err, err ? NULL : &st, err ? 0 : sizeof(st), -1) ?: 1;
    }
    char link[32];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    struct open_how how = { .flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC };
    int rfd = (int)syscall(SYS_openat2, AT_FDCWD, link, &how, sizeof(how));
    close(fd);
    if (rfd < 0)
        return 0;  /* (not readable by the caller: Python reads it as the gofer) */
    memcpy(payload, &st, sizeof(st));
    size_t got = 0;
    if (offset && lseek(rfd, offset, SEEK_SET) < 0) {
        err = errno;
    } else {
        while (got < (size_t)length) {  /* read() as server.py's _read_at: no pread64 */
            ssize_t n = read(rfd, payload + sizeof(st) + got, (size_t)length - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                err = errno;
                break;
            }
            if (n == 0)
                break;
            got += (size_t)n;
        }
    }
    close(rfd);
    if (err)
        return send_reply(sock, err, NULL, 0, -1) ?: 1;
    return send_reply(sock, 0, payload, sizeof(st) + got, -1) ?: 1;
}

/* 1: answered; 0: Python's; <0: -errno */
static int serve_one(int sock, char *buf, size_t n)
{
    struct header h;
    if (n < HEADER_SIZE || !have_creds)
        return 0;
    memcpy(&h, buf, sizeof(h));
    if ((h.op != OP_STAT && h.op != OP_OPEN && h.op != OP_EXEC) || h.npaths != 1 ||
        h.ngroups > MAX_GROUPS || (h.op == OP_OPEN && h.a[2]))
        return 0;  /* (an OPEN with the caller's RESOLVE_* flags: Python's) */
    size_t off = HEADER_SIZE + 4 * (size_t)h.ngroups;
    if (n <= off || h.fsuid != cur_fsuid || h.fsgid != cur_fsgid || h.caps != cur_caps ||
        h.ngroups != cur_ngroups || memcmp(buf + HEADER_SIZE, cur_groups, 4 * h.ngroups))
        return 0;
    char *path = buf + off;
    size_t len = n - off;
    if (path[0] != '/' || memchr(path, 0, len))
        return 0;
    path[len] = 0;  /* (the buffer has a byte to spare) */
    if (h.op == OP_EXEC)
        return serve_exec(sock, &h, path);
    return h.op == OP_STAT ? serve_stat(sock, &h, path) : serve_open(sock, &h, path);
}

/*
 * Serves requests until one is Python's. Returns its length (the request is in buf,
 * which holds size + 1 bytes), 0 when the sentry hung up, -EMSGSIZE for a message
 * longer than size (Python answers it EINVAL), or another -errno.
 */
int gofer_fast_serve(int sock, char *buf, int size)
{
    for (;;) {
        union { char buf[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } u;
        struct iovec iov = { buf, (size_t)size };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        /* requests carry no fds: close any that came */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (int i = 0; i < nfds; i++) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                    close(fd);
                }
            }
        }
        if (msg.msg_flags & MSG_TRUNC)
            return -EMSGSIZE;
        if (n == 0)
            return 0;
        int ret = serve_one(sock, buf, (size_t)n);
        if (ret < 0)
            return ret;
        if (ret == 0)
            return (int)n;
    }
}
