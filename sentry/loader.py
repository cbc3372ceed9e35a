"""What the host kernel will load for a program: the sentry's reading of an execve
target, before the kernel sees the call.

One job: from a file's identity and its first bytes, say what Linux's exec would make
of it (fs/binfmt_elf.c, fs/binfmt_script.c) — an x86_64 ELF program and the ELF
interpreter it names, or a `#!` script and the interpreter that runs it — or why the
kernel would refuse it. The ELF headers are parsed with pyelftools, once per file: the
verdict is cached under the file's identity, never under a path (a path can be
re-pointed).
"""
from __future__ import annotations

import errno
import functools
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from gofer.protocol import STAT

# The first read of a program: the ELF header, the program headers of a typical
# program and its PT_INTERP string (at 0x318 in what GNU ld writes), or a `#!` line.
HEAD = 1024
BINPRM_BUF_SIZE = 256  # how much of a script Linux reads for its `#!` line
# exec_binprm() (fs/exec.c) runs a binary handler at depths 0..5 and fails with ELOOP
# when a script is met at depth 5: a chain of at most five `#!` scripts, the last of
# which names an ELF interpreter (what the host kernel does, measured on 6.x).
MAX_DEPTH = 5
PATH_MAX = 4096
_EHDR_SIZE, _PHDR_SIZE = 64, 56  # Elf64_Ehdr, Elf64_Phdr
_MAX_PHDRS_SIZE = 65536  # load_elf_phdrs()'s bound on the program header table
_CACHE_MAX = 4096
_SCRIPT_NAME_END = re.compile(rb"[ \t\0]")


class Identity(NamedTuple):
    """A file's identity: what changes when it is replaced or rewritten. ctime too,
    since mtime can be set back with utimensat and ctime cannot."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of_stat(cls, packed: bytes) -> Identity:
        """From a struct stat as the gofer packs it."""
        (dev, ino, _nlink, _mode, _uid, _gid, _pad, _rdev, size, _blksize, _blocks,
         _atime, _atime_ns, mtime, mtime_ns, ctime, ctime_ns, *_r) = STAT.unpack(packed)
        return cls(dev, ino, size, mtime * 10**9 + mtime_ns, ctime * 10**9 + ctime_ns)

    @classmethod
    def of_host(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class ExecFile:
    """A file exec is to load, as the sentry sees it."""

    name: str  # the sandbox path (for log lines)
    identity: Identity
    head: bytes  # its first bytes (up to HEAD)
    read: Callable[[int, int], bytes]  # (offset, length) → more of its bytes


@dataclass(frozen=True)
class Elf:
    """An x86_64 ELF program; interp is its PT_INTERP (None: statically linked)."""

    interp: str | None


@dataclass(frozen=True)
class Script:
    """A `#!` script: the kernel execs interp in its place."""

    interp: str


class NotLoadable(Exception):
    """The kernel would refuse the file with this errno; why says how."""

    def __init__(self, err: int, why: str) -> None:
        super().__init__(why)
        self.errno = err
        self.why = why


@dataclass(frozen=True)
class _Refusal:  # a cached NotLoadable
    errno: int
    why: str


class Loader:
    """Verdicts on programs, cached per file identity. on_elf, when set, hears of every
    ELF verdict given (the seccomp platform's C execve keeps a copy of them)."""

    def __init__(self) -> None:
        self._verdicts: dict[Identity, Elf | Script | _Refusal] = {}
        self.on_elf: Callable[[Identity, Elf], None] | None = None

    def examine(self, f: ExecFile) -> Elf | Script:
        """What the kernel will load for f; raises NotLoadable."""
        verdict = self._verdicts.get(f.identity)
        if verdict is None:
            try:
                verdict = _examine(f)
            except NotLoadable as e:
                verdict = _Refusal(e.errno, e.why)
            if len(self._verdicts) >= _CACHE_MAX:
                self._verdicts.clear()
            self._verdicts[f.identity] = verdict
        if isinstance(verdict, _Refusal):
            raise NotLoadable(verdict.errno, verdict.why)
        if isinstance(verdict, Elf) and self.on_elf is not None:
            self.on_elf(f.identity, verdict)
        return verdict


def _examine(f: ExecFile) -> Elf | Script:
    # the two handlers Linux tries (binfmt_misc registrations are the host's, and no
    # business of a sandbox)
    if f.head[:4] == b"\x7fELF":
        return _elf(f)
    if f.head[:2] == b"#!":
        return _script(f.head)
    raise NotLoadable(errno.ENOEXEC, "neither an ELF program nor a #! script")


def prepare() -> None:
    """Builds what the first exec needs (~7 ms), while the sentry would only wait (for
    the container's init to build its tree)."""
    _structs()


@functools.cache
def _structs() -> Any:
    """pyelftools' Elf64 little-endian structures, built once (the import costs ~7 ms). ELFStructs rather than ELFFile: ELFFile's constructor reads
    the section headers at the end of the file, and exec needs only the headers at its
    start, which the first read already holds."""
    from elftools.elf.structs import ELFStructs  # noqa: PLC0415

    s = ELFStructs(little_endian=True, elfclass=64)
    s.create_basic_structs()
    s.create_advanced_structs("ET_EXEC", "EM_X86_64", "ELFOSABI_SYSV")
    return s


def _elf(f: ExecFile) -> Elf:
    """load_elf_binary()'s checks, in its order, up to opening the interpreter."""
    s = _structs()
    # e_ident, e_type and e_machine lie at the same offsets in both classes: a 32-bit
    # header parses far enough with the 64-bit structure to say what it is
    ehdr = s.Elf_Ehdr.parse(f.head[:_EHDR_SIZE].ljust(_EHDR_SIZE, b"\0"))
    ident = ehdr.e_ident
    if ident.EI_DATA != "ELFDATA2LSB":
        raise NotLoadable(errno.ENOEXEC, f"not an x86_64 ELF ({ident.EI_CLASS}, big-endian)")
    if ident.EI_CLASS != "ELFCLASS64" or ehdr.e_machine != "EM_X86_64":
        raise NotLoadable(errno.ENOEXEC,
                          f"not an x86_64 ELF ({ehdr.e_machine}, {ident.EI_CLASS})")
    if ehdr.e_type not in ("ET_EXEC", "ET_DYN"):
        raise NotLoadable(errno.ENOEXEC, f"not an executable ELF ({ehdr.e_type})")
    size = ehdr.e_phnum * _PHDR_SIZE
    if ehdr.e_phentsize != _PHDR_SIZE or not 0 < size <= _MAX_PHDRS_SIZE:
        raise NotLoadable(errno.ENOEXEC, "bad ELF program header table")
    table = _bytes(f, ehdr.e_phoff, size, "program header table")
    for i in range(ehdr.e_phnum):
        ph = s.Elf_Phdr.parse(table[i * _PHDR_SIZE:(i + 1) * _PHDR_SIZE])
        if ph.p_type != "PT_INTERP":
            continue
        # the first PT_INTERP counts; its string holds a path and its NUL
        if not 2 <= ph.p_filesz <= PATH_MAX:
            raise NotLoadable(errno.ENOEXEC, "bad PT_INTERP size")
        raw = _bytes(f, ph.p_offset, ph.p_filesz, "PT_INTERP")
        if raw[-1] != 0:
            raise NotLoadable(errno.ENOEXEC, "PT_INTERP without its NUL")
        return Elf(os.fsdecode(raw.split(b"\0", 1)[0]))
    return Elf(None)


def _bytes(f: ExecFile, offset: int, length: int, what: str) -> bytes:
    if offset + length > f.identity.size:
        raise NotLoadable(errno.ENOEXEC, f"truncated ELF ({what} beyond the end)")
    if offset + length <= len(f.head):
        return f.head[offset:offset + length]
    data = f.read(offset, length)
    if len(data) != length:  # it shrank since
        raise NotLoadable(errno.ENOEXEC, f"truncated ELF ({what} beyond the end)")
    return data


def _script(head: bytes) -> Script:
    """load_script()'s reading of the `#!` line: the first BINPRM_BUF_SIZE bytes; the
    interpreter is the first word after `#!` (ending at a blank or NUL)."""
    buf = head[:BINPRM_BUF_SIZE].ljust(BINPRM_BUF_SIZE, b"\0")
    end = buf.find(b"\n")
    if end < 0:
        # no newline within the buffer: the line may be cut short, but not the
        # interpreter's path
        name = buf[2:].lstrip(b" \t")
        if not name or not _SCRIPT_NAME_END.search(name):
            raise NotLoadable(errno.ENOEXEC,
                              f"#! interpreter path longer than {BINPRM_BUF_SIZE} bytes")
        end = len(buf)
    line = buf[2:end].strip(b" \t")
    if not line:
        raise NotLoadable(errno.ENOEXEC, "#! without an interpreter")
    return Script(os.fsdecode(_SCRIPT_NAME_END.split(line, maxsplit=1)[0]))
