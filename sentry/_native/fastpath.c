/*
 * The sentry's cheap handlers, in C: stat, open and unlink of a path in the container
 * tree, execve of a program loader.py already found loadable, readlink of the
 * sandbox's /proc/self/exe, and lseek(SEEK_END) of anything but a synthetic file.
 *
 * These are most of what real programs trap (a Python import is a dozen stats and an
 * open), and their answer is one gofer round trip at most: entering Python for them
 * would cost more than the trap itself. fast_handle() answers a notification here when
 * it is one of these calls on a path it can place exactly as sentry/vfs.py would:
 *   - the path is absolute or relative to the cwd, and has no ".." component (a ".."
 *     may climb out of a synthetic mount, which only Python can follow);
 *   - the innermost mount holding it lexically is served by the gofer (for the
 *     readlink: is the sandbox's /proc).
 * How it answers depends on the caller:
 *   - Directly (as gVisor's directfs), on regular files and directories of ordinary
 *     disk and memory filesystems, when the sentry can take on the caller's view of
 *     the permission checks (take_on_caller_view: the caller's ids are the sentry's, or
 *     for a stat or a plain open its CAP_DAC_OVERRIDE and CAP_FOWNER make them
 *     irrelevant; its file capabilities then replace the sentry's for the call). The
 *     sentry resolves the path itself, from its own fd of the container root, with the
 *     gofer's resolution (gofer/_native/inroot.c) -- one hop less. A plain open checks
 *     the file through an O_PATH fd before opening that very file. Never for a caller
 *     in a user namespace of its own: its capabilities hold only over files whose
 *     owners that namespace maps, a rule the sentry's own would not apply.
 *   - Through the gofer otherwise (other callers, user namespaces, O_TMPFILE, paths that do not resolve
 *     in the tree, other files): the request gofer_fs.py would send (same op, same raw
 *     path, the caller's credentials), answered with the gofer's reply.
 * Anything else -- another call,
 * other flags, a fault, a synthetic mount, a reply that redirects resolution (a symlink
 * out of the tree) or is a FIFO the kernel must open -- returns 0 and the notification
 * goes to Python whole, which serves it from the start as if C had never looked.
 *
 * The caller's credentials come from creds.c, the gofer requests go through
 * gofer_call.c.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

/* -- the mount table, as far as C needs it -------------------------------------------- */

#define MAX_MOUNTS 64

#define MOUNT_OTHER 0 /* a synthetic filesystem C does not serve */
#define MOUNT_GOFER 1
#define MOUNT_PROC 2
static struct { char dest[256]; size_t len; int kind; int id; } mounts[MAX_MOUNTS];
static int nmounts = -1; /* -1: not configured, Python serves everything */
static int root_fd = -1; /* the container tree's root, as the gofer's */
static uint64_t open_mask; /* gofer/protocol.py OPEN_FLAGS */
static char memfd_link[64]; /* sentry/fs/node.py MEMFD_LINK: a synthetic file's host name */

/* The gofer's socket and the tree's root (both the sentry's, kept open), the open(2)
 * flags an OPEN honours, the prefix of a synthetic file's memfd name, and the mount
 * table: dests[i] (normalised, absolute), what serves it (a MOUNT_* kind) and its id
 * (MountTable.mount_id: statx's stx_mnt_id), longest first as MountTable keeps them.
 * Returns -E2BIG when the table does not fit (C then stays out). */
int fast_configure(int sock, int root, uint64_t open_flags, const char *memfd,
                   const char *const *dests, const int *kinds, const int *ids, int n)
{
    nmounts = -1;
    if (n > MAX_MOUNTS || strlen(memfd) >= sizeof(memfd_link))
        return -E2BIG;
    memcpy(memfd_link, memfd, strlen(memfd) + 1);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dests[i]);
        if (len >= sizeof(mounts[i].dest))
            return -E2BIG;
        memcpy(mounts[i].dest, dests[i], len + 1);
        mounts[i].len = strcmp(dests[i], "/") == 0 ? 0 : len;
        mounts[i].kind = kinds[i];
        mounts[i].id = ids[i];
    }
    gofer_sock = sock;
    root_fd = root;
    open_mask = open_flags;
    nmounts = n;
    return 0;
}

/*
 * The mount holding the absolute path raw (its index), with raw's normal form in norm:
 * raw without empty and "." components. -1 when raw has a ".." (normpath(raw) is that
 * normal form only without one) or is too long.
 */
static int mount_of(const char *raw, char norm[PATH_MAX])
{
    size_t len = 0;
    const char *p = raw;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t clen = (size_t)(end - p);
        if (clen == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        if (clen && !(clen == 1 && p[0] == '.')) {
            if (len + 1 + clen >= PATH_MAX)
                return -1;
            norm[len++] = '/';
            memcpy(norm + len, p, clen);
            len += clen;
        }
        p = end;
    }
    norm[len] = 0;
    for (int i = 0; i < nmounts; i++) {
        size_t ml = mounts[i].len;
        if (ml == 0 || (len >= ml && memcmp(norm, mounts[i].dest, ml) == 0 &&
                        (norm[ml] == 0 || norm[ml] == '/')))
            return i;
    }
    return -1;
}

#define FAST_PYTHON 0   /* Python serves this notification */
#define FAST_ANSWERED 1 /* answered (or the task is gone: nothing to answer) */
#ifndef AT_FDCWD
#define AT_FDCWD (-100)
#endif

struct fast_call {
    int listener;
    const struct seccomp_notif *notif;
    struct task_creds creds;
    char raw[PATH_MAX + 1]; /* the absolute sandbox path, as vfs.Path.raw */
    char norm[PATH_MAX]; /* its normal form, as vfs.Path.norm */
    int mount; /* the index of the mount holding it */
};

/* -- direct answers ------------------------------------------------------------------- */

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
#define ASK_GOFER 1 /* a direct_*() answer: the gofer is to answer instead */
#define CAP_DAC_OVERRIDE_ 1
#define CAP_DAC_READ_SEARCH_ 2
#define CAP_FOWNER_ 3
#define CAP_FSETID_ 4
/* the capabilities the calls served here consult on an ordinary filesystem (FSETID:
 * whether a created or truncated file keeps its set-id bits) */
#define FS_CAPS ((1ULL << CAP_DAC_OVERRIDE_) | (1ULL << CAP_DAC_READ_SEARCH_) | \
                 (1ULL << CAP_FOWNER_) | (1ULL << CAP_FSETID_))

/* The sentry's own credentials (read at its first direct answer, once it is confined)
 * and the effective capabilities it runs with now (own.effective outside direct
 * answers: restore_own_caps() puts them back before Python runs). */
static struct {
    int known;
    uint32_t fsuid, fsgid, ngroups;
    uint32_t groups[MAX_GROUPS];
    uint64_t effective, permitted, inheritable, now;
} own;

struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective, permitted, inheritable; };
#define CAP_V3 0x20080522

static int set_effective(uint64_t effective)
{
    /* (permitted and inheritable never change: the sentry sets only its effective set) */
    struct cap_header h = { CAP_V3, 0 };
    struct cap_data d[2];
    for (int i = 0; i < 2; i++)
        d[i] = (struct cap_data){ (uint32_t)(effective >> 32 * i),
                                  (uint32_t)(own.permitted >> 32 * i),
                                  (uint32_t)(own.inheritable >> 32 * i) };
    if (syscall(SYS_capset, &h, d) < 0)
        return -errno;
    own.now = effective;
    return 0;
}

static int learn_own_creds(void)
{
    struct cap_header h = { CAP_V3, 0 };
    struct cap_data d[2];
    gid_t groups[MAX_GROUPS];
    int n = getgroups(MAX_GROUPS, groups);
    if (n < 0 || syscall(SYS_capget, &h, d) < 0)
        return -1;
    own.fsuid = geteuid();
    own.fsgid = getegid();
    own.ngroups = (uint32_t)n;
    for (int i = 0; i < n; i++)
        own.groups[i] = groups[i];
    own.effective = own.now = d[0].effective | (uint64_t)d[1].effective << 32;
    own.permitted = d[0].permitted | (uint64_t)d[1].permitted << 32;
    own.inheritable = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
    own.known = 1;
    return 0;
}

void restore_own_caps(void)
{
    if (own.known && own.now != own.effective)
        set_effective(own.effective);
}

static int in_groups(uint32_t gid, uint32_t fsgid, const uint32_t *groups, uint32_t n)
{
    if (gid == fsgid)
        return 1;
    for (uint32_t i = 0; i < n; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
}

/* Whether the caller's group set ({fsgid} and its groups) is the sentry's */
static int same_groups(const struct task_creds *c)
{
    for (uint32_t i = 0; i < c->ngroups; i++)
        if (!in_groups(c->groups[i], own.fsgid, own.groups, own.ngroups))
            return 0;
    for (uint32_t i = 0; i < own.ngroups; i++)
        if (!in_groups(own.groups[i], c->fsgid, c->groups, c->ngroups))
            return 0;
    return in_groups(c->fsgid, own.fsgid, own.groups, own.ngroups);
}

/*
 * Takes on the caller's view of the permission checks of the calls served here, when
 * the sentry can: 1 then, 0 when the gofer is to answer. That view is the caller's ids
 * and its FS_CAPS. The sentry can take on the ids when they are its own (its fsuid,
 * fsgid and group set), or, when exact_ids is 0 (a stat, a non-creating open), when
 * they do not matter: a caller with CAP_DAC_OVERRIDE and CAP_FOWNER passes every check
 * those make, whatever its ids. Calls that create or remove need exact_ids (the new
 * file's owner, a sticky directory). The FS_CAPS are then set to the caller's in the
 * sentry's effective set; its other capabilities stay (none of them changes an answer
 * on an ordinary filesystem).
 */
static int take_on_caller_view(const struct task_creds *c, int exact_ids)
{
    /* A caller in a user namespace of its own: its ids and capabilities mean something
     * else to the host (the gofer works inside that namespace, the sentry does not) */
    if (creds_translated())
        return 0;
    int ids_free = !exact_ids && (c->cap_effective >> CAP_DAC_OVERRIDE_ & 1) &&
                   (c->cap_effective >> CAP_FOWNER_ & 1);
    if (!own.known && learn_own_creds() < 0)
        return 0;
    if (!ids_free && (c->fsuid != own.fsuid || c->fsgid != own.fsgid || !same_groups(c)))
        return 0;
    uint64_t wanted = (own.effective & ~FS_CAPS) | (c->cap_effective & FS_CAPS);
    if (wanted & ~own.permitted)
        return 0;
    return own.now == wanted || set_effective(wanted) == 0;
}

/* Filesystems whose permission checks are the inode's mode bits and nothing else */
static int ordinary_fs(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return 0;
    switch ((unsigned long)sf.f_type) {
    case 0xEF53:     /* ext2/3/4 */
    case 0x58465342: /* xfs */
    case 0x9123683E: /* btrfs */
    case 0xF2F52010: /* f2fs */
    case 0x01021994: /* tmpfs */
    case 0x794C7630: /* overlayfs */
    case 0x73717368: /* squashfs */
        return 1;
    default:
        return 0;
    }
}

/* stat of fc->raw into st: 0, -errno, or ASK_GOFER */
static int direct_stat(struct fast_call *fc, int follow, struct stat *st)
{
    int fd = inroot_openat2(root_fd, fc->raw, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW), 0,
                            IN_ROOT);
    if (fd == -ENOENT || fd == -ENOTDIR) /* maybe a symlink out of the tree: the gofer's */
        return ASK_GOFER;
    if (fd < 0)
        return fd;
    int ret = fstat(fd, st) < 0 ? -errno : ordinary_fs(fd) ? 0 : ASK_GOFER;
    close(fd);
    return ret;
}

/* fc->raw opened with flags (nothing created or truncated): an fd, -errno, or
 * ASK_GOFER. The file is checked through an O_PATH fd and then opened through that fd
 * (its /proc/self/fd link), so what opens is what was checked. */
static int direct_open(struct fast_call *fc, int flags)
{
    int probe = inroot_openat2(root_fd, fc->raw, O_PATH | O_CLOEXEC | (flags & O_NOFOLLOW), 0,
                               IN_ROOT);
    if (probe == -ENOENT || probe == -ENOTDIR)
        return ASK_GOFER;
    if (probe < 0)
        return probe;
    struct stat st;
    int fd = ASK_GOFER;
    if (fstat(probe, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) &&
        ordinary_fs(probe)) {
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", probe);
        fd = open(link, (flags & ~O_NOFOLLOW) | O_CLOEXEC);
        if (fd < 0)
            fd = errno == ENOENT || errno == ENOTDIR ? ASK_GOFER : -errno;
    }
    close(probe);
    return fd;
}

/* fc->raw opened with flags that create or truncate (mode with the caller's umask
 * applied): an fd, -errno, INROOT_FIFO or ASK_GOFER. As the gofer: the sentry's own
 * umask is 0 meanwhile, the caller's being in mode already. */
static int direct_create(struct fast_call *fc, int flags, uint64_t mode)
{
    mode_t umask_was = umask(0);
    int fd = inroot_open(root_fd, fc->raw, (uint64_t)flags, mode, IN_ROOT);
    umask(umask_was);
    if (fd == -ENOENT || fd == -ENOTDIR)
        return ASK_GOFER;
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) || !ordinary_fs(fd)) {
        close(fd); /* (what the gofer then opens as the caller is the same file) */
        return ASK_GOFER;
    }
    return fd;
}

/* The last component of fc->raw (unlink's), with its parent opened O_PATH in *parent:
 * 0, -errno, or ASK_GOFER for a name only the gofer's checks answer ("." or a trailing
 * slash, which make unlink's errno depend on what the path is). */
static int open_parent(struct fast_call *fc, int *parent, const char **name)
{
    char *slash = strrchr(fc->raw, '/');
    if (!slash[1] || strcmp(slash + 1, ".") == 0)
        return ASK_GOFER;
    *name = slash + 1;
    *slash = 0;
    int fd = inroot_openat2(root_fd, fc->raw[0] ? fc->raw : "/", O_PATH | O_DIRECTORY | O_CLOEXEC,
                            0, IN_ROOT);
    *slash = '/';
    if (fd == -ENOENT || fd == -ENOTDIR)
        return ASK_GOFER;
    if (fd < 0)
        return fd;
    if (!ordinary_fs(fd)) {
        close(fd);
        return ASK_GOFER;
    }
    *parent = fd;
    return 0;
}

/* unlink of fc->raw: 0, -errno, or ASK_GOFER */
static int direct_unlink(struct fast_call *fc)
{
    int parent;
    const char *name;
    int ret = open_parent(fc, &parent, &name);
    if (ret)
        return ret;
    ret = unlinkat(parent, name, 0) == 0 ? 0 : -errno;
    close(parent);
    /* not there: maybe the path leaves the tree through a symlink, as the gofer sees */
    return ret == -ENOENT || ret == -ENOTDIR ? ASK_GOFER : ret;
}

/* -- execve's verdicts ------------------------------------------------------------------ */

/* The ELF programs sentry/loader.py found loadable, by file identity (what changes when
 * a file is replaced or rewritten), each with its ELF interpreter ("" when static): a
 * copy of its verdict cache's ELF verdicts, for execve answered in C. */
#define LOADABLE_SLOTS 1024
static struct loadable {
    uint64_t dev, ino;
    int64_t size, mtime_ns, ctime_ns;
    char interp[256];
    int used;
} loadables[LOADABLE_SLOTS];

static struct loadable *loadable_slot(uint64_t dev, uint64_t ino)
{
    return &loadables[(dev * 31 + ino) % LOADABLE_SLOTS];
}

/* Python's: loader.Loader records each ELF verdict here (a slot's older one goes) */
void exec_loadable_add(uint64_t dev, uint64_t ino, int64_t size, int64_t mtime_ns,
                       int64_t ctime_ns, const char *interp)
{
    struct loadable *l = loadable_slot(dev, ino);
    size_t len = strlen(interp);
    l->used = 0;
    if (len >= sizeof(l->interp) || (len && interp[0] != '/'))
        return; /* (a relative interpreter is the cwd's: Python's to find) */
    *l = (struct loadable){ .dev = dev, .ino = ino, .size = size, .mtime_ns = mtime_ns,
                            .ctime_ns = ctime_ns, .used = 1 };
    memcpy(l->interp, interp, len + 1);
}

static const struct loadable *loadable_find(const struct stat *st)
{
    const struct loadable *l = loadable_slot(st->st_dev, st->st_ino);
    if (l->used && l->dev == st->st_dev && l->ino == st->st_ino && l->size == st->st_size &&
        l->mtime_ns == st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec &&
        l->ctime_ns == st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec)
        return l;
    return NULL;
}

/* The gofer's EXEC of fc->raw (symlinks followed): a regular file the caller may
 * execute, and its stat. 0, or -1 for anything else (Python then finds out what). */
static int gofer_exec_stat(struct fast_call *fc, struct stat *st)
{
    struct gofer_reply reply;
    int fd;
    ssize_t n = gofer_call(&fc->creds, OP_EXEC, fc->raw, 1, 0, &reply, (char *)st,
                           sizeof(*st), &fd);
    if (fd >= 0)
        close(fd);
    return n == (ssize_t)sizeof(*st) && !reply.err && !reply.value ? 0 : -1;
}

/* -- the handlers ---------------------------------------------------------------------- */

static int answer(struct fast_call *fc, int64_t val, int32_t error)
{
    notif_respond(fc->listener, fc->notif->id, val, error, 0);
    return FAST_ANSWERED;
}

static int arg_int(const struct seccomp_notif *n, int i)
{
    return (int)(uint32_t)n->data.args[i];
}

/*
 * Reads the path argument at addr and places it (see the top of this file): 1 when
 * fc->raw, fc->norm and fc->mount say where it is, FAST_PYTHON when only Python can
 * say, -1 when the task is gone.
 */
static int place_any_path(struct fast_call *fc, int dirfd, uint64_t addr)
{
    int tid = (int)fc->notif->pid;
    char path[PATH_MAX];
    int64_t len = task_read_string(tid, addr, path, sizeof(path));
    if (len <= 0) /* a fault, too long, or empty: Python says which errno */
        return FAST_PYTHON;
    if (!notif_id_valid(fc->listener, fc->notif->id))
        return -1;
    if (path[0] == '/') {
        memcpy(fc->raw, path, (size_t)len + 1);
    } else {
        if (dirfd != AT_FDCWD)
            return FAST_PYTHON;
        char link[64];
        snprintf(link, sizeof(link), "/proc/%d/cwd", tid);
        ssize_t blen = readlink(link, fc->raw, PATH_MAX);
        if (blen <= 0 || blen >= PATH_MAX || fc->raw[0] != '/')
            return FAST_PYTHON;
        fc->raw[blen] = 0;
        if (blen >= 10 && strcmp(fc->raw + blen - 10, " (deleted)") == 0)
            return FAST_PYTHON;
        while (blen > 0 && fc->raw[blen - 1] == '/')
            blen--;
        if ((size_t)blen + 1 + (size_t)len >= sizeof(fc->raw))
            return FAST_PYTHON;
        fc->raw[blen] = '/';
        memcpy(fc->raw + blen + 1, path, (size_t)len + 1);
    }
    fc->mount = mount_of(fc->raw, fc->norm);
    return fc->mount < 0 ? FAST_PYTHON : 1;
}

/* place_any_path() for a path in a gofer mount, with the caller's credentials (which
 * a path C serves always needs) read too */
static int place_path(struct fast_call *fc, int dirfd, uint64_t addr)
{
    int placed = place_any_path(fc, dirfd, addr);
    if (placed <= 0)
        return placed;
    if (mounts[fc->mount].kind != MOUNT_GOFER)
        return FAST_PYTHON;
    if (task_creds((int)fc->notif->pid, &fc->creds) < 0)
        return FAST_PYTHON;
    return 1;
}

/* struct statx (linux/stat.h), from the gofer's struct stat and the mount's id: as
 * sentry/abi.py's stat_to_statx (the basic stats and STATX_MNT_ID; no btime) */
static void stat_to_statx(const struct stat *st, int mnt_id, struct statx *sx)
{
    memset(sx, 0, sizeof(*sx));
    sx->stx_mask = STATX_BASIC_STATS | STATX_MNT_ID;
    sx->stx_mnt_id = (uint64_t)mnt_id;
    sx->stx_blksize = (uint32_t)st->st_blksize;
    sx->stx_nlink = (uint32_t)st->st_nlink;
    sx->stx_uid = st->st_uid;
    sx->stx_gid = st->st_gid;
    sx->stx_mode = (uint16_t)st->st_mode;
    sx->stx_ino = st->st_ino;
    sx->stx_size = (uint64_t)st->st_size;
    sx->stx_blocks = (uint64_t)st->st_blocks;
    sx->stx_atime.tv_sec = st->st_atim.tv_sec;
    sx->stx_atime.tv_nsec = (uint32_t)st->st_atim.tv_nsec;
    sx->stx_ctime.tv_sec = st->st_ctim.tv_sec;
    sx->stx_ctime.tv_nsec = (uint32_t)st->st_ctim.tv_nsec;
    sx->stx_mtime.tv_sec = st->st_mtim.tv_sec;
    sx->stx_mtime.tv_nsec = (uint32_t)st->st_mtim.tv_nsec;
    sx->stx_rdev_major = major(st->st_rdev);
    sx->stx_rdev_minor = minor(st->st_rdev);
    sx->stx_dev_major = major(st->st_dev);
    sx->stx_dev_minor = minor(st->st_dev);
}

#define AT_NO_AUTOMOUNT_ 0x800
#define AT_STATX_SYNC_TYPE_ 0x6000

/* The stat family's common part: (dirfd, path) stat'ed through the gofer, written
 * to out as a struct stat, or a struct statx when statx is set. */
static int stat_at(struct fast_call *fc, int dirfd, uint64_t addr, int flags,
                   uint64_t out, int statx)
{
    int placed = place_path(fc, dirfd, addr);
    if (placed <= 0)
        return placed < 0 ? FAST_ANSWERED : FAST_PYTHON;
    int follow = !(flags & AT_SYMLINK_NOFOLLOW);
    struct stat st;
    memset(&st, 0, sizeof(st));
    int direct = take_on_caller_view(&fc->creds, 0) ? direct_stat(fc, follow, &st) : ASK_GOFER;
    if (direct < 0)
        return answer(fc, 0, direct);
    if (direct == ASK_GOFER) {
        struct gofer_reply reply;
        int fd;
        ssize_t n = gofer_call(&fc->creds, OP_STAT, fc->raw, follow, 0, &reply, (char *)&st,
                               sizeof(st), &fd);
        if (fd >= 0)
            close(fd);
        if (n < 0)
            return FAST_PYTHON;
        if (reply.err)
            return answer(fc, 0, -reply.err);
        if (reply.value != 0 || n != (ssize_t)sizeof(st))
            return FAST_PYTHON; /* a redirect: Python follows it */
    }
    int64_t wrote;
    if (statx) {
        struct statx sx;
        stat_to_statx(&st, mounts[fc->mount].id, &sx);
        wrote = task_write((int)fc->notif->pid, out, &sx, sizeof(sx));
    } else {
        wrote = task_write((int)fc->notif->pid, out, &st, sizeof(st));
    }
    return answer(fc, 0, wrote < 0 ? -EFAULT : 0);
}

static int fast_stat(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    return stat_at(fc, AT_FDCWD, a[0], 0, a[1], 0);
}

static int fast_lstat(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    return stat_at(fc, AT_FDCWD, a[0], AT_SYMLINK_NOFOLLOW, a[1], 0);
}

static int fast_newfstatat(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    int flags = arg_int(fc->notif, 3);
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT_)) /* AT_EMPTY_PATH, EINVAL */
        return FAST_PYTHON;
    return stat_at(fc, arg_int(fc->notif, 0), a[1], flags, a[2], 0);
}

static int fast_statx(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    int flags = arg_int(fc->notif, 2);
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT_ | AT_STATX_SYNC_TYPE_) ||
        (flags & AT_STATX_SYNC_TYPE_) == AT_STATX_SYNC_TYPE_ || (a[3] & 0x80000000u))
        return FAST_PYTHON;
    return stat_at(fc, arg_int(fc->notif, 0), a[1], flags, a[4], 1);
}

/* The open family's common part: the gofer opens, and the fd is installed with
 * ADDFD_FLAG_SEND, which answers the call with its number. */
static int open_at(struct fast_call *fc, int dirfd, uint64_t addr, int flags, uint64_t mode)
{
    if (flags & O_PATH) /* the kernel opens those in the task (sys_file.do_open) */
        return FAST_PYTHON;
    int placed = place_path(fc, dirfd, addr);
    if (placed <= 0)
        return placed < 0 ? FAST_ANSWERED : FAST_PYTHON;
    int fd = ASK_GOFER;
    if ((flags & __O_TMPFILE) == __O_TMPFILE)
        ; /* the gofer's */
    else if (!(flags & (O_CREAT | O_TRUNC)) && take_on_caller_view(&fc->creds, 0))
        fd = direct_open(fc, flags & (int)open_mask);
    else if ((flags & (O_CREAT | O_TRUNC)) && take_on_caller_view(&fc->creds, 1))
        fd = direct_create(fc, flags & (int)open_mask,
                           flags & O_CREAT ? mode & 07777 & ~(uint64_t)fc->creds.umask : 0);
    if (fd == INROOT_FIFO)
        return FAST_PYTHON;
    if (fd < 0 && fd != ASK_GOFER)
        return answer(fc, 0, fd);
    if (fd == ASK_GOFER) {
        struct gofer_reply reply;
        char payload[16];
        ssize_t n = gofer_call(&fc->creds, OP_OPEN, fc->raw, flags, (int64_t)mode, &reply,
                               payload, sizeof(payload), &fd);
        if (n < 0)
            return FAST_PYTHON;
        if (reply.err) {
            if (fd >= 0)
                close(fd);
            return answer(fc, 0, -reply.err);
        }
        if (reply.value != 0 || fd < 0) { /* a redirect or a FIFO: Python's */
            if (fd >= 0)
                close(fd);
            return FAST_PYTHON;
        }
    }
    int ret = notif_addfd(fc->listener, fc->notif->id, fd, flags & O_CLOEXEC ? O_CLOEXEC : 0, 1);
    close(fd);
    if (ret < 0 && ret != -ENOENT) /* e.g. EMFILE: the task's fd table is full */
        answer(fc, 0, ret);
    return FAST_ANSWERED;
}

static int fast_open(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    return open_at(fc, AT_FDCWD, a[0], arg_int(fc->notif, 1), a[2]);
}

static int fast_openat(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    return open_at(fc, arg_int(fc->notif, 0), a[1], arg_int(fc->notif, 2), a[3]);
}

static int fast_creat(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    return open_at(fc, AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1]);
}

/* unlink's common part: directly, or through the gofer (UNLINK of a file) */
static int unlink_at(struct fast_call *fc, int dirfd, uint64_t addr)
{
    int placed = place_path(fc, dirfd, addr);
    if (placed <= 0)
        return placed < 0 ? FAST_ANSWERED : FAST_PYTHON;
    int ret = take_on_caller_view(&fc->creds, 1) ? direct_unlink(fc) : ASK_GOFER;
    if (ret == ASK_GOFER) {
        struct gofer_reply reply;
        char payload[16];
        int fd;
        ssize_t n = gofer_call(&fc->creds, OP_UNLINK, fc->raw, 0, 0, &reply, payload,
                               sizeof(payload), &fd);
        if (fd >= 0)
            close(fd);
        if (n < 0 || (!reply.err && reply.value != 0))
            return FAST_PYTHON; /* a redirect: Python follows it */
        ret = -reply.err;
    }
    return answer(fc, 0, ret);
}

static int fast_unlink(struct fast_call *fc)
{
    return unlink_at(fc, AT_FDCWD, fc->notif->data.args[0]);
}

static int fast_unlinkat(struct fast_call *fc)
{
    if (arg_int(fc->notif, 2) != 0) /* AT_REMOVEDIR, or EINVAL: Python's */
        return FAST_PYTHON;
    return unlink_at(fc, arg_int(fc->notif, 0), fc->notif->data.args[1]);
}

/* execve(2) of a program loader.py knows: checked as sys_thread.execve checks it (a
 * regular file the caller may execute, an x86_64 ELF whose ELF interpreter is one in
 * the sandbox), then loaded by the kernel (CONTINUE; see execve there for why that is
 * safe). Programs not known yet, scripts and every refusal are Python's. */
static int fast_execve(struct fast_call *fc)
{
    int placed = place_path(fc, AT_FDCWD, fc->notif->data.args[0]);
    if (placed <= 0)
        return placed < 0 ? FAST_ANSWERED : FAST_PYTHON;
    struct stat st;
    const struct loadable *program;
    if (gofer_exec_stat(fc, &st) < 0 || !(program = loadable_find(&st)))
        return FAST_PYTHON;
    if (program->interp[0]) {
        memcpy(fc->raw, program->interp, strlen(program->interp) + 1);
        fc->mount = mount_of(fc->raw, fc->norm);
        if (fc->mount < 0 || mounts[fc->mount].kind != MOUNT_GOFER ||
            gofer_exec_stat(fc, &st) < 0 || !loadable_find(&st))
            return FAST_PYTHON;
    }
    task_creds_changing((int)fc->notif->pid, SYS_execve); /* (a set-id program, a thread's exec) */
    notif_respond(fc->listener, fc->notif->id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
    return FAST_ANSWERED;
}

#define DELETED " (deleted)"

/* readlink(2) of the sandbox's /proc/self/exe (what busybox asks first): the host's
 * link, with a synthetic file's memfd named as the sandbox names it (procfs.py) */
static int readlink_at(struct fast_call *fc, int dirfd, uint64_t addr, uint64_t buf, int size)
{
    if (size <= 0)
        return FAST_PYTHON;
    int placed = place_any_path(fc, dirfd, addr);
    if (placed <= 0)
        return placed < 0 ? FAST_ANSWERED : FAST_PYTHON;
    if (mounts[fc->mount].kind != MOUNT_PROC ||
        strcmp(fc->norm + mounts[fc->mount].len, "/self/exe") != 0)
        return FAST_PYTHON;
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)fc->notif->pid);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0)
        return answer(fc, 0, -ENOENT);
    target[n] = 0;
    char *name = target;
    size_t pre = strlen(memfd_link), post = strlen(DELETED);
    if ((size_t)n > pre + post && strncmp(target, memfd_link, pre) == 0 &&
        strcmp(target + n - post, DELETED) == 0) {
        name = target + pre;
        n -= (ssize_t)(pre + post);
        name[n] = 0;
    }
    if (n > size)
        n = size;
    if (task_write((int)fc->notif->pid, buf, name, (uint64_t)n) < 0)
        return answer(fc, 0, -EFAULT);
    return answer(fc, n, 0);
}

static int fast_readlink(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    return readlink_at(fc, AT_FDCWD, a[0], a[1], arg_int(fc->notif, 2));
}

static int fast_readlinkat(struct fast_call *fc)
{
    const __u64 *a = fc->notif->data.args;
    return readlink_at(fc, arg_int(fc->notif, 0), a[1], a[2], arg_int(fc->notif, 3));
}

/* lseek(2), trapped for SEEK_END (and unknown whences): it runs in the kernel
 * (CONTINUE: an fd and integers decide nothing), but on a synthetic /proc file (a
 * memfd) or directory, whose end sys_read_write.lseek answers as Linux's. */
static int fast_lseek(struct fast_call *fc)
{
    if (arg_int(fc->notif, 2) == SEEK_END) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)fc->notif->pid,
                 arg_int(fc->notif, 0));
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
            return FAST_PYTHON; /* (EBADF, or the task is gone: Python says which) */
        target[n] = 0;
        if (strncmp(target, memfd_link, strlen(memfd_link)) == 0 ||
            strncmp(target, "/proc", 5) == 0)
            return FAST_PYTHON;
    }
    notif_respond(fc->listener, fc->notif->id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
    return FAST_ANSWERED;
}

/* Answers the notification if it is one of the calls above and C can (FAST_ANSWERED);
 * FAST_PYTHON hands it to Python. */
static int fast_handle(int listener, const struct seccomp_notif *notif)
{
    static struct fast_call fc; /* (the sentry serves one notification at a time) */
    if (nmounts < 0)
        return FAST_PYTHON;
    fc.listener = listener;
    fc.notif = notif;
    switch (notif->data.nr) {
    case SYS_stat: return fast_stat(&fc);
    case SYS_lstat: return fast_lstat(&fc);
    case SYS_newfstatat: return fast_newfstatat(&fc);
    case SYS_statx: return fast_statx(&fc);
    case SYS_open: return fast_open(&fc);
    case SYS_openat: return fast_openat(&fc);
    case SYS_creat: return fast_creat(&fc);
    case SYS_unlink: return fast_unlink(&fc);
    case SYS_unlinkat: return fast_unlinkat(&fc);
    case SYS_execve: return fast_execve(&fc);
    case SYS_readlink: return fast_readlink(&fc);
    case SYS_readlinkat: return fast_readlinkat(&fc);
    case SYS_lseek: return fast_lseek(&fc);
    default: return FAST_PYTHON;
    }
}
