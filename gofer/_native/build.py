"""Builds gofer._native._fast, the cffi module of the gofer's hot path (STAT, OPEN, EXEC).

Run by `pip install .` (setuptools' cffi_modules) or directly: python -m gofer._native.build
Without it the gofer serves every request in Python (gofer/fast_native.py).
"""
from pathlib import Path

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef(
    """
    void inroot_hide(uint64_t dev, uint64_t but_ino);
    void gofer_fast_config(int root, uint64_t open_flags_mask, uint64_t resolve);
    void gofer_fast_set_creds(int known, uint32_t fsuid, uint32_t fsgid, uint64_t caps,
                              const uint32_t *groups, uint32_t ngroups);
    int gofer_fast_serve(int sock, char *buf, int size);
    """
)
ffibuilder.set_source(
    "gofer._native._fast",
    # inroot.c: resolution in the tree, shared with the sentry's C path
    "\n".join(Path(__file__).with_name(name).read_text() for name in ("inroot.c", "fast.c")),
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(Path(__file__).resolve().parents[2]), verbose=False)
