/*
 * The sentry's hot path: receive seccomp user notifications, answer them, install fds
 * into tasks, and copy task memory. Python handlers are called from serve_loop() for
 * every notification; everything a handler needs to touch a task goes through here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/seccomp.h>

#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define PAGE 4096UL

/* Implemented in Python (sentry/platform/seccomp.py) through cffi's extern "Python". */
static void sentry_handle(int listener, struct seccomp_notif *notif);
/* The cheap handlers in C (fastpath.c): nonzero when they answered the notification. */
static int fast_handle(int listener, const struct seccomp_notif *notif);
/* Their changes to the sentry's capabilities undone: due before any Python runs. */
void restore_own_caps(void);

static int notif_recv(int listener, struct seccomp_notif *notif)
{
    memset(notif, 0, sizeof(*notif));
    for (;;) {
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, notif) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        return -errno; /* ENOENT: the task went away between poll and recv */
    }
}

int notif_respond(int listener, uint64_t id, int64_t val, int32_t error, uint32_t flags)
{
    struct seccomp_notif_resp resp = {
        .id = id, .val = val, .error = error, .flags = flags,
    };
    for (;;) {
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        return -errno; /* ENOENT: the task was interrupted or died; nothing to answer */
    }
}

int notif_addfd(int listener, uint64_t id, int srcfd, uint32_t newfd_flags, int send)
{
    struct seccomp_notif_addfd addfd = {
        .id = id,
        .flags = send ? SECCOMP_ADDFD_FLAG_SEND : 0,
        .srcfd = (uint32_t)srcfd,
        .newfd = 0,
        .newfd_flags = newfd_flags,
    };
    for (;;) {
        int fd = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
        if (fd >= 0)
            return fd;
        if (errno == EINTR)
            continue;
        return -errno;
    }
}

int notif_id_valid(int listener, uint64_t id)
{
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int notif_set_sync_wakeup(int listener)
{
    uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) == 0 ? 0 : -errno;
}

/* Copy len bytes of the task's memory; a fault part-way is the task's EFAULT. */
int64_t task_read(int pid, uint64_t addr, void *buf, uint64_t len)
{
    struct iovec local = { .iov_base = buf, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0)
        return -errno;
    if ((uint64_t)n != len)
        return -EFAULT;
    return n;
}

int64_t task_write(int pid, uint64_t addr, const void *buf, uint64_t len)
{
    struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
    ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (n < 0)
        return -errno;
    if ((uint64_t)n != len)
        return -EFAULT;
    return n;
}

/*
 * Copy a NUL-terminated string of at most max bytes (NUL included) from the task,
 * a page at a time so that a string ending just before an unmapped page still reads.
 * Returns its length, -EFAULT, or -ENAMETOOLONG.
 */
int64_t task_read_string(int pid, uint64_t addr, char *buf, uint64_t max)
{
    uint64_t got = 0;
    if (addr == 0)
        return -EFAULT;
    while (got < max) {
        uint64_t chunk = PAGE - ((addr + got) % PAGE);
        if (chunk > max - got)
            chunk = max - got;
        struct iovec local = { .iov_base = buf + got, .iov_len = chunk };
        struct iovec remote = { .iov_base = (void *)(addr + got), .iov_len = chunk };
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n <= 0)
            return n < 0 && errno != EFAULT ? -errno : -EFAULT;
        char *nul = memchr(buf + got, 0, (size_t)n);
        if (nul)
            return nul - buf;
        got += (uint64_t)n;
        if ((uint64_t)n < chunk)
            return -EFAULT;
    }
    return -ENAMETOOLONG;
}

/*
 * Serve notifications from every listener until one of the wake fds becomes readable
 * (returns its index) or a listener hangs up (returns -(1000 + its index)): both are
 * the caller's business. Each notification is answered in C when fast_handle() can,
 * and otherwise handed to the Python handler, which answers it itself (with
 * notif_respond or notif_addfd).
 */
/* A deadline timeout_ms from now (never, for a negative timeout_ms), and the
 * milliseconds left until it: the serve loops return when it passes, however busy. */
static struct timespec deadline_in(int timeout_ms)
{
    struct timespec d = { -1, 0 };
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &d);
        d.tv_sec += timeout_ms / 1000;
        d.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (d.tv_nsec >= 1000000000L) {
            d.tv_sec++;
            d.tv_nsec -= 1000000000L;
        }
    }
    return d;
}

static int ms_until(const struct timespec *d)
{
    if (d->tv_sec < 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (d->tv_sec - now.tv_sec) * 1000LL + (d->tv_nsec - now.tv_nsec) / 1000000L;
    return ms <= 0 ? 0 : ms > 1000000 ? 1000000 : (int)ms;
}

int serve_loop(const int *listeners, int nlisteners, const int *wake, int nwake, int timeout_ms)
{
    struct timespec deadline = deadline_in(timeout_ms);
    struct pollfd pfds[64];
    struct seccomp_notif notif;
    int n = nlisteners + nwake;
    if (n > 64)
        return -E2BIG;
    for (int i = 0; i < nlisteners; i++)
        pfds[i] = (struct pollfd){ .fd = listeners[i], .events = POLLIN };
    for (int i = 0; i < nwake; i++)
        pfds[nlisteners + i] = (struct pollfd){ .fd = wake[i], .events = POLLIN };
    for (;;) {
        int ready = poll(pfds, n, ms_until(&deadline));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            restore_own_caps();
            return -err;
        }
        if (ready == 0 || ms_until(&deadline) == 0) {
            restore_own_caps();
            return -ETIMEDOUT;
        }
        for (int i = 0; i < nwake; i++)
            if (pfds[nlisteners + i].revents) {
                restore_own_caps();
                return i;
            }
        for (int i = 0; i < nlisteners; i++) {
            short ev = pfds[i].revents;
            if (ev & POLLIN) {
                if (notif_recv(listeners[i], &notif) == 0 && !fast_handle(listeners[i], &notif)) {
                    restore_own_caps();
                    sentry_handle(listeners[i], &notif);
                }
            } else if (ev & (POLLHUP | POLLERR | POLLNVAL)) {
                restore_own_caps();
                return -(1000 + i);  /* (clear of every -errno) */
            }
        }
    }
}
