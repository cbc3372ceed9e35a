"""Issue 3, item 7: hypothesis fuzzing of the two parsers that take outside input.

(a) config.json: `runsc_py.spec.load` on generated documents (random types at each
    known field, missing fields, huge strings, deep nesting, non-object roots, invalid
    UTF-8) returns a Spec or raises RuntimeFailure, never anything else; a few through
    the CLI's `create`: a one-line error and no state left under --root.
(b) the gofer protocol: a real gofer gets generated raw messages (random bytes,
    truncated headers, oversized messages, huge npaths/ngroups/arguments, invalid UTF-8,
    `..` escapes); each gets a reply within a timeout, the gofer stays alive, and nothing
    appears outside its root.
"""
from __future__ import annotations

import copy
import errno
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from helpers import start_gofer  # noqa: E402
from gofer.protocol import HEADER, MAX_MESSAGE, REPLY, Op, recv_message, send_message  # noqa: E402
from runsc_py import spec  # noqa: E402
from runsc_py.errors import RuntimeFailure  # noqa: E402

# ------------------------------------------------------------------ (a) config.json

BASE = {
    "ociVersion": "1.0.2",
    "root": {"path": "rootfs", "readonly": True},
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0, "additionalGids": [1]},
        "args": ["/bin/sh"], "env": ["PATH=/bin"], "cwd": "/",
        "capabilities": {k: ["CAP_KILL"] for k in
                         ("bounding", "effective", "permitted", "inheritable", "ambient")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "hostname": "h",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["ro"]}],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}],
              "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
              "resources": {}},
    "annotations": {"a": "b"},
}

FIELD_PATHS = [
    ("ociVersion",), ("root",), ("root", "path"), ("root", "readonly"), ("process",),
    ("process", "terminal"), ("process", "user"), ("process", "user", "uid"),
    ("process", "user", "gid"), ("process", "user", "additionalGids"),
    ("process", "user", "umask"), ("process", "args"), ("process", "env"),
    ("process", "cwd"), ("process", "capabilities"), ("process", "capabilities", "bounding"),
    ("process", "capabilities", "ambient"), ("process", "rlimits"),
    ("process", "noNewPrivileges"), ("hostname",), ("mounts",), ("linux",),
    ("linux", "namespaces"), ("linux", "maskedPaths"), ("linux", "readonlyPaths"),
    ("linux", "resources"), ("annotations",),
]

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=False) | st.text(max_size=30)
                | st.sampled_from(["", "/", "rootfs", "..", "/..", "\0", "a" * 5000,
                                   "CAP_SYS_ADMIN", "RLIMIT_CPU", "user", "network",
                                   "/proc/self/fd/3", "\udcff", "bind"]))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "path", "source", "destination", "options",
                                       "soft", "hard", "uid", "gid", "x"]) | st.text(max_size=5),
                      children, max_size=4),
    max_leaves=12,
)


def set_path(doc: dict, path: tuple[str, ...], value) -> None:
    cur = doc
    for key in path[:-1]:
        if not isinstance(cur.get(key), dict):
            cur[key] = {}
        cur = cur[key]
    cur[path[-1]] = value


def del_path(doc: dict, path: tuple[str, ...]) -> None:
    cur = doc
    for key in path[:-1]:
        cur = cur.get(key)
        if not isinstance(cur, dict):
            return
    cur.pop(path[-1], None)


@st.composite
def config_documents(draw) -> bytes:
    kind = draw(st.sampled_from(["mutate", "mutate", "mutate", "root", "deep", "bytes",
                                 "huge"]))
    if kind == "root":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        depth = draw(st.integers(min_value=50, max_value=200_000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        return (opener * depth).encode()
    if kind == "bytes":
        raw = draw(st.binary(max_size=200))
        prefix = json.dumps(BASE).encode()[:draw(st.integers(0, 200))]
        return prefix + raw
    doc = copy.deepcopy(BASE)
    if kind == "huge":
        set_path(doc, draw(st.sampled_from(FIELD_PATHS)), "x" * draw(st.integers(4096, 300_000)))
    for _ in range(draw(st.integers(1, 5))):
        path = draw(st.sampled_from(FIELD_PATHS))
        if draw(st.booleans()):
            set_path(doc, path, draw(json_values))
        else:
            del_path(doc, path)
    text = json.dumps(doc, ensure_ascii=False, allow_nan=True)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and len(data) > 2:  # sprinkle invalid UTF-8
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + b"\xff\xc3" + data[at:]
    return data


@pytest.fixture(scope="module")
def spec_bundle(tmp_path_factory) -> Path:
    b = tmp_path_factory.mktemp("fuzz-bundle")
    (b / "rootfs").mkdir()
    return b


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(doc=config_documents())
def test_spec_load_never_crashes(spec_bundle, doc):
    (spec_bundle / "config.json").write_bytes(doc)
    try:
        result = spec.load(spec_bundle)
    except RuntimeFailure as e:
        msg = str(e)
        assert msg and "\n" not in msg.strip(), msg
        return
    assert isinstance(result, spec.Spec)


@pytest.mark.parametrize("raw", [
    b"\xff\xfe\x00{",
    b"[" * 100_000,
    json.dumps({**BASE, "root": {"path": "a\0b"}}).encode(),
    json.dumps({**BASE, "root": {"path": "a" * 5000}}).encode(),
    json.dumps({**BASE, "process": {**BASE["process"], "args": [1, 2]}}).encode(),
    json.dumps({**BASE, "mounts": [{"destination": 5}]}).encode(),
    json.dumps([BASE]).encode(),
])
def test_spec_known_bad_documents(spec_bundle, raw):
    (spec_bundle / "config.json").write_bytes(raw)
    with pytest.raises(RuntimeFailure):
        spec.load(spec_bundle)


def test_create_with_fuzzed_configs_leaves_no_state(rt, tmp_path):
    docs = [
        b"\xff\xfe{}",
        b"[" * 50_000,
        json.dumps({**BASE, "root": {"path": "r" * 5000}}).encode(),
        json.dumps({**BASE, "root": {"path": "rootfs\0x"}}).encode(),
        json.dumps({**BASE, "process": {**BASE["process"], "user": {"uid": "0"}}}).encode(),
        json.dumps({**BASE, "linux": {"namespaces": [{"type": "user"}]}}).encode(),
        json.dumps({**BASE, "mounts": [{"destination": "relative"}]}).encode(),
        json.dumps({**BASE, "process": None}).encode(),
        json.dumps("just a string").encode(),
    ]
    for i, doc in enumerate(docs):
        b = tmp_path / f"b{i}"
        (b / "rootfs").mkdir(parents=True)
        (b / "config.json").write_bytes(doc)
        cid = f"fz{i}"
        p = rt.run("create", "--bundle", b, cid, timeout=60)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        assert p.returncode != 0, (i, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr and len(lines) == 1, (i, p.stderr)
        assert not (rt.root / cid).exists(), (i, os.listdir(rt.root))
        assert rt.run("state", cid).returncode != 0
    assert [n for n in os.listdir(rt.root) if not n.startswith(".")] == []


# ------------------------------------------------------------------ (b) the gofer protocol

class RawGofer:
    def __init__(self, root: Path) -> None:
        self.pid, self.sock, self.client = start_gofer(root)
        self.sock.settimeout(10)

    def alive(self) -> bool:
        return os.waitpid(self.pid, os.WNOHANG) == (0, 0)

    def raw(self, data: bytes) -> tuple[int, int]:
        send_message(self.sock, data, -1)
        reply, fds = recv_message(self.sock)
        for fd in fds:
            os.close(fd)
        assert len(reply) >= REPLY.size, reply
        return REPLY.unpack_from(reply)

    def close(self) -> None:
        try:
            self.client.shutdown()
        except OSError:
            pass
        self.sock.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)


def tree_snapshot(top: Path, skip: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            dirnames[:] = []
            continue
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if Path(p) == skip:
                continue
            s = os.lstat(p)
            out[p] = (s.st_mode, s.st_size, s.st_mtime_ns, s.st_ino)
    return out


@pytest.fixture(scope="module")
def gofer_env(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the gofer switches fs ids: run as root")
    top = tmp_path_factory.mktemp("gofer-fuzz")
    root = top / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("sandbox\n")
    (root / "dir").mkdir()
    (root / "file").write_text("hello")
    os.symlink("../../../..", root / "up")
    os.symlink(str(top / "sentinel"), root / "abs-out")
    sentinel = top / "sentinel"
    sentinel.mkdir()
    (sentinel / "secret").write_text("host secret\n")
    (top / "victim").write_text("victim\n")
    g = RawGofer(root)
    before = tree_snapshot(top, root)
    yield g, top, root, before
    g.close()


OPS = [int(o) for o in Op if o not in (Op.ROOT, Op.SHUTDOWN)]
ESCAPES = ["/../victim", "/../sentinel/secret", "/../sentinel/new", "/up/victim",
           "/up/sentinel/x", "/abs-out/secret", "/abs-out/new", "/dir/../../victim",
           "/../../../../../tmp", "/..", "/", "/file", "/dir/new", "/up", "/abs-out"]
path_bytes = (st.sampled_from([p.encode() for p in ESCAPES])
              | st.binary(max_size=40).map(lambda b: b"/" + b)
              | st.sampled_from([b"/\xff\xfe", b"/a\xc3", b"relative", b"", b"/" + b"a" * 5000,
                                 b"/" + b"b/" * 2100, b"/" + b"c" * 300]))
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
small_ints = st.sampled_from([0, 1, -1, 0o777, 0o7777, 0o100644, 0o20666, 0o60600,
                              os.O_RDWR | os.O_CREAT, os.O_WRONLY | os.O_TRUNC | os.O_CREAT,
                              os.O_DIRECTORY, 2**31, 2**32 - 1, 2**62, -(2**63),
                              (1 << 30) - 1, 0x10, 0x08])


@st.composite
def gofer_messages(draw) -> bytes:
    kind = draw(st.sampled_from(["random", "truncated", "oversized", "fields", "fields",
                                 "fields", "counts"]))
    if kind == "random":
        # not empty: a zero-length datagram reads as the sentry's end of the socket
        # closing, on which the gofer exits (fail closed); only the sentry can send it
        return draw(st.binary(min_size=1, max_size=300))
    op = draw(st.sampled_from(OPS) | st.integers(0, 0xFFFF))
    npaths = draw(st.integers(0, 3))
    ngroups = draw(st.integers(0, 3))
    args = [draw(small_ints | int64) for _ in range(4)]
    hdr = HEADER.pack(op, npaths, draw(st.sampled_from([0, 1000, 65534, 2**32 - 1])),
                      draw(st.sampled_from([0, 1000, 2**32 - 1])),
                      draw(st.sampled_from([0, 0o022, 0o777, 2**32 - 1])), ngroups,
                      draw(st.sampled_from([0, (1 << 64) - 1, 1 << 1])), *args)
    groups = struct.pack(f"<{ngroups}I", *[draw(st.integers(0, 2**32 - 1))
                                           for _ in range(ngroups)])
    paths = b"\0".join(draw(path_bytes) for _ in range(max(npaths, draw(st.integers(0, 3)))))
    msg = hdr + groups + paths
    if kind == "truncated":
        return msg[:draw(st.integers(1, len(msg)))]
    if kind == "oversized":
        return msg + b"/" * draw(st.integers(MAX_MESSAGE - len(msg) + 1, MAX_MESSAGE + 5000))
    if kind == "counts":
        huge = HEADER.pack(op, draw(st.integers(0, 0xFFFF)), 0, 0, 0,
                           draw(st.integers(0, 2**32 - 1)), 0, *args)
        return huge + draw(st.binary(max_size=100))
    return msg


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(msg=gofer_messages())
def test_gofer_survives_fuzzed_messages(gofer_env, msg):
    g, top, root, before = gofer_env
    try:
        err, _value = g.raw(msg)
    except socket.timeout:
        pytest.fail(f"no reply within 10 s to {msg[:80]!r}")
    except (ConnectionError, OSError) as e:
        pytest.fail(f"gofer connection broke ({e}) on {msg[:80]!r}; alive={g.alive()}")
    assert 0 <= err < 4096, (err, msg[:80])
    assert g.alive(), f"gofer died on {msg[:80]!r}"
    after = tree_snapshot(top, root)
    assert after == before, f"outside the root changed after {msg[:120]!r}: " \
        f"{set(after) ^ set(before) or 'metadata'}"


def test_gofer_oversized_and_truncated_are_einval(gofer_env):
    g, top, root, before = gofer_env
    mk = HEADER.pack(Op.MKDIR, 1, 0, 0, 0o022, 0, (1 << 64) - 1, 0o755, 0, 0, 0)
    # a valid request padded past MAX_MESSAGE: must not be served truncated
    name = b"/big-" + b"x" * 200
    assert g.raw(mk + name + b"/" * (MAX_MESSAGE + 10))[0] == errno.EINVAL
    assert g.raw(mk[:HEADER.size - 1])[0] == errno.EINVAL
    assert g.raw(HEADER.pack(Op.STAT, 1, 0, 0, 0, 2**32 - 1, 0, 1, 0, 0, 0))[0] == errno.EINVAL
    assert g.alive()
    assert not any(n.startswith("big-") for n in os.listdir(root))
    assert tree_snapshot(top, root) == before


def test_gofer_escaping_mutations_stay_in_root(gofer_env):
    g, top, root, before = gofer_env
    caps = (1 << 64) - 1
    for op, paths, a in [
        (Op.MKDIR, [b"/../escaped-dir"], (0o755, 0, 0, 0)),
        (Op.MKDIR, [b"/up/escaped-dir2"], (0o755, 0, 0, 0)),
        (Op.OPEN, [b"/../escaped-file"], (os.O_CREAT | os.O_WRONLY, 0o644, 0, 0)),
        (Op.OPEN, [b"/abs-out/new"], (os.O_CREAT | os.O_WRONLY, 0o644, 0, 0)),
        (Op.SYMLINK, [b"/etc/passwd", b"/../escaped-link"], (0, 0, 0, 0)),
        (Op.RENAME, [b"/file", b"/../victim"], (0, 0, 0, 0)),
        (Op.LINK, [b"/../victim", b"/stolen"], (0, 0, 0, 0)),
        (Op.UNLINK, [b"/../victim"], (0, 0, 0, 0)),
        (Op.UNLINK, [b"/abs-out/secret"], (0, 0, 0, 0)),
        (Op.CHMOD, [b"/../victim"], (0o777, 1, 0, 0)),
        (Op.TRUNCATE, [b"/up/victim"], (0, 0, 0, 0)),
        (Op.MKNOD, [b"/../escaped-node"], (0o10644, 0, 0, 0)),
    ]:
        msg = HEADER.pack(op, len(paths), 0, 0, 0o022, 0, caps, *a) + b"\0".join(paths)
        g.raw(msg)
        assert g.alive()
    assert tree_snapshot(top, root) == before
    assert (top / "victim").read_text() == "victim\n"
    assert (top / "sentinel" / "secret").read_text() == "host secret\n"
