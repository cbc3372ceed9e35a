"""Builds sentry._native._notify, the cffi module of the sentry's hot path (the seccomp
platform's notify.c with the C handlers of fastpath.c, the credentials cache creds.c
and the gofer client gofer_call.c, and the ptrace platform's ptrace.c).

Run by `pip install .` (setuptools' cffi_modules) or directly: python -m sentry._native.build
"""
from pathlib import Path

from cffi import FFI

_HERE = Path(__file__).resolve().parent
_GOFER_NATIVE = _HERE.parents[1] / "gofer" / "_native"
ffibuilder = FFI()
ffibuilder.cdef(
    """
    struct seccomp_data { int nr; uint32_t arch; uint64_t instruction_pointer;
                          unsigned long long args[6]; };
    struct seccomp_notif { uint64_t id; uint32_t pid; uint32_t flags;
                           struct seccomp_data data; };

    extern "Python" void sentry_handle(int listener, struct seccomp_notif *notif);

    int notif_respond(int listener, uint64_t id, int64_t val, int32_t error, uint32_t flags);
    int notif_addfd(int listener, uint64_t id, int srcfd, uint32_t newfd_flags, int send);
    int notif_id_valid(int listener, uint64_t id);
    int notif_set_sync_wakeup(int listener);
    int64_t task_read(int pid, uint64_t addr, void *buf, uint64_t len);
    int64_t task_write(int pid, uint64_t addr, const void *buf, uint64_t len);
    int64_t task_read_string(int pid, uint64_t addr, char *buf, uint64_t max);
    int serve_loop(const int *listeners, int nlisteners, const int *wake, int nwake,
                   int timeout_ms);

    struct task_creds { uint32_t uid, gid, fsuid, fsgid, umask, ngroups;
                        uint64_t cap_effective; uint32_t groups[256]; };
    int task_creds(int tid, struct task_creds *out);
    void task_creds_changing(int tid, int nr);
    int creds_set_id_maps(const uint32_t *uids, int nuids, const uint32_t *gids, int ngids);
    int creds_in_user_ns(void);
    int64_t creds_uid_inside(uint32_t id);
    int64_t creds_gid_inside(uint32_t id);
    int64_t creds_uid_outside(uint32_t id);
    int64_t creds_gid_outside(uint32_t id);
    void inroot_hide(uint64_t dev, uint64_t but_ino);
    int fast_configure(int sock, int root, uint64_t open_flags, const char *memfd,
                       const char *const *dests, const int *kinds, const int *ids, int n);
    void exec_loadable_add(uint64_t dev, uint64_t ino, int64_t size, int64_t mtime_ns,
                           int64_t ctime_ns, const char *interp);

    struct trace_call { int tid; int nr; uint64_t args[6]; };
    extern "Python" void sentry_trace(struct trace_call *call);

    int trace_seize(int tid);
    int trace_respond(int tid, int64_t val, int32_t error, uint32_t cont);
    int trace_run_instead(int tid, int64_t nr, const uint64_t *args);
    int64_t trace_install_fd(int tid, int srcfd, int cloexec);
    void trace_defer(void);
    int trace_reselect(int tid);
    int trace_reap(int *out, int max);
    int trace_serve(const int *wake, int nwake, int sigpipe, int timeout_ms);
    """
)
ffibuilder.set_source(
    "sentry._native._notify",
    # one translation unit: both platforms' hot paths and the task memory copies, with
    # the gofer's resolution in the tree (inroot.c) for the C handlers' direct answers
    "\n".join(p.read_text() for p in (_HERE / "notify.c", _GOFER_NATIVE / "inroot.c",
                                       _HERE / "creds.c", _HERE / "gofer_call.c",
                                       _HERE / "fastpath.c", _HERE / "ptrace.c")),
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(Path(__file__).resolve().parents[2]), verbose=False)
