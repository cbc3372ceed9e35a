/*
 * One request to the gofer and its reply, in gofer/protocol.py's wire format, from C:
 * what gofer/client.py does for Python.
 */
#include <sys/socket.h>

#define OP_OPEN 2
#define OP_STAT 3
#define OP_UNLINK 7
#define OP_EXEC 22

static int gofer_sock = -1; /* the sentry's end (fastpath.c's fast_configure sets it) */

struct gofer_header { /* gofer/protocol.py HEADER "<HHIIIIQqqqq" */
    uint16_t op, npaths;
    uint32_t fsuid, fsgid, umask, ngroups;
    uint64_t caps;
    int64_t a[4];
} __attribute__((packed));

struct gofer_reply { /* REPLY "<iq" */
    int32_t err;
    int64_t value;
} __attribute__((packed));

/*
 * Sends one request and waits for its reply. Returns the reply's payload length with
 * the reply in *reply, the payload in payload and its fd (or -1) in *fd; -1 when the
 * gofer could not be asked or answered strangely (Python then asks again and reports).
 */
static ssize_t gofer_call(const struct task_creds *c, uint16_t op, const char *path,
                          int64_t a0, int64_t a1, struct gofer_reply *reply,
                          char *payload, size_t size, int *fd)
{
    struct gofer_header h = {
        .op = op, .npaths = 1, .fsuid = c->fsuid, .fsgid = c->fsgid, .umask = c->umask,
        .ngroups = c->ngroups, .caps = c->cap_effective, .a = { a0, a1, 0, 0 },
    };
    struct iovec out[3] = {
        { &h, sizeof(h) },
        { (void *)c->groups, 4 * (size_t)c->ngroups },
        { (void *)path, strlen(path) },
    };
    struct msghdr msg = { .msg_iov = out, .msg_iovlen = 3 };
    ssize_t n;
    do
        n = sendmsg(gofer_sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;

    union { char buf[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } u;
    struct iovec in[2] = { { reply, sizeof(*reply) }, { payload, size } };
    struct msghdr rmsg = { .msg_iov = in, .msg_iovlen = 2,
                           .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    do
        n = recvmsg(gofer_sock, &rmsg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    *fd = -1;
    if (n < 0)
        return -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&rmsg); cm; cm = CMSG_NXTHDR(&rmsg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        int nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < nfds; i++) {
            int got;
            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*fd < 0)
                *fd = got;
            else
                close(got);
        }
    }
    if (n < (ssize_t)sizeof(*reply) || (rmsg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return -1;
    }
    return n - (ssize_t)sizeof(*reply);
}

