"""The OCI runtime spec (config.json): parsed once, checked field by field, into the
few typed values the runtime uses. Every problem is a RuntimeFailure naming the field."""
from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runsc_py.errors import RuntimeFailure

NAMESPACE_TYPES = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"}
SYNTHETIC_FSTYPES = {"proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"}
CAP_NAMES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


@dataclass(frozen=True)
class Capabilities:
    bounding: int = 0
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: int = 0


@dataclass(frozen=True)
class Process:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    umask: int | None = None
    terminal: bool = False
    no_new_privileges: bool = False
    capabilities: Capabilities = field(default_factory=Capabilities)
    rlimits: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class Mount:
    destination: str
    type: str
    source: str
    options: tuple[str, ...]

    @property
    def is_bind(self) -> bool:
        return self.type in ("bind", "none", "") and any(
            o in ("bind", "rbind") for o in self.options
        ) or self.type == "bind"

    @property
    def readonly(self) -> bool:
        return "ro" in self.options


@dataclass(frozen=True)
class Namespace:
    type: str
    path: str = ""


@dataclass(frozen=True)
class IdMapping:
    """One line of a user namespace's uid_map or gid_map."""
    container_id: int
    host_id: int
    size: int


@dataclass(frozen=True)
class Hook:
    """One OCI hook (config.md "POSIX-platform Hooks"). env None: the caller's
    environment, as runc's hooks get it when the field is absent."""
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] | None = None
    timeout: int | None = None


HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")


@dataclass(frozen=True)
class Hooks:
    prestart: tuple[Hook, ...] = ()
    createRuntime: tuple[Hook, ...] = ()  # noqa: N815 - the spec's names
    createContainer: tuple[Hook, ...] = ()  # noqa: N815
    startContainer: tuple[Hook, ...] = ()  # noqa: N815
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()

    def of(self, kind: str) -> tuple[Hook, ...]:
        return getattr(self, kind)


@dataclass(frozen=True)
class Spec:
    raw: dict[str, Any]
    bundle: Path
    root_path: Path
    root_readonly: bool
    process: Process
    hostname: str
    mounts: tuple[Mount, ...]
    namespaces: tuple[Namespace, ...]
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    annotations: dict[str, str]
    resources: dict[str, Any]
    uid_mappings: tuple[IdMapping, ...] = ()
    gid_mappings: tuple[IdMapping, ...] = ()

    @property
    def user_namespace(self) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == "user"), None)

    def host_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """A container uid and gid as the host knows them (through the id maps)."""
        if not self.uid_mappings:
            return uid, gid
        host_uid, host_gid = map_id(self.uid_mappings, uid), map_id(self.gid_mappings, gid)
        if host_uid is None or host_gid is None:
            raise RuntimeFailure(f"user {uid}:{gid} is not mapped in the user namespace")
        return host_uid, host_gid
    hooks: Hooks = field(default_factory=Hooks)


def _get(d: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = ..., ) -> Any:
    if key not in d or d[key] is None:
        if default is ...:
            raise RuntimeFailure(f"config.json: {where}{key} is required")
        return default
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise RuntimeFailure(f"config.json: {where}{key} must be {_article(name)}")
    return value


def _article(name: str) -> str:
    return {"str": "a string", "int": "an integer", "bool": "a boolean",
            "list": "a list", "dict": "an object"}.get(name, f"a {name}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuntimeFailure(f"config.json: {where} must be a list of strings")
    return tuple(value)


def _cap_mask(names: Any, where: str) -> int:
    mask = 0
    for name in _strings(names, where):
        short = name.removeprefix("CAP_")
        if short not in CAP_NAMES:
            raise RuntimeFailure(f"config.json: {where}: unknown capability {name}")
        mask |= 1 << CAP_NAMES.index(short)
    return mask


def _process(p: dict[str, Any]) -> Process:
    args = _strings(_get(p, "args", list, "process."), "process.args")
    if not args or not args[0]:
        raise RuntimeFailure("config.json: process.args must not be empty")
    cwd = _get(p, "cwd", str, "process.")
    if not cwd.startswith("/"):
        raise RuntimeFailure("config.json: process.cwd must be an absolute path")
    env = _strings(_get(p, "env", list, "process.", []), "process.env")
    user = _get(p, "user", dict, "process.", {})
    caps_raw = _get(p, "capabilities", dict, "process.", {})
    caps = Capabilities(**{
        k: _cap_mask(caps_raw.get(k, []) or [], f"process.capabilities.{k}")
        for k in ("bounding", "effective", "permitted", "inheritable", "ambient")
    })
    rlimits = []
    for i, r in enumerate(_get(p, "rlimits", list, "process.", [])):
        where = f"process.rlimits[{i}]."
        if not isinstance(r, dict):
            raise RuntimeFailure(f"config.json: process.rlimits[{i}] must be an object")
        kind = _get(r, "type", str, where)
        if kind not in RLIMITS:
            raise RuntimeFailure(f"config.json: {where}type: unknown rlimit {kind}")
        rlimits.append((RLIMITS[kind], _get(r, "soft", int, where), _get(r, "hard", int, where)))
    gids = _get(user, "additionalGids", list, "process.user.", [])
    if not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in gids):
        raise RuntimeFailure("config.json: process.user.additionalGids must be a list of integers")
    return Process(
        args=args, env=env, cwd=cwd,
        uid=_get(user, "uid", int, "process.user.", 0),
        gid=_get(user, "gid", int, "process.user.", 0),
        additional_gids=tuple(gids),
        umask=_get(user, "umask", int, "process.user.", None),
        terminal=_get(p, "terminal", bool, "process.", False),
        no_new_privileges=_get(p, "noNewPrivileges", bool, "process.", False),
        capabilities=caps, rlimits=tuple(rlimits),
    )


def _objects(items: list[Any], name: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects of the list field `name`, each with the prefix naming its fields."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RuntimeFailure(f"config.json: {name}[{i}] must be an object")
        out.append((f"{name}[{i}].", item))
    return out


def _mounts(raw: list[Any]) -> tuple[Mount, ...]:
    out = []
    for where, m in _objects(raw, "mounts"):
        dest = _get(m, "destination", str, where)
        if not dest.startswith("/"):
            raise RuntimeFailure(f"config.json: {where}destination must be an absolute path")
        out.append(Mount(
            destination=os.path.normpath(dest),
            type=_get(m, "type", str, where, "bind" if "bind" in str(m.get("options")) else ""),
            source=_get(m, "source", str, where, ""),
            options=_strings(_get(m, "options", list, where, []), where + "options"),
        ))
    return tuple(out)


def load_hooks(raw: Any) -> Hooks:
    """The spec's `hooks` object (also what the state keeps of it)."""
    if raw is None:
        return Hooks()
    if not isinstance(raw, dict):
        raise RuntimeFailure("config.json: hooks must be an object")
    kinds = {}
    for kind in HOOK_KINDS:
        parsed = []
        for where, h in _objects(_get(raw, kind, list, "hooks.", []), f"hooks.{kind}"):
            path = _get(h, "path", str, where)
            if not path.startswith("/"):
                raise RuntimeFailure(f"config.json: {where}path must be an absolute path")
            env = h.get("env")
            timeout = _get(h, "timeout", int, where, None)
            if timeout is not None and timeout <= 0:
                raise RuntimeFailure(f"config.json: {where}timeout must be greater than zero")
            parsed.append(Hook(
                path=path,
                args=_strings(_get(h, "args", list, where, []), where + "args"),
                env=None if env is None else _strings(env, where + "env"),
                timeout=timeout))
        kinds[kind] = tuple(parsed)
    return Hooks(**kinds)


def load_process(data: dict[str, Any]) -> Process:
    """A process object (exec --process FILE)."""
    return _process(data)


def load(bundle: str | Path) -> Spec:
    bundle = Path(bundle).resolve()
    path = bundle / "config.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise RuntimeFailure(f"bundle {bundle}: config.json not found") from None
    except json.JSONDecodeError as e:
        raise RuntimeFailure(f"config.json: malformed JSON: {e.msg} at line {e.lineno}") from None
    except UnicodeDecodeError as e:
        raise RuntimeFailure(f"config.json: not valid UTF-8 (byte {e.start})") from None
    except RecursionError:
        raise RuntimeFailure("config.json: nested too deeply") from None
    except OSError as e:
        raise RuntimeFailure(f"config.json: {e.strerror}") from None
    if not isinstance(raw, dict):
        raise RuntimeFailure("config.json: must be a JSON object")
    _get(raw, "ociVersion", str, "")
    root = _get(raw, "root", dict, "")
    root_path = Path(_get(root, "path", str, "root."))
    if not root_path.is_absolute():
        root_path = bundle / root_path
    if "\0" in str(root_path):
        raise RuntimeFailure("config.json: root.path must not contain a NUL byte")
    try:
        root_is_dir = root_path.is_dir()
    except OSError as e:  # ENAMETOOLONG, EACCES, ...: is_dir() only hides ENOENT-like errors
        raise RuntimeFailure(f"rootfs {root_path}: {e.strerror}") from None
    if not root_is_dir:
        raise RuntimeFailure(f"rootfs {root_path} does not exist or is not a directory")
    process = _process(_get(raw, "process", dict, ""))
    linux = _get(raw, "linux", dict, "", {})
    namespaces = []
    for i, ns in enumerate(_get(linux, "namespaces", list, "linux.", [])):
        if not isinstance(ns, dict):
            raise RuntimeFailure(f"config.json: linux.namespaces[{i}] must be an object")
        kind = _get(ns, "type", str, f"linux.namespaces[{i}].")
        if kind not in NAMESPACE_TYPES:
            raise RuntimeFailure(f"config.json: linux.namespaces[{i}].type: unknown namespace {kind}")
        if kind == "time":
            raise RuntimeFailure(f"config.json: linux.namespaces[{i}]: {kind} namespaces "
                                 "are not supported")
        namespaces.append(Namespace(kind, _get(ns, "path", str, f"linux.namespaces[{i}].", "")))
    uid_mappings = _id_mappings(linux, "uidMappings")
    gid_mappings = _id_mappings(linux, "gidMappings")
    user_ns = next((ns for ns in namespaces if ns.type == "user"), None)
    if user_ns is not None and not user_ns.path and not (uid_mappings and gid_mappings):
        # without them every id inside would be the overflow id: nothing could run
        raise RuntimeFailure("config.json: a new user namespace needs "
                             "linux.uidMappings and linux.gidMappings")
    if (uid_mappings or gid_mappings) and user_ns is None:
        # (with a path, they are the joined namespace's own, as containerd passes them)
        raise RuntimeFailure("config.json: linux.uidMappings and linux.gidMappings need "
                             "a user namespace in linux.namespaces")
    annotations = _get(raw, "annotations", dict, "", {})
    return Spec(
        raw=raw, bundle=bundle, root_path=root_path.resolve(),
        root_readonly=_get(root, "readonly", bool, "root.", False),
        process=process,
        hostname=_get(raw, "hostname", str, "", ""),
        mounts=_mounts(_get(raw, "mounts", list, "", [])),
        namespaces=tuple(namespaces),
        masked_paths=_strings(_get(linux, "maskedPaths", list, "linux.", []), "linux.maskedPaths"),
        readonly_paths=_strings(_get(linux, "readonlyPaths", list, "linux.", []),
                                "linux.readonlyPaths"),
        annotations={str(k): str(v) for k, v in annotations.items()},
        resources=_get(linux, "resources", dict, "linux.", {}),
        uid_mappings=uid_mappings, gid_mappings=gid_mappings,
        hooks=load_hooks(raw.get("hooks")),
    )


_MAX_ID_MAPPINGS = 340  # the kernel's limit on lines of uid_map (user_namespaces(7))


def _id_mappings(linux: dict[str, Any], key: str) -> tuple[IdMapping, ...]:
    """linux.uidMappings or linux.gidMappings, as the kernel would take them: ids below
    2^32 - 1, ranges that overlap neither inside nor on the host."""
    out = []
    for i, m in enumerate(_get(linux, key, list, "linux.", [])):
        where = f"linux.{key}[{i}]."
        if not isinstance(m, dict):
            raise RuntimeFailure(f"config.json: linux.{key}[{i}] must be an object")
        mapping = IdMapping(*(_get(m, k, int, where) for k in ("containerID", "hostID", "size")))
        if mapping.size < 1 or min(mapping.container_id, mapping.host_id) < 0 or \
                max(mapping.container_id, mapping.host_id) + mapping.size > 0xFFFFFFFF:
            raise RuntimeFailure(f"config.json: linux.{key}[{i}]: ids out of range")
        out.append(mapping)
    if len(out) > _MAX_ID_MAPPINGS:
        raise RuntimeFailure(f"config.json: linux.{key}: more than {_MAX_ID_MAPPINGS} lines")
    for side in ("container_id", "host_id"):
        ranges = sorted((getattr(m, side), getattr(m, side) + m.size) for m in out)
        if any(a[1] > b[0] for a, b in zip(ranges, ranges[1:])):
            raise RuntimeFailure(f"config.json: linux.{key}: overlapping ranges")
    return tuple(out)


def map_id(mappings: tuple[IdMapping, ...], container_id: int) -> int | None:
    """The host id of container_id under mappings, None if it is not mapped."""
    for m in mappings:
        if m.container_id <= container_id < m.container_id + m.size:
            return m.host_id + container_id - m.container_id
    return None


def parse_signal(text: str) -> int:
    """A signal given as a name (TERM, SIGTERM, sigkill) or a number."""
    text = text.strip()
    if text.isdigit():
        num = int(text)
        if 0 < num < signal.NSIG:
            return num
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
        if sig is not None:
            return int(sig)
    raise RuntimeFailure(f"invalid signal: {text}")
