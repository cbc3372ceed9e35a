"""exec understood: the sentry reads every execve/execveat target (pyelftools) before
the host kernel sees the call. Only x86_64 ELF programs whose ELF interpreter is in the
sandbox, and `#!` scripts (at most five in a row) leading to one, get through; the rest
fail with Linux's errno and a log line. /proc/PID/exe and /proc/PID/maps name sandbox
paths.

Most of these errnos are also what the host kernel would answer had the sentry let the
call through: each test therefore checks the sentry's log line as well, which only a
refusal by the sentry writes.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from helpers import bind_mount, parse_err

# A complete 32-bit x86 program: exit(0) through int 0x80. The host kernel runs it
# (IA32 emulation), and then the sandbox's seccomp filter would kill it (a foreign
# audit arch): ENOEXEC can only come from the sentry's check.
_I386_CODE = bytes([0xB8, 1, 0, 0, 0, 0x31, 0xDB, 0xCD, 0x80])
_I386_VADDR = 0x08048000


def i386_program() -> bytes:
    size = 52 + 32 + len(_I386_CODE)
    ehdr = struct.pack("<4sBBBB8xHHIIIIIHHHHHH", b"\x7fELF", 1, 1, 1, 0,
                       2, 3, 1, _I386_VADDR + 52 + 32, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    phdr = struct.pack("<8I", 1, 0, _I386_VADDR, _I386_VADDR, size, size, 5, 0x1000)
    return ehdr + phdr + _I386_CODE


def aarch64_header() -> bytes:
    """An Elf64 header of an ARM64 executable (EM_AARCH64 = 183), no program."""
    return struct.pack("<4sBBBB8xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0,
                       2, 183, 1, 0x400000, 64, 0, 0, 64, 56, 0, 64, 0, 0)


DYN_SOURCE = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0) { perror("readlink"); return 1; }
    exe[n] = 0;
    printf("exe=%s\n", exe);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) { perror("maps"); return 1; }
    char line[8192];
    while (fgets(line, sizeof(line), f))
        printf("map %s", line);
    return 0;
}
"""


@pytest.fixture(scope="session")
def dyn_program(tmp_path_factory, helper_bin) -> tuple[Path, list[Path]]:
    """A dynamically linked program built here, and the files it needs at run time
    (its ELF interpreter first, then its libraries), as ldd names them."""
    d = tmp_path_factory.mktemp("dyn")
    (d / "dyn.c").write_text(DYN_SOURCE)
    subprocess.run(["gcc", "-O1", "-o", str(d / "dyn"), str(d / "dyn.c")], check=True)
    ldd = subprocess.run(["ldd", str(d / "dyn")], capture_output=True, text=True,
                         check=True).stdout
    interp, libs = None, []
    for line in ldd.splitlines():
        words = line.split()
        if "=>" in words and words[words.index("=>") + 1].startswith("/"):
            libs.append(Path(words[words.index("=>") + 1]))
        elif words and words[0].startswith("/"):
            interp = Path(words[0])
    assert interp is not None, ldd
    return d / "dyn", [interp, *libs]


def install(rootfs: Path, path: str, data: bytes, mode: int = 0o755) -> None:
    dest = rootfs / path.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    os.chmod(dest, mode)


def install_host_file(rootfs: Path, host: Path) -> None:
    """host's content at the same path in the rootfs (symlinks resolved)."""
    dest = rootfs / str(host).lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(host, dest)


def run_logged(rt, bundle, args, tmp_path, setup=None, **ov):
    """Runs one container with --log --debug; returns (CompletedProcess, log text,
    bundle dir)."""
    b = bundle(list(args), readonly=False, **ov)
    if setup is not None:
        setup(b / "rootfs")
    log = tmp_path / f"runsc-{uuid.uuid4().hex[:8]}.log"
    p = rt.run("--log", log, "--debug", "run", "--bundle", b, "c-" + uuid.uuid4().hex[:10],
               timeout=90)
    return p, log.read_text() if log.exists() else "", b


def out_of(p, log: str = "") -> str:
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}\nlog:\n{log[-3000:]}"


def test_a_32_bit_elf_gets_enoexec_from_the_sentry(rt, bundle, tmp_path):
    native = tmp_path / "i386"
    native.write_bytes(i386_program())
    native.chmod(0o755)
    assert subprocess.run([native]).returncode == 0  # the host kernel would run it

    p, log, _b = run_logged(rt, bundle, ["rsphelper", "exec", "/i386"], tmp_path,
                            lambda r: install(r, "/i386", i386_program()))
    assert parse_err(p.stdout) == ("ENOEXEC", 8), out_of(p, log)
    assert "exec /i386: not an x86_64 ELF (EM_386, ELFCLASS32) (ENOEXEC)" in log, \
        out_of(p, log)


def test_an_arm64_elf_gets_enoexec(rt, bundle, tmp_path):
    p, log, _b = run_logged(rt, bundle, ["rsphelper", "exec", "/arm64"], tmp_path,
                            lambda r: install(r, "/arm64", aarch64_header()))
    assert parse_err(p.stdout) == ("ENOEXEC", 8), out_of(p, log)
    assert "exec /arm64: not an x86_64 ELF (EM_AARCH64, ELFCLASS64)" in log, out_of(p, log)


def test_garbage_with_the_exec_bit_gets_enoexec(rt, bundle, tmp_path):
    p, log, _b = run_logged(rt, bundle, ["rsphelper", "exec", "/garbage"], tmp_path,
                            lambda r: install(r, "/garbage", b"\x00\x01junk" * 100))
    assert parse_err(p.stdout) == ("ENOEXEC", 8), out_of(p, log)
    assert "exec /garbage: neither an ELF program nor a #! script" in log, out_of(p, log)


def test_execveat_of_an_fd_is_checked_too(rt, bundle, tmp_path):
    def setup(r: Path) -> None:
        install(r, "/i386", i386_program())

    p, log, _b = run_logged(
        rt, bundle,
        ["sh", "-c", "rsphelper fexec /i386; rsphelper fexec /proc/self/status; "
                     "rsphelper fexec /bin/echo fexec-works"], tmp_path, setup)
    lines = p.stdout.splitlines()
    assert lines == ["ERR ENOEXEC 8", "ERR EACCES 13", "fexec-works"], out_of(p, log)
    assert "exec /i386: not an x86_64 ELF (EM_386, ELFCLASS32)" in log, out_of(p, log)


def test_a_missing_elf_interpreter_is_enoent(rt, bundle, tmp_path, dyn_program):
    program, needed = dyn_program
    p, log, _b = run_logged(rt, bundle, ["rsphelper", "exec", "/bin/dyn"], tmp_path,
                            lambda r: install(r, "/bin/dyn", program.read_bytes()))
    assert parse_err(p.stdout) == ("ENOENT", 2), out_of(p, log)
    assert (f"exec /bin/dyn: ELF interpreter {needed[0]}: No such file or directory "
            "(ENOENT)") in log, out_of(p, log)


def test_an_elf_interpreter_that_is_no_x86_64_elf_is_elibbad(rt, bundle, tmp_path,
                                                             dyn_program):
    program, needed = dyn_program

    def setup(r: Path) -> None:
        install(r, "/bin/dyn", program.read_bytes())
        install(r, str(needed[0]), i386_program())

    p, log, _b = run_logged(rt, bundle, ["rsphelper", "exec", "/bin/dyn"], tmp_path, setup)
    assert parse_err(p.stdout) == ("ELIBBAD", 80), out_of(p, log)
    assert f"exec /bin/dyn: ELF interpreter {needed[0]}: not an x86_64 ELF" in log, \
        out_of(p, log)


def _script_chain(r: Path, n: int) -> None:
    """/s0 runs echo; /sK (K ≥ 1) is a script whose interpreter is /s(K-1)."""
    install(r, "/s0", b"#!/bin/echo hi\n")
    for k in range(1, n + 1):
        install(r, f"/s{k}", f"#!/s{k - 1}\n".encode())


def test_scripts_are_followed_five_deep_and_no_deeper(rt, bundle, tmp_path):
    # /s4 is five scripts in a row, then echo: Linux runs it; /s5 is six: ELOOP
    p, log, _b = run_logged(rt, bundle,
                            ["sh", "-c", "rsphelper exec /s4; rsphelper exec /s5"],
                            tmp_path, lambda r: _script_chain(r, 5))
    lines = p.stdout.splitlines()
    assert lines[0] == "hi /s0 /s1 /s2 /s3 /s4", out_of(p, log)
    assert lines[1] == "ERR ELOOP 40", out_of(p, log)
    assert "exec /s5: more than 5 #! scripts in a row (ELOOP)" in log, out_of(p, log)


def test_a_script_whose_interpreter_is_missing_is_enoent(rt, bundle, tmp_path):
    def setup(r: Path) -> None:
        install(r, "/missing.sh", b"#!/no/such/interpreter -x\necho never\n")
        install(r, "/blank.sh", b"#!   \t\necho never\n")

    p, log, _b = run_logged(
        rt, bundle, ["sh", "-c", "rsphelper exec /missing.sh; rsphelper exec /blank.sh"],
        tmp_path, setup)
    assert p.stdout.splitlines() == ["ERR ENOENT 2", "ERR ENOEXEC 8"], out_of(p, log)
    assert ("exec /missing.sh: #! interpreter /no/such/interpreter: No such file or "
            "directory (ENOENT)") in log, out_of(p, log)
    assert "exec /blank.sh: #! without an interpreter (ENOEXEC)" in log, out_of(p, log)


def test_a_rewritten_program_is_examined_again(rt, bundle, tmp_path):
    """Verdicts are cached per file identity, not per path: the same path, rewritten
    in place with a 32-bit program, is refused."""
    p, log, _b = run_logged(
        rt, bundle,
        ["sh", "-c", "cp /bin/rsphelper /x && /x exec /bin/echo first; "
                     "cat /i386 > /x && rsphelper exec /x"],
        tmp_path, lambda r: install(r, "/i386", i386_program()))
    assert p.stdout.splitlines() == ["first", "ERR ENOEXEC 8"], out_of(p, log)
    assert "exec /x: not an x86_64 ELF (EM_386, ELFCLASS32)" in log, out_of(p, log)


def _maps_files(stdout: str) -> list[str]:
    out = []
    for line in stdout.splitlines():
        fields = line.split(None, 6)
        if fields[0] == "map" and len(fields) == 7 and fields[6].startswith("/"):
            out.append(fields[6])
    return out


def test_a_dynamic_program_runs_and_proc_names_sandbox_paths(rt, bundle, tmp_path,
                                                             dyn_program):
    """In the rootfs, run by a script (whose exe is its interpreter, as in Linux), and
    on a bind mount: exe and maps name the sandbox's paths, never the host's."""
    program, needed = dyn_program
    opt = tmp_path / "opt"
    opt.mkdir()
    shutil.copy(program, opt / "dyn")
    b = bundle(["sh", "-c", "/bin/dyn; echo ---; /bin/dyn.sh; echo ---; /opt/dyn"],
               readonly=False, mounts=[bind_mount(opt, "/opt", readonly=True)])
    install(b / "rootfs", "/bin/dyn", program.read_bytes())
    for f in needed:
        install_host_file(b / "rootfs", f)
    install(b / "rootfs", "/bin/dyn.sh", b"#!/bin/dyn\n")
    p = rt.run("run", "--bundle", b, "c-" + uuid.uuid4().hex[:10], timeout=90)
    assert p.returncode == 0, out_of(p)
    outs = p.stdout.split("---\n")
    for out, exe in zip(outs, ("/bin/dyn", "/bin/dyn", "/opt/dyn"), strict=True):
        assert out.splitlines()[0] == f"exe={exe}", out_of(p)
        files = _maps_files(out)
        assert exe in files, out_of(p)
        assert str(needed[0]) in files and str(needed[1]) in files, out_of(p)
        for f in files:  # sandbox paths: each names a file of the container
            assert not f.startswith((str(b), str(opt))), out_of(p)
            host = opt / "dyn" if f == "/opt/dyn" else b / "rootfs" / f.lstrip("/")
            assert host.exists(), out_of(p)


def test_a_known_program_is_checked_again_at_every_exec(rt, bundle, tmp_path, dyn_program):
    """Once a program is known loadable (and execve of it answered without Python on the
    seccomp platform), each exec still checks that the caller may execute it and that
    its ELF interpreter is there and is one."""
    program, needed = dyn_program
    interp = str(needed[0])

    def setup(r: Path) -> None:
        install(r, "/bin/dyn", program.read_bytes(), mode=0o700)
        for f in needed:
            install_host_file(r, f)
        install(r, "/i386", i386_program())

    p, log, _b = run_logged(rt, bundle, ["sh", "-c", "; ".join([
        "/bin/dyn | head -1", "/bin/dyn | head -1",
        "rsphelper as-user 1000 1000 /bin/rsphelper exec /bin/dyn",
        f"cp {interp} /saved && cat /i386 > {interp}",
        "rsphelper exec /bin/dyn",
        f"rm {interp}",
        "rsphelper exec /bin/dyn",
        f"cp /saved {interp} && /bin/dyn | head -1",
    ])], tmp_path, setup,
        capabilities=["CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_KILL"])
    assert p.stdout.splitlines() == ["exe=/bin/dyn", "exe=/bin/dyn", "ERR EACCES 13",
                                     "ERR ELIBBAD 80", "ERR ENOENT 2", "exe=/bin/dyn"], \
        out_of(p, log)
    # the sentry's own refusals, not the kernel's
    assert f"exec /bin/dyn: ELF interpreter {interp}: not an x86_64 ELF" in log, out_of(p, log)
    assert f"exec /bin/dyn: ELF interpreter {interp}: No such file" in log, out_of(p, log)
