/*
 * The credentials of the tasks that trap: the sentry's one cache of them (Python's
 * Task.creds() reads it too, through cffi), per thread as Linux keeps them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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
    struct task_creds creds;
};

static struct creds_slot creds_cache[CREDS_SLOTS];

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

static int parse_status(const char *status, struct task_creds *c)
{
    const char *f;
    char *end;
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
    return 0;
}

/*
 * The credentials of task tid, which Linux keeps per thread. Cached, keyed by the
 * inode of /proc/<tid> (which a recycled tid does not share); every call that changes
 * them is trapped and forgets the entry (task_creds_forget). -ESRCH: the task is gone.
 */
int task_creds(int tid, struct task_creds *out)
{
    char path[64];
    struct stat st;
    struct creds_slot *slot = &creds_cache[(unsigned)tid % CREDS_SLOTS];
    snprintf(path, sizeof(path), "/proc/%d", tid);
    if (stat(path, &st) < 0)
        return -ESRCH;
    if (slot->tid == tid && slot->ino == st.st_ino) {
        *out = slot->creds;
        return 0;
    }
    char status[8192];
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
    int ret = parse_status(status, out);
    if (ret < 0)
        return ret;
    slot->tid = tid;
    slot->ino = st.st_ino;
    slot->creds = *out;
    return 0;
}

void task_creds_forget(int tid)
{
    struct creds_slot *slot = &creds_cache[(unsigned)tid % CREDS_SLOTS];
    if (slot->tid == tid)
        slot->tid = 0;
}

