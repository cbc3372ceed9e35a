"""Test infrastructure for runsc-py: the rsphelper binary, busybox rootfs, OCI bundles.

Public API (see also tests/conftest.py for the fixtures built on it):

    build_helper(dest_dir) -> Path
    make_busybox_rootfs(dest, helper=None) -> Path
    make_bundle(bundle_dir, args, rootfs_template=None, **overrides) -> Path
    load_config(bundle) -> dict / save_config(bundle, cfg)
    edit_config(bundle, fn) -> dict
    apply_overrides(cfg, **overrides) -> dict
    parse_kv(text) -> dict            (parses rsphelper's "k=v k=v" output)
    parse_err(text) -> (name, errno) | None
    missing_requirements(...) -> list[str], require(...)
    as_nobody(scratch, env) -> (prefix, python)   (to run the runtime as uid 65534)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

REPO_ROOT = Path(__file__).resolve().parents[2]
HELPER_SRC = REPO_ROOT / "tests" / "helper" / "rsphelper.c"
HOST_BUSYBOX = Path("/bin/busybox")

# Environment variable: when set to 1, skipped tests make the run fail (CI).
STRICT_ENV = "RUNSC_PY_TESTS_STRICT"


# --------------------------------------------------------------------------
# requirements

def _is_static_elf(path: Path) -> bool:
    """True if `path` is an ELF executable without a PT_INTERP header."""
    try:
        with open(path, "rb") as f:
            hdr = f.read(64)
            if hdr[:4] != b"\x7fELF" or hdr[4] != 2:  # 64-bit only
                return False
            e_phoff = struct.unpack_from("<Q", hdr, 32)[0]
            e_phentsize, e_phnum = struct.unpack_from("<HH", hdr, 54)
            f.seek(e_phoff)
            ph = f.read(e_phentsize * e_phnum)
    except OSError:
        return False
    for i in range(e_phnum):
        p_type = struct.unpack_from("<I", ph, i * e_phentsize)[0]
        if p_type == 3:  # PT_INTERP
            return False
    return True


def missing_requirements(root: bool = False, gcc: bool = False, runc: bool = False,
                         busybox: bool = False) -> list[str]:
    """Return human-readable reasons for each unmet requirement."""
    out = []
    if root and os.geteuid() != 0:
        out.append("needs root (euid != 0)")
    if gcc and shutil.which("gcc") is None:
        out.append("gcc not found (apt-get install gcc libc6-dev; see scripts/install-deps.sh)")
    if runc and shutil.which("runc") is None:
        out.append("runc not found (apt-get install runc; used for `runc spec`)")
    if busybox:
        if not HOST_BUSYBOX.exists():
            out.append("/bin/busybox not found (apt-get install busybox-static)")
        elif not _is_static_elf(HOST_BUSYBOX):
            out.append("/bin/busybox is dynamically linked (apt-get install busybox-static)")
    return out


def require(**kw: bool) -> None:
    """pytest.skip (or pytest.fail when RUNSC_PY_TESTS_STRICT=1) if requirements are unmet."""
    import pytest

    reasons = missing_requirements(**kw)
    if reasons:
        msg = "; ".join(reasons)
        if os.environ.get(STRICT_ENV) == "1":
            pytest.fail(f"requirement missing in strict mode: {msg}", pytrace=False)
        pytest.skip(msg)


# --------------------------------------------------------------------------
# rsphelper

def helper_source_hash() -> str:
    return hashlib.sha256(HELPER_SRC.read_bytes()).hexdigest()[:16]


def build_helper(dest_dir: os.PathLike | str) -> Path:
    """Compile tests/helper/rsphelper.c statically into dest_dir (cached by source hash).

    Returns the path to the binary (dest_dir/rsphelper-<hash>). Safe against
    concurrent builders (compiles to a temp name, then renames).
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / f"rsphelper-{helper_source_hash()}"
    if out.exists():
        return out
    fd, tmp = tempfile.mkstemp(prefix=".rsphelper-", dir=dest_dir)
    os.close(fd)
    try:
        proc = subprocess.run(
            ["gcc", "-O2", "-Wall", "-static", "-o", tmp, str(HELPER_SRC)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"compiling rsphelper failed:\n{proc.stderr}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


# --------------------------------------------------------------------------
# rootfs

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\nnogroup:x:65534:\n"
HOSTNAME = "runsc-py\n"


def make_busybox_rootfs(dest: os.PathLike | str, helper: os.PathLike | str | None = None,
                        busybox: os.PathLike | str = HOST_BUSYBOX) -> Path:
    """Create a minimal rootfs at `dest` from the host's static busybox.

    Layout: bin/busybox, bin/<applet> -> busybox (relative symlinks) for every
    applet of `busybox --list`, bin/rsphelper (built if `helper` is None), empty
    proc sys dev tmp(1777) etc root, etc/passwd (root, nobody=65534),
    etc/group, etc/hostname.
    """
    dest = Path(dest)
    busybox = Path(busybox)
    if helper is None:
        helper = build_helper(Path(tempfile.gettempdir()) / "runsc-py-helper-cache")
    dest.mkdir(parents=True, exist_ok=True)
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root"):
        (dest / d).mkdir(exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    os.chmod(dest / "root", 0o700)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    os.chmod(dest / "bin" / "busybox", 0o755)
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for name in applets:
        name = name.strip().rsplit("/", 1)[-1]
        if not name or name == "busybox":
            continue
        link = dest / "bin" / name
        if not link.exists() and not link.is_symlink():
            os.symlink("busybox", link)
    shutil.copy2(helper, dest / "bin" / "rsphelper")
    os.chmod(dest / "bin" / "rsphelper", 0o755)
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    (dest / "etc" / "hostname").write_text(HOSTNAME)
    return dest


def copy_tree(src: os.PathLike | str, dest: os.PathLike | str) -> Path:
    """`cp -a src dest` (dest must not exist); preserves symlinks, modes, owners."""
    subprocess.run(["cp", "-a", str(src), str(dest)], check=True)
    return Path(dest)


# --------------------------------------------------------------------------
# bundles / config.json

def load_config(bundle: os.PathLike | str) -> dict:
    return json.loads((Path(bundle) / "config.json").read_text())


def save_config(bundle: os.PathLike | str, cfg: dict) -> None:
    (Path(bundle) / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def edit_config(bundle: os.PathLike | str, fn: Callable[[dict], Any]) -> dict:
    """Load bundle/config.json, call fn(cfg) (edit in place, or return a new dict), save."""
    cfg = load_config(bundle)
    ret = fn(cfg)
    if isinstance(ret, dict):
        cfg = ret
    save_config(bundle, cfg)
    return cfg


def bind_mount(source: os.PathLike | str, destination: str, readonly: bool = False,
               options: Iterable[str] = ()) -> dict:
    """An OCI mount entry for a bind mount."""
    opts = ["rbind", "ro" if readonly else "rw", *options]
    return {"destination": destination, "type": "bind", "source": str(source), "options": opts}


def tmpfs_mount(destination: str, options: Iterable[str] = ("nosuid", "nodev", "mode=1777")) -> dict:
    return {"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": list(options)}


def apply_overrides(cfg: dict, **ov: Any) -> dict:
    """Apply keyword overrides to an OCI config dict (in place; also returned).

    Supported keys:
      args: list[str]                 -> process.args
      env: list["K=V"] (replaces) or dict (merged/overrides by key) -> process.env
      cwd: str                        -> process.cwd
      user: int uid | (uid, gid) | (uid, gid, [additionalGids]) | dict -> process.user
      terminal: bool                  -> process.terminal
      readonly: bool                  -> root.readonly   (runc spec's default is TRUE)
      mounts: list[dict]              -> appended to mounts (see bind_mount/tmpfs_mount)
      replace_mounts: list[dict]      -> replaces mounts entirely
      hostname: str                   -> hostname
      rlimits: list[dict] | dict{"RLIMIT_NOFILE": (soft, hard)} -> process.rlimits
      capabilities: dict | list[str]  -> process.capabilities (a list sets all five sets)
      no_new_privileges: bool         -> process.noNewPrivileges
      annotations: dict               -> merged into annotations
      namespaces: list[dict]          -> linux.namespaces (replace)
      linux: dict                     -> shallow-merged into linux
      process: dict                   -> shallow-merged into process
      edit: callable(cfg)             -> called last, for anything else
    """
    proc = cfg.setdefault("process", {})
    edit = ov.pop("edit", None)
    for key, val in ov.items():
        if key == "args":
            proc["args"] = [str(a) for a in val]
        elif key == "env":
            if isinstance(val, dict):
                env = {}
                for item in proc.get("env", []):
                    k, _, v = item.partition("=")
                    env[k] = v
                env.update({k: str(v) for k, v in val.items()})
                proc["env"] = [f"{k}={v}" for k, v in env.items()]
            else:
                proc["env"] = list(val)
        elif key == "cwd":
            proc["cwd"] = val
        elif key == "user":
            if isinstance(val, dict):
                proc["user"] = val
            elif isinstance(val, int):
                proc["user"] = {"uid": val, "gid": val}
            else:
                u = {"uid": val[0], "gid": val[1]}
                if len(val) > 2:
                    u["additionalGids"] = list(val[2])
                proc["user"] = u
        elif key == "terminal":
            proc["terminal"] = bool(val)
        elif key == "readonly":
            cfg.setdefault("root", {"path": "rootfs"})["readonly"] = bool(val)
        elif key == "mounts":
            cfg.setdefault("mounts", []).extend(val)
        elif key == "replace_mounts":
            cfg["mounts"] = list(val)
        elif key == "hostname":
            cfg["hostname"] = val
        elif key == "rlimits":
            if isinstance(val, dict):
                val = [{"type": t, "soft": s, "hard": h} for t, (s, h) in val.items()]
            proc["rlimits"] = list(val)
        elif key == "capabilities":
            if isinstance(val, (list, tuple)):
                val = {s: list(val) for s in
                       ("bounding", "effective", "inheritable", "permitted", "ambient")}
            proc["capabilities"] = val
        elif key == "no_new_privileges":
            proc["noNewPrivileges"] = bool(val)
        elif key == "annotations":
            cfg.setdefault("annotations", {}).update(val)
        elif key == "namespaces":
            cfg.setdefault("linux", {})["namespaces"] = list(val)
        elif key == "linux":
            cfg.setdefault("linux", {}).update(val)
        elif key == "process":
            proc.update(val)
        else:
            raise TypeError(f"apply_overrides: unknown override {key!r}")
    if edit is not None:
        ret = edit(cfg)
        if isinstance(ret, dict):
            cfg = ret
    return cfg


def runc_spec(bundle_dir: os.PathLike | str) -> dict:
    """Run `runc spec` in bundle_dir (writes config.json) and return it parsed."""
    bundle_dir = Path(bundle_dir)
    cfg_path = bundle_dir / "config.json"
    if cfg_path.exists():
        cfg_path.unlink()
    subprocess.run(["runc", "spec"], cwd=bundle_dir, check=True, capture_output=True)
    return load_config(bundle_dir)


def make_bundle(bundle_dir: os.PathLike | str, args: Iterable[str],
                rootfs_template: os.PathLike | str | None = None, **overrides: Any) -> Path:
    """Create an OCI bundle at bundle_dir: rootfs/ + config.json from `runc spec`.

    The rootfs is a `cp -a` copy of rootfs_template, or a freshly built busybox
    rootfs when None. config.json starts as `runc spec` writes it (note: that has
    root.readonly=true and the usual proc/dev/devpts/shm/mqueue/sysfs/cgroup
    mounts); then process.args=args, process.terminal=false, then overrides
    (see apply_overrides). Returns bundle_dir.
    """
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    rootfs = bundle_dir / "rootfs"
    if not rootfs.exists():
        if rootfs_template is not None:
            copy_tree(rootfs_template, rootfs)
        else:
            make_busybox_rootfs(rootfs)
    cfg = runc_spec(bundle_dir)
    cfg["process"]["args"] = [str(a) for a in args]
    cfg["process"]["terminal"] = False
    cfg = apply_overrides(cfg, **overrides)
    save_config(bundle_dir, cfg)
    return bundle_dir


# --------------------------------------------------------------------------
# parsing rsphelper output

def parse_kv(text: str) -> dict[str, str]:
    """Parse 'k=v k=v' and/or 'k=v' per line output into a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        if line.count("=") == 1:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
            continue
        for tok in line.split():
            if "=" in tok:
                k, _, v = tok.partition("=")
                out[k] = v
    return out


def parse_err(text: str) -> tuple[str, int] | None:
    """Return (errname, errno) if the output contains rsphelper's 'ERR NAME N' line."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "ERR" and parts[2].isdigit():
            return parts[1], int(parts[2])
    return None


# --------------------------------------------------------------------------
# processes

NOBODY = 65534


def as_nobody(scratch: os.PathLike | str, env: dict[str, str]) -> tuple[list[str], str]:
    """(prefix, python): prefix + a command runs it as uid and gid 65534 with no groups;
    python is this interpreter as that command can reach it. One under a directory
    nobody may not enter (/root/.pyenv) is bound under `scratch` (which nobody must be
    able to enter) in a mount namespace of the command's own. env gets a PYTHONPATH that
    finds this repository and the interpreter's packages there."""
    drop = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
    exe = Path(sys.executable).resolve()
    prefix = Path(sys.prefix).resolve()
    env["PYTHONPATH"] = str(REPO_ROOT)
    if subprocess.run([*drop, "test", "-x", str(exe)]).returncode == 0:
        return drop, str(exe)
    bound = Path(scratch) / "python"
    bound.mkdir()
    site = [p for p in sys.path if p.startswith(str(prefix)) and p.endswith("site-packages")]
    env["PYTHONPATH"] += "".join(":" + str(bound / Path(p).relative_to(prefix)) for p in site)
    return (["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f'mount --bind "{prefix}" "{bound}" && exec "$@"', "sh", *drop],
            str(bound / exe.relative_to(prefix)))


def pids_with_cmdline_containing(needle: str, exclude: Iterable[int] = ()) -> list[int]:
    """PIDs whose /proc/PID/cmdline contains `needle` (excluding `exclude` and ourselves)."""
    skip = {os.getpid(), *exclude}
    found = []
    nb = needle.encode()
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        pid = int(ent)
        if pid in skip:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if nb in cmd:
            found.append(pid)
    return sorted(found)


def describe_pid(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f"{pid}: " + f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return f"{pid}: <gone>"


def start_gofer(root: os.PathLike | str):  # -> (pid, socket, GoferClient)
    """A real gofer in a forked child, serving the directory root over a SEQPACKET
    pair; the caller kills and reaps pid."""
    import socket

    from gofer.client import GoferClient

    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # the gofer
        code = 1
        try:
            parent.close()
            from gofer.server import serve

            serve(child)
            code = 0
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    child.close()
    client = GoferClient(parent)
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        client.send_root(fd)
    finally:
        os.close(fd)
    return pid, parent, client


class ConsoleSocket:
    """The caller's end of --console-socket, as containerd's shim and conmon hold it."""

    def __init__(self, path: os.PathLike | str) -> None:
        import socket

        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.server.settimeout(30)

    def receive_master(self) -> int:
        """The pty master the runtime sends (SCM_RIGHTS); the socket is closed after."""
        import array
        import socket

        conn, _ = self.server.accept()
        fds = array.array("i")
        try:
            _msg, anc, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(4))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:4])
        finally:
            conn.close()
            self.server.close()
        assert len(fds) == 1, "no pty master came over the console socket"
        return fds[0]


def read_until(fd: int, marker: bytes, timeout: float = 20) -> bytes:
    """What fd gives until marker appears, EOF/EIO, or timeout."""
    import time

    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out and time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def add_host_program(rootfs: os.PathLike | str, program: str) -> None:
    """Copies a dynamically linked host program (e.g. /usr/bin/strace) into rootfs at
    the same path, with its ELF interpreter and the libraries ldd names."""
    rootfs = Path(rootfs)
    out = subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout
    needed = [program] + [tok for line in out.splitlines() for tok in line.split()
                          if tok.startswith("/")]
    for path in needed:
        dest = rootfs / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copy2(os.path.realpath(path), dest)
