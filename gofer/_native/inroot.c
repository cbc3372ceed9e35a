/*
 * Opening and stat'ing a path inside the container tree, as the gofer does: every path
 * resolved with openat2() from the tree's root fd under the caller's RESOLVE_* flags
 * (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS for sandbox paths), so that neither ".."
 * nor a symlink can leave it. Shared by the gofer's C path (fast.c) and the sentry's
 * (sentry/_native/fastpath.c), so the two answer alike.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

/* inroot_open()'s answer for a FIFO opened for blocking (see there) */
#define INROOT_FIFO (-100000)

/* what resolve may add to the scoping: each flag only narrows resolution further */
#define INROOT_NARROWING (RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_CACHED)

/* resolve as gofer/server.py's scoped(): never out of dirfd, never through a magic link */
static inline uint64_t inroot_scoped(uint64_t resolve)
{
    uint64_t scope = resolve & RESOLVE_BENEATH ? RESOLVE_BENEATH : RESOLVE_IN_ROOT;
    return scope | (resolve & INROOT_NARROWING) | RESOLVE_NO_MAGICLINKS;
}

/* The device of the sentry's skeleton (its synthetic mounts' directories in the
 * tree, which only the sentry fills): what resolves onto it reads as absent, as in
 * gofer/server.py _openat2, but for its one file that masks paths of the tree
 * (shown_ino). hidden_dev 0: none. */
static dev_t hidden_dev;
static ino_t shown_ino;

void inroot_hide(uint64_t dev, uint64_t but_ino)
{
    hidden_dev = (dev_t)dev;
    shown_ino = (ino_t)but_ino;
}

static inline int inroot_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                          uint64_t resolve)
{
    struct open_how how = { .flags = flags, .mode = mode, .resolve = inroot_scoped(resolve) };
    int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    if (fd < 0)
        return -errno;
    struct stat st;
    if (hidden_dev && fstat(fd, &st) == 0 && st.st_dev == hidden_dev && st.st_ino != shown_ino) {
        close(fd);
        return -ENOENT;
    }
    return fd;
}

/*
 * The file at path, opened with flags (O_CLOEXEC added): an fd or -errno. A FIFO opened
 * without O_NONBLOCK would wait for its peer, which no server of the sandbox may do:
 * INROOT_FIFO says so, and the kernel is to open it in the task. The probe is an O_PATH
 * open (opening a FIFO for real, even non-blocking, is a peer the other end sees); the
 * real open stays non-blocking, since the path may have become a FIFO since the probe.
 */
static inline int inroot_open(int root, const char *path, uint64_t flags, uint64_t mode,
                       uint64_t resolve)
{
    if (flags & (O_NONBLOCK | O_PATH))
        return inroot_openat2(root, path, flags | O_CLOEXEC, mode, resolve);
    int probe = inroot_openat2(root, path, O_PATH | O_CLOEXEC | (flags & O_NOFOLLOW), 0, resolve);
    if (probe >= 0) {
        struct stat st;
        int fifo = fstat(probe, &st) == 0 && S_ISFIFO(st.st_mode);
        close(probe);
        if (fifo)
            return INROOT_FIFO;
    }
    int fd = inroot_openat2(root, path, flags | O_NONBLOCK | O_CLOEXEC, mode, resolve);
    if (fd < 0)
        return fd;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}
