"""runsc-py's command line, as runc's: the same commands, flags, exit codes and error
texts that containerd's shim, podman and docker rely on. Each command is a thin front
end over runsc_py.container."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import Callable

from runsc_py import __version__, OCI_VERSION
from runsc_py import log as runtime_log
from runsc_py.errors import RuntimeFailure
from sentry.platform import PLATFORMS

log = logging.getLogger("runsc-py")
log.addHandler(logging.NullHandler())  # until --log is parsed: no last-resort echo
DEFAULT_ROOT = "/run/runsc-py"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, reported like every failure
        command = self.prog.removeprefix("runsc-py").strip()
        raise RuntimeFailure(f"{command}: {message}" if command else message)


# global flags that take a value (to find the command word without parsing)
_VALUE_FLAGS = ("--root", "--log", "--log-format", "--platform", "--rootless")


def _command_word(argv: list[str]) -> str | None:
    """The command `argv` names, if any: its first word that is not a global flag or
    a global flag's value."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--":
            return None
        elif arg in _VALUE_FLAGS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only` (a known command) just that command's
    subparser: building all 19 is a few ms of every start."""
    p = _Parser(prog="runsc-py", description="OCI runtime with a user-space kernel")
    p.add_argument("--root", default=None,
                   help=f"state directory (default: {DEFAULT_ROOT}, or $XDG_RUNTIME_DIR/"
                        "runsc-py when rootless)")
    p.add_argument("--log", default=None, help="log file (default: stderr)")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true", help="accepted, as runc")
    p.add_argument("--rootless", default="auto", choices=["true", "false", "auto"],
                   help="run the sandbox in a user namespace of its own that maps the "
                        "caller's ids (auto: when not run as root)")
    p.add_argument("--platform", default="seccomp", choices=list(PLATFORMS),
                   help="how trapped syscalls reach the sentry (as runsc --platform)")
    p.add_argument("--pin-sentry", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the sentry and the gofer on one CPU (the workload is not "
                        "pinned); --no-pin-sentry lets the scheduler move them")
    p.add_argument("--version", "-v", action="version",
                   version=f"runsc-py version {__version__}\nspec: {OCI_VERSION}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def want(name: str) -> bool:
        return only is None or only == name

    if want("spec"):
        s = sub.add_parser("spec", help="write a default config.json")
        s.add_argument("--bundle", "-b", default=None)

    for name in ("create", "run"):
        if not want(name):
            continue
        s = sub.add_parser(name, help=f"{name} a container")
        s.add_argument("--bundle", "-b", default=None)
        s.add_argument("--pid-file", default=None)
        s.add_argument("--console-socket", default=None)
        s.add_argument("--no-pivot", action="store_true")
        s.add_argument("--no-new-keyring", action="store_true")
        if name == "run":
            s.add_argument("--detach", "-d", action="store_true")
        s.add_argument("id")

    if want("start"):
        s = sub.add_parser("start", help="start a created container")
        s.add_argument("id")
    if want("state"):
        s = sub.add_parser("state", help="print a container's OCI state")
        s.add_argument("id")
    if want("list"):
        s = sub.add_parser("list", help="list containers")
        s.add_argument("--format", "-f", default="table", choices=["table", "json"])
        s.add_argument("--quiet", "-q", action="store_true")
    if want("kill"):
        s = sub.add_parser("kill", help="signal a container's init")
        s.add_argument("--all", "-a", action="store_true")
        s.add_argument("id")
        s.add_argument("signal", nargs="?", default="TERM")
    if want("delete"):
        s = sub.add_parser("delete", help="delete a container")
        s.add_argument("--force", "-f", action="store_true")
        s.add_argument("id")
    if want("ps"):
        s = sub.add_parser("ps", help="list a container's processes")
        s.add_argument("--format", "-f", default="table", choices=["table", "json"])
        s.add_argument("id")
    if want("exec"):
        s = sub.add_parser("exec", help="run a process in a running container")
        s.add_argument("--process", "-p", default=None, help="process.json")
        s.add_argument("--pid-file", default=None)
        s.add_argument("--console-socket", default=None)
        s.add_argument("--detach", "-d", action="store_true")
        s.add_argument("--tty", "-t", action="store_true")
        s.add_argument("--cwd", default=None)
        s.add_argument("--env", "-e", action="append", default=[])
        s.add_argument("--user", "-u", default=None)
        s.add_argument("id")
        s.add_argument("exec_args", nargs=argparse.REMAINDER, metavar="COMMAND")
    for name in ("pause", "resume"):
        if not want(name):
            continue
        s = sub.add_parser(name, help=f"{name} all processes of a container")
        s.add_argument("id")
    if want("update"):
        s = sub.add_parser("update", help="update a container's resource limits")
        s.add_argument("--resources", "-r", default=None, help="a JSON file, or - for stdin")
        s.add_argument("--memory", default=None)
        s.add_argument("--pids-limit", type=int, default=None)
        s.add_argument("--cpu-quota", type=int, default=None)
        s.add_argument("--cpu-period", type=int, default=None)
        s.add_argument("--cpu-share", type=int, default=None)
        s.add_argument("id")
    if want("events"):
        s = sub.add_parser("events", help="stats and events of a container")
        s.add_argument("--stats", action="store_true", help="print one stats event and exit")
        s.add_argument("--interval", default="5s")
        s.add_argument("id")
    if want("install"):
        s = sub.add_parser("install", help="register runsc-py with containerd or docker")
        s.add_argument("target", choices=["containerd", "docker"])
        s.add_argument("--config", default=None, help="the config file to merge into")
        s.add_argument("--runtime-name", default="runsc-py")
        s.add_argument("--binary", default=None, help="the runsc-py executable to register")
        s.add_argument("--dry-run", action="store_true", help="print the merged file instead")
    if want("features"):
        s = sub.add_parser("features", help="what this runtime supports (JSON)")
    for name in ("checkpoint", "restore"):
        if not want(name):
            continue
        s = sub.add_parser(name, help="not supported")
        s.add_argument("rest", nargs=argparse.REMAINDER)
    if want("help"):
        s = sub.add_parser("help", help="help topics: syscalls")
        s.add_argument("topic", nargs="?", default="")
    return p


def _store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from runsc_py.state import StateStore

    return StateStore(args.root or _default_root())


def cmd_spec(args: argparse.Namespace) -> int:
    from runsc_py.default_spec import default_spec

    path = os.path.join(args.bundle or ".", "config.json")
    if os.path.exists(path):
        raise RuntimeFailure("File config.json exists. Remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(), f, indent="\t")
        f.write("\n")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    from runsc_py import container

    container.create(_store(args), container.bundle_path(args.bundle), args.id,
                     args.pid_file, args.log, args.log_format, args.debug,
                     console_socket=_abs(args.console_socket), platform=args.platform,
                     pin_sentry=args.pin_sentry, rootless=args.rootless)
    return 0


def _default_root() -> str:
    """As runc's: /run/runsc-py, or $XDG_RUNTIME_DIR/runsc-py for a caller that is not
    the host's root: a non-root user, or root in a user namespace of its own (rootless
    podman runs its runtime so) unless $USER says root."""
    from runsc_py import namespaces

    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if os.geteuid() == 0 and (not runtime_dir or os.environ.get("USER") == "root"
                              or namespaces.in_initial_user_ns()):
        return DEFAULT_ROOT
    if not runtime_dir:
        raise RuntimeFailure("not run as root: set XDG_RUNTIME_DIR or pass --root")
    return os.path.join(runtime_dir, "runsc-py")


def _abs(path: str | None) -> str | None:
    return os.path.abspath(path) if path else None


def cmd_run(args: argparse.Namespace) -> int:
    from runsc_py import container

    store = _store(args)
    state, master = container.create(store, container.bundle_path(args.bundle), args.id,
                                     args.pid_file, args.log, args.log_format, args.debug,
                                     console_socket=_abs(args.console_socket),
                                     foreground=not args.detach, platform=args.platform,
                                     pin_sentry=args.pin_sentry, rootless=args.rootless)
    # (blocked only now: the sandbox, forked by create, must not inherit the mask)
    signal.pthread_sigmask(signal.SIG_BLOCK, container.EXEC_SIGNALS)
    try:
        container.start(store, args.id)
        if not args.detach:  # a signal from the moment the workload runs goes on to it
            container.forward_signals(lambda sig: container.kill(store, args.id, sig, False))
    except BaseException:
        container.delete(store, args.id, force=True)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, container.EXEC_SIGNALS)
    if args.detach:
        return 0

    copier = None
    if master is not None:
        from runsc_py import terminal

        copier = terminal.copy_until_closed(master)
    code = container.wait(state)
    if copier is not None:
        copier.join(timeout=2)
    container.delete(store, args.id, force=True)
    return code


def cmd_start(args: argparse.Namespace) -> int:
    from runsc_py import container

    container.start(_store(args), args.id)
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    from runsc_py import container

    print(json.dumps(container.oci_state(_store(args), args.id), indent=2))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    states = []
    for cid in store.ids():
        try:
            states.append(store.load(cid).oci(OCI_VERSION))
        except RuntimeFailure:
            continue
    if args.quiet:
        for s in states:
            print(s["id"])
    elif args.format == "json":
        print(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"])
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    from runsc_py import container
    from runsc_py.spec import parse_signal

    container.kill(_store(args), args.id, parse_signal(args.signal), args.all)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from runsc_py import container

    container.delete(_store(args), args.id, args.force)
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    from runsc_py import container

    pids = container.ps(_store(args), args.id)
    if args.format == "json":
        print(json.dumps(pids))
    else:
        print("PID")
        for pid in pids:
            print(pid)
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    from runsc_py import container

    store = _store(args)
    command = args.exec_args[1:] if args.exec_args[:1] == ["--"] else args.exec_args
    process = container.process_for_exec(store, args.id, args.process, command, args.tty,
                                         args.env, args.cwd, args.user)
    return container.exec_process(store, args.id, process, args.pid_file, args.detach,
                                  _abs(args.console_socket))


def cmd_pause(args: argparse.Namespace) -> int:
    from runsc_py import container

    container.pause(_store(args), args.id)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from runsc_py import container

    container.resume(_store(args), args.id)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from runsc_py import container

    resources: dict = {}
    if args.resources:
        try:
            text = sys.stdin.read() if args.resources == "-" else open(args.resources).read()
            resources = json.loads(text)
        except (OSError, ValueError) as e:
            raise RuntimeFailure(f"--resources: {e}") from None
        if not isinstance(resources, dict):
            raise RuntimeFailure("--resources: must be a JSON object")
    if args.memory is not None:
        resources.setdefault("memory", {})["limit"] = _bytes(args.memory)
    if args.pids_limit is not None:
        resources.setdefault("pids", {})["limit"] = args.pids_limit
    for flag, key in (("cpu_quota", "quota"), ("cpu_period", "period"), ("cpu_share", "shares")):
        if getattr(args, flag) is not None:
            resources.setdefault("cpu", {})[key] = getattr(args, flag)
    container.update(_store(args), args.id, resources)
    return 0


def _bytes(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("b")
    try:
        return int(t[:-1]) * units[t[-1]] if t and t[-1] in units else int(t)
    except ValueError:
        raise RuntimeFailure(f"invalid size: {text}") from None


def cmd_events(args: argparse.Namespace) -> int:
    import time

    from runsc_py import container

    interval = float(args.interval.rstrip("s") or 5)
    while True:
        try:
            event = container.stats_event(_store(args), args.id)
        except RuntimeFailure:
            if args.stats:
                raise
            return 0  # the stream ends when the container does
        print(json.dumps(event), flush=True)
        if args.stats:
            return 0
        time.sleep(interval)


def cmd_install(args: argparse.Namespace) -> int:
    from runsc_py.install import default_binary, install

    print(install(args.target, args.config, args.runtime_name, args.dry_run,
                  args.binary or default_binary()))
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from runsc_py.spec import CAP_NAMES, HOOK_KINDS

    print(json.dumps({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": ["ro", "rw", "nosuid", "nodev", "noexec", "bind", "rbind"],
        "linux": {
            "namespaces": ["pid", "network", "ipc", "uts", "mount", "cgroup", "user"],
            "capabilities": [f"CAP_{c}" for c in CAP_NAMES],
            "cgroup": {"v1": True, "v2": True, "systemd": False},
            "seccomp": {"enabled": False},  # the sandbox's own filter replaces the spec's
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.runsc-py.sentry": "seccomp-notify",
                        "io.github.runsc-py.platforms": ",".join(PLATFORMS)},
    }, indent=2))
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    raise RuntimeFailure("checkpoint is not supported by runsc-py")


def cmd_restore(args: argparse.Namespace) -> int:
    raise RuntimeFailure("restore is not supported by runsc-py")


def cmd_help(args: argparse.Namespace) -> int:
    if args.topic != "syscalls":
        raise RuntimeFailure("help topics: syscalls")
    from sentry.syscalls.numbers import SYSCALL_NAMES
    from sentry.syscalls.table import TABLE

    print(f"{'SYSCALL':24} {'NR':>4}  {'SUPPORT':8} NOTE")
    for nr in sorted(SYSCALL_NAMES):
        e = TABLE.get(nr)
        if e is None:
            print(f"{SYSCALL_NAMES[nr]:24} {nr:>4}  {'none':8} ENOSYS, logged as unsupported")
        else:
            print(f"{e.name:24} {nr:>4}  {e.support.value:8} {e.note}".rstrip())
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "spec": cmd_spec, "create": cmd_create, "run": cmd_run, "start": cmd_start,
    "state": cmd_state, "list": cmd_list, "kill": cmd_kill, "delete": cmd_delete,
    "ps": cmd_ps, "exec": cmd_exec, "pause": cmd_pause, "resume": cmd_resume,
    "update": cmd_update, "events": cmd_events, "features": cmd_features,
    "install": cmd_install,
    "checkpoint": cmd_checkpoint, "restore": cmd_restore, "help": cmd_help,
}


def main(argv: list[str] | None = None) -> int:
    args = None
    try:
        argv = sys.argv[1:] if argv is None else argv
        only = _command_word(argv)
        try:
            args = _parser(only if only in COMMANDS else None).parse_args(argv)
        except RuntimeFailure:
            if only not in COMMANDS:
                raise
            args = _parser().parse_args(argv)  # (the whole parser's own verdict)
        runtime_log.setup(args.log, args.log_format, args.debug)
        args.rootless = args.rootless == "true" or args.rootless == "auto" and os.geteuid() != 0
        if not args.command:
            raise RuntimeFailure("no command given (try --help)")
        return COMMANDS[args.command](args)
    except RuntimeFailure as e:
        _report(str(e))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        _report(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
        return 1
    except Exception as e:  # noqa: BLE001 - a bug still ends in one line (and the log)
        log.debug("internal error", exc_info=True)
        _report(f"internal error: {type(e).__name__}: {e}")
        return 1


def exit_now(code: int) -> None:
    """Ends the process with `code` the way the interpreter would, minus its teardown
    of every imported module (~10 ms of a `run` with the sentry's modules loaded):
    non-daemon threads joined, log handlers and stdio flushed (a failed flush is
    status 120, as Python's own exit makes it), then _exit."""
    threading = sys.modules.get("threading")
    if threading is not None:
        for t in threading.enumerate():
            if t is not threading.main_thread() and not t.daemon:
                t.join()
    if "logging" in sys.modules:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            if code == 0 and stream is sys.stdout:
                code = 120
    os._exit(code)


def entry() -> None:
    """The `runsc-py` command (pyproject.toml) and `python -m runsc_py`."""
    exit_now(main())


def _report(message: str) -> None:
    message = " ".join(message.split())  # always one line
    log.error("%s", message)
    print(f"runsc-py: {message}", file=sys.stderr)
