"""`runsc-py install containerd|docker`: register runsc-py as a runtime of containerd
(a runtime class run by the io.containerd.runc.v2 shim with BinaryName = runsc-py) or of
Docker (daemon.json "runtimes"), merging with the configuration already there and
keeping a backup of it (`<config>.bak`).

The containerd config is TOML. We read it with tomllib and edit its text: the tables of
our runtime entry (`[plugins.<cri>.containerd.runtimes.<name>]` and its sub-tables) are
cut out wherever they are and the new entry is appended; every other byte (comments,
formatting) is kept. The result is parsed again and must equal the original with only
our entry changed, or nothing is written.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import tomllib
from typing import Any

from runsc_py.errors import RuntimeFailure

DEFAULT_CONFIGS = {
    "containerd": "/etc/containerd/config.toml",
    "docker": "/etc/docker/daemon.json",
}
SHIM_RUNTIME_TYPE = "io.containerd.runc.v2"

# The CRI plugin's id, by containerd config `version`.
_CRI_PLUGIN = {
    1: ("cri",),                                 # containerd 1.x, config version 1
    2: ("io.containerd.grpc.v1.cri",),           # containerd 1.x, config version 2
    3: ("io.containerd.cri.v1.runtime",),        # containerd 2.x, config version 3
}


def default_binary() -> str:
    """The runsc-py executable to register: the console script installed next to the
    running Python (not a pyenv shim, which depends on the caller's environment), else
    the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "runsc-py")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("runsc-py")
    if found:
        return os.path.realpath(found)
    raise RuntimeFailure("install: cannot find the runsc-py executable; pass --binary")


def install(target: str, config: str | None, runtime_name: str, dry_run: bool,
            binary: str) -> str:
    """Register `binary` as runtime `runtime_name` in the `target` ("containerd" or
    "docker") configuration file `config` (default: /etc/containerd/config.toml or
    /etc/docker/daemon.json). With `dry_run` return the merged file's text and write
    nothing; else write it (the previous file saved as `<config>.bak`) and return a
    short report of what was done. Raises RuntimeFailure with a one-line message."""
    if target not in DEFAULT_CONFIGS:
        raise RuntimeFailure(f"install: unknown target {target!r}: "
                             "expected containerd or docker")
    if not runtime_name or not re.fullmatch(r"[A-Za-z0-9_.-]+", runtime_name):
        raise RuntimeFailure(f"install: invalid runtime name {runtime_name!r}")
    if not binary or not os.path.isabs(binary):
        raise RuntimeFailure(f"install: the runtime binary must be an absolute path, "
                             f"got {binary!r}")
    path = config or DEFAULT_CONFIGS[target]
    try:
        with open(path, encoding="utf-8") as f:
            old = f.read()
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise RuntimeFailure(f"install: cannot read {path}: {e.strerror}") from None

    if target == "containerd":
        new, notes = merge_containerd(old or "", runtime_name, binary, path)
    else:
        new, notes = merge_docker(old or "", runtime_name, binary, path)
    if dry_run:
        return new

    backup = None
    if old is not None:
        backup = path + ".bak"
        shutil.copy2(path, backup)
    _write_atomic(path, new)
    lines = [f"registered runtime {runtime_name!r} -> {binary} in {path}"]
    if backup:
        lines.append(f"previous configuration saved as {backup}")
    lines += notes
    if target == "containerd":
        lines.append("restart containerd to apply (systemctl restart containerd)")
    else:
        lines.append("restart or reload dockerd to apply (systemctl reload docker); "
                     f"then: docker run --runtime {runtime_name} ...")
    return "\n".join(lines)


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".runsc-py-install.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise RuntimeFailure(f"install: cannot write {path}: {e.strerror}") from None


# --------------------------------------------------------------------------
# docker

def merge_docker(old: str, name: str, binary: str, path: str = "daemon.json"
                 ) -> tuple[str, list[str]]:
    """daemon.json text with runtimes.<name>.path = binary (other keys kept)."""
    if old.strip():
        try:
            data = json.loads(old)
        except json.JSONDecodeError as e:
            raise RuntimeFailure(f"install: {path}: invalid JSON: {e}") from None
        if not isinstance(data, dict):
            raise RuntimeFailure(f"install: {path}: expected a JSON object")
    else:
        data = {}
    runtimes = data.setdefault("runtimes", {})
    if not isinstance(runtimes, dict):
        raise RuntimeFailure(f"install: {path}: \"runtimes\" is not an object")
    entry = runtimes.get(name)
    if not isinstance(entry, dict):
        entry = {}
    entry["path"] = binary
    runtimes[name] = entry
    return json.dumps(data, indent=4) + "\n", []


# --------------------------------------------------------------------------
# containerd

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(part: str) -> str:
    return part if _BARE_KEY.fullmatch(part) else json.dumps(part)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _parse_key_path(text: str) -> tuple[str, ...] | None:
    """The parts of a dotted TOML key (`a."b.c".'d'`), or None if not one."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        c = text[i]
        if c == '"':
            j = i + 1
            buf = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j:j + 2])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= n:
                return None
            try:
                parts.append(json.loads('"' + "".join(buf) + '"'))
            except json.JSONDecodeError:
                return None
            i = j + 1
        elif c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                return None
            parts.append(text[i + 1:j])
            i = j + 1
        else:
            m = _BARE_KEY.match(text, i)
            if not m:
                return None
            parts.append(m.group(0))
            i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return tuple(parts)
        if text[i] != ".":
            return None
        i += 1


def _header_path(line: str) -> tuple[str, ...] | None:
    """The key path of a `[table]` or `[[array]]` header line, else None."""
    s = line.strip()
    if not s.startswith("["):
        return None
    i = 2 if s.startswith("[[") else 1
    close = "]]" if i == 2 else "]"
    quote = None
    j = i
    while j < len(s):
        c = s[j]
        if quote:
            if c == "\\" and quote == '"':
                j += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "]":
            break
        j += 1
    if not s.startswith(close, j):
        return None
    rest = s[j + len(close):].strip()
    if rest and not rest.startswith("#"):
        return None
    return _parse_key_path(s[i:j])


def _cut_tables(text: str, prefix: tuple[str, ...]) -> str:
    """`text` without the tables whose header path starts with `prefix` (each up to the
    next header of a table outside it). Lines inside multi-line strings are tracked
    so that a `[` there is not taken for a header."""
    out: list[str] = []
    cutting = False
    in_multiline: str | None = None
    for line in text.splitlines(keepends=True):
        if in_multiline is None:
            path = _header_path(line.rstrip("\r\n"))
            if path is not None:
                cutting = path[:len(prefix)] == prefix
        if not cutting:
            out.append(line)
        # multi-line string delimiters (""" or ''') toggle; good enough for configs
        for delim in ('"""', "'''"):
            count = line.count(delim)
            if in_multiline in (None, delim) and count % 2 == 1:
                in_multiline = delim if in_multiline is None else None
    result = "".join(out)
    return result


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _without(d: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A deep copy of d without the key at path; empty parent tables are dropped."""
    import copy

    d = copy.deepcopy(d)
    parents = []
    cur: Any = d
    for p in path[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            return d
        parents.append((cur, p))
        cur = cur[p]
    if isinstance(cur, dict):
        cur.pop(path[-1], None)
    for parent, key in reversed(parents):
        if parent[key] == {}:
            del parent[key]
        else:
            break
    return d


def merge_containerd(old: str, name: str, binary: str, path: str = "config.toml"
                     ) -> tuple[str, list[str]]:
    """containerd config text with a runtime `name` run by the runc v2 shim with
    BinaryName = binary. Returns (text, notes for the user)."""
    try:
        data = tomllib.loads(old)
    except tomllib.TOMLDecodeError as e:
        raise RuntimeFailure(f"install: {path}: invalid TOML: {e}") from None
    notes: list[str] = []
    if "version" in data:
        version = data["version"]
    else:
        version = 1 if old.strip() else 2
    if version not in _CRI_PLUGIN:
        raise RuntimeFailure(f"install: {path}: unsupported containerd config "
                             f"version {version!r}")
    plugin = _CRI_PLUGIN[version]
    runtimes = ("plugins",) + plugin + ("containerd", "runtimes")
    entry = runtimes + (name,)

    existing = _get(data, entry)
    kept: dict[str, Any] = {}
    if isinstance(existing, dict):
        # keep unrelated settings of an earlier entry (e.g. pod_annotations)
        kept = {k: v for k, v in existing.items()
                if k not in ("runtime_type", "options")
                and isinstance(v, (str, bool, int))}
    body = _cut_tables(old, entry)
    if body and not body.endswith("\n"):
        body += "\n"
    if not old.strip():
        body = "version = 2\n"
        data = {"version": 2}
    header = ".".join(_toml_key(p) for p in entry)
    section = [f"[{header}]", f"  runtime_type = {_toml_str(SHIM_RUNTIME_TYPE)}"]
    for k, v in kept.items():
        if isinstance(v, bool):
            rendered = "true" if v else "false"
        elif isinstance(v, int):
            rendered = str(v)
        else:
            rendered = _toml_str(v)
        section.append(f"  {_toml_key(k)} = {rendered}")
    section += ["", f"[{header}.options]", f"  BinaryName = {_toml_str(binary)}"]
    new = body + ("\n" if body.strip() else "") + "\n".join(section) + "\n"

    # The result must parse, hold our entry, and equal the old config elsewhere.
    try:
        parsed = tomllib.loads(new)
    except tomllib.TOMLDecodeError as e:
        raise RuntimeFailure(
            f"install: {path}: cannot merge the runtime entry into this file "
            f"({e}); add it by hand:\n" + "\n".join(section)) from None
    got = _get(parsed, entry) or {}
    if (got.get("runtime_type") != SHIM_RUNTIME_TYPE
            or (got.get("options") or {}).get("BinaryName") != binary
            or _without(parsed, entry) != _without(data, entry)):
        raise RuntimeFailure(
            f"install: {path}: cannot merge the runtime entry into this file "
            "(it defines the runtime in a form this installer does not edit); "
            "add it by hand:\n" + "\n".join(section))

    disabled = data.get("disabled_plugins") or []
    cri_names = {"cri", "io.containerd.grpc.v1.cri"} | set(plugin)
    if any(p in cri_names for p in disabled):
        notes.append(f"warning: {path} disables the CRI plugin (disabled_plugins = "
                     f"{disabled!r}); Kubernetes cannot use the runtime until it is "
                     "enabled ('ctr run --runtime io.containerd.runc.v2 --runc-binary "
                     f"{binary}' works regardless)")
    return new, notes
