/*
 * The credentials of the tasks that trap: the sentry's one cache of them (Python's
 * Task.creds() reads it too, through cffi), per thread as Linux keeps them.
 *
 * An entry is a task's /proc/<tid>/status as read once, and stays true until the task
 * changes its credentials -- or another task changes them for it. Linux gives that
 * power to two calls, both trapped (task_creds_changing() hears of each before the
 * host kernel runs it):
 *   - an exec by a non-leader thread hands the leader's tid, whole, to the new image,
 *     which has the exec'ing thread's credentials (set-id bits applied): the entry of
 *     the leader's tid is another task's from then on;
 *   - umask(2) changes the umask of every task that shares the caller's fs_struct
 *     (CLONE_FS: threads, and processes cloned with it), which the sentry cannot name.
 * Each is a change in flight (changes[] below) from the trap until its caller is seen
 * out of that call. Meanwhile no entry is trusted or made (the leader may trap on its
 * tid until the exec kills it; a sibling may trap before the umask is made); once it
 * is over, every older entry is dropped (creds_epoch). The set*id calls, setgroups and
 * capset change their caller's credentials only, and forget its entry.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define CREDS_SLOTS 1024
#define MAX_GROUPS 256 /* the gofer protocol's bound */

struct task_creds {
    uint32_t uid, gid, fsuid, fsgid, umask, ngroups;
    uint64_t cap_effective;
    uint32_t groups[MAX_GROUPS];
};

struct creds_slot {
    int tid;
    uint64_t ino; /* of /proc/<tid>: a recycled tid has another */
    uint64_t epoch; /* creds_epoch when read */
    struct task_creds creds;
};

static struct creds_slot creds_cache[CREDS_SLOTS];
static uint64_t creds_epoch = 1;

/* The changes in flight: each caller's /proc/<tid> (O_PATH, which stays its task's) and
 * the call it made. More at once than fit: the cache is off for good (fail safe). */
#define MAX_CHANGES 256
static struct { int tid, dirfd, nr; } changes[MAX_CHANGES];
static int nchanges;
static int creds_uncached;

/*
 * The tasks' user namespace, when it is not the sentry's: its uid and gid maps as the
 * sentry sees them ("inside outside count" triples). /proc/<tid>/status gives the host's
 * ids, which become the task's own here, so that everything the sentry decides or hands
 * the gofer (which works inside that namespace) is in the task's terms, as its own kernel
 * would see them. A task's own id outside the map makes it no one (translate); the
 * sentry shows other such ids (an owner, a status line) as the overflow id, and acts on
 * the host for the task with its host ids (sentry/task.py acting_as).
 */
#define MAX_ID_MAP 340 /* the kernel's limit on the lines of a uid_map */
static uint32_t uid_map[MAX_ID_MAP][3], gid_map[MAX_ID_MAP][3];
static int uid_map_len = -1, gid_map_len = -1; /* -1: the sentry's own namespace */

int creds_set_id_maps(const uint32_t *uids, int nuids, const uint32_t *gids, int ngids)
{
    if (nuids < 0 || nuids > MAX_ID_MAP || ngids < 0 || ngids > MAX_ID_MAP)
        return -E2BIG;
    memcpy(uid_map, uids, sizeof(uint32_t) * 3 * nuids);
    memcpy(gid_map, gids, sizeof(uint32_t) * 3 * ngids);
    uid_map_len = nuids;
    gid_map_len = ngids;
    memset(creds_cache, 0, sizeof(creds_cache));
    return 0;
}

/* 1 when the tasks live in a user namespace of their own */
static int creds_translated(void) { return uid_map_len >= 0; }

/* id's number inside the namespace, or -1 where it does not map it */
static int64_t inside(uint32_t (*map)[3], int len, uint32_t id)
{
    for (int i = 0; i < len; i++)
        if (id >= map[i][1] && id - map[i][1] < map[i][2])
            return (int64_t)map[i][0] + (id - map[i][1]);
    return -1;
}

/* The host's number of an id inside the namespace, or -1 where it maps none there */
static int64_t outside(uint32_t (*map)[3], int len, uint32_t id)
{
    for (int i = 0; i < len; i++)
        if (id >= map[i][0] && id - map[i][0] < map[i][2])
            return (int64_t)map[i][1] + (id - map[i][0]);
    return -1;
}

/* For Python: host uids and gids in the tasks' terms and back (the same number when
 * they share the sentry's namespace), -1 where the namespace maps none */
int creds_in_user_ns(void) { return creds_translated(); }
int64_t creds_uid_inside(uint32_t id)
{
    return creds_translated() ? inside(uid_map, uid_map_len, id) : id;
}
int64_t creds_gid_inside(uint32_t id)
{
    return creds_translated() ? inside(gid_map, gid_map_len, id) : id;
}
int64_t creds_uid_outside(uint32_t id)
{
    return creds_translated() ? outside(uid_map, uid_map_len, id) : id;
}
int64_t creds_gid_outside(uint32_t id)
{
    return creds_translated() ? outside(gid_map, gid_map_len, id) : id;
}

static const char *status_field(const char *status, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, len) == 0 && p[len] == ':')
            return p + len + 1;
    return NULL;
}

/* The second and fourth of "Uid:\treal\teffective\tsaved\tfs" */
static int parse_ids(const char *field, uint32_t *effective, uint32_t *fs)
{
    unsigned long v[4];
    if (!field || sscanf(field, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4)
        return -1;
    *effective = (uint32_t)v[1];
    *fs = (uint32_t)v[3];
    return 0;
}

/*
 * c's host ids in the namespace's terms. A task with an id the namespace does not map
 * (only a process on its way in has one) acts as no one: -EPERM, never as the overflow
 * id, which the namespace may map to someone. Unmapped supplementary groups are left
 * out: that can only take permissions away.
 */
static int translate(struct task_creds *c)
{
    int64_t uid = inside(uid_map, uid_map_len, c->uid);
    int64_t fsuid = inside(uid_map, uid_map_len, c->fsuid);
    int64_t gid = inside(gid_map, gid_map_len, c->gid);
    int64_t fsgid = inside(gid_map, gid_map_len, c->fsgid);
    if (uid < 0 || fsuid < 0 || gid < 0 || fsgid < 0)
        return -EPERM;
    c->uid = (uint32_t)uid;
    c->fsuid = (uint32_t)fsuid;
    c->gid = (uint32_t)gid;
    c->fsgid = (uint32_t)fsgid;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < c->ngroups; i++) {
        int64_t g = inside(gid_map, gid_map_len, c->groups[i]);
        if (g >= 0)
            c->groups[kept++] = (uint32_t)g;
    }
    c->ngroups = kept;
    return 0;
}

static int parse_status(const char *status, struct task_creds *c, int *tgid)
{
    const char *f;
    char *end;
    f = status_field(status, "Tgid");
    if (!f)
        return -EIO;
    *tgid = (int)strtol(f, NULL, 10);
    if (parse_ids(status_field(status, "Uid"), &c->uid, &c->fsuid) < 0 ||
        parse_ids(status_field(status, "Gid"), &c->gid, &c->fsgid) < 0)
        return -EIO;
    f = status_field(status, "CapEff");
    if (!f)
        return -EIO;
    c->cap_effective = strtoull(f, NULL, 16);
    f = status_field(status, "Umask");
    c->umask = f ? (uint32_t)strtoul(f, NULL, 8) : 022;
    c->ngroups = 0;
    f = status_field(status, "Groups");
    while (f && *f && *f != '\n') {
        unsigned long g = strtoul(f, &end, 10);
        if (end == f) {
            if (*f == ' ' || *f == '\t') {
                f++;
                continue;
            }
            break;
        }
        if (c->ngroups == MAX_GROUPS)
            return -E2BIG;
        c->groups[c->ngroups++] = (uint32_t)g;
        f = end;
    }
    return creds_translated() ? translate(c) : 0;
}

/* Whether change i is over: its caller is gone (an exec that succeeded frees the
 * thread's tid) or is seen outside the call (/proc/<tid>/syscall names what it is
 * blocked in, -1 for none; "running" says nothing). */
static int change_over(int i)
{
    char buf[32];
    int fd = openat(changes[i].dirfd, "syscall", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return n < 0 && errno == ESRCH;
    buf[n] = 0;
    char *end;
    long nr = strtol(buf, &end, 10);
    return end != buf && nr != changes[i].nr;
}

/* Drops the changes that are over (the caller tid trapping again ends its own), each
 * dropping every entry older than itself. 1 when none was in flight: entries may be
 * trusted and made by this call. */
static int settle_changes(int tid)
{
    int none = nchanges == 0;
    for (int i = 0; i < nchanges;) {
        if (changes[i].tid == tid || change_over(i)) {
            close(changes[i].dirfd);
            changes[i] = changes[--nchanges];
            creds_epoch++;
        } else {
            i++;
        }
    }
    return none && !creds_uncached;
}

static int read_status(int tid, struct task_creds *out, int *tgid)
{
    char path[64], status[8192];
    snprintf(path, sizeof(path), "/proc/%d/status", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    ssize_t n, got = 0;
    while (got < (ssize_t)sizeof(status) - 1 &&
           (n = read(fd, status + got, sizeof(status) - 1 - got)) > 0)
        got += n;
    close(fd);
    if (got <= 0)
        return -ESRCH;
    status[got] = 0;
    return parse_status(status, out, tgid);
}

/*
 * The credentials of task tid, which Linux keeps per thread. Cached, keyed by the
 * inode of /proc/<tid> (which a recycled tid does not share) and kept true as the top
 * of this file says. -ESRCH: the task is gone; -EPERM: its ids are not its user
 * namespace's (translate).
 */
int task_creds(int tid, struct task_creds *out)
{
    char path[64];
    struct stat st;
    struct creds_slot *slot = &creds_cache[(unsigned)tid % CREDS_SLOTS];
    snprintf(path, sizeof(path), "/proc/%d", tid);
    if (stat(path, &st) < 0)
        return -ESRCH;
    int cacheable = settle_changes(tid);
    if (cacheable && slot->tid == tid && slot->ino == st.st_ino && slot->epoch == creds_epoch) {
        *out = slot->creds;
        return 0;
    }
    int tgid, ret = read_status(tid, out, &tgid);
    if (ret < 0 || !cacheable)
        return ret;
    *slot = (struct creds_slot){ .tid = tid, .ino = (uint64_t)st.st_ino,
                                 .epoch = creds_epoch, .creds = *out };
    return 0;
}

static void task_creds_forget(int tid)
{
    struct creds_slot *slot = &creds_cache[(unsigned)tid % CREDS_SLOTS];
    if (slot->tid == tid)
        slot->tid = 0;
}

/* Whether tid is a thread other than its group's leader (0 when it is gone) */
static int non_leader(int tid)
{
    struct task_creds c;
    int tgid, ret = read_status(tid, &c, &tgid);
    return (ret == 0 || ret == -EPERM) && tgid != tid; /* (EPERM: ids unmapped, tgid read) */
}

/*
 * Task tid trapped call nr, which changes credentials (the set*id family, setgroups,
 * capset), the umask, or the program (execve, execveat), and is about to run in the
 * host kernel: its entry goes, and a change that reaches other tasks' entries is in
 * flight until it is over (see the top of this file).
 */
void task_creds_changing(int tid, int nr)
{
    int reaches_others = nr == SYS_umask ||
                         ((nr == SYS_execve || nr == SYS_execveat) && non_leader(tid));
    task_creds_forget(tid);
    if (!reaches_others || creds_uncached)
        return;
    settle_changes(0);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", tid);
    if (nchanges == MAX_CHANGES) {
        creds_uncached = 1;
        return;
    }
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) /* (ENOENT: the caller is gone, and its call with it) */
            creds_uncached = 1;
        return;
    }
    changes[nchanges].tid = tid;
    changes[nchanges].dirfd = fd;
    changes[nchanges++].nr = nr;
}
