"""The rest of what runc's callers use: pause/resume, events --stats, features,
update, checkpoint/restore refused."""
from __future__ import annotations

import json
import subprocess
import time


def _counter(rt, bundle, cid, tmp_path):
    b = bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; "
                "sleep 0.05; done"], readonly=False)
    with open(tmp_path / "out", "w") as out:
        assert subprocess.run(rt.cmd("create", "--bundle", str(b), cid), stdout=out,
                              stderr=out, timeout=60).returncode == 0
    assert rt.run("start", cid).returncode == 0
    count = b / "rootfs/tmp/count"
    deadline = time.monotonic() + 10
    while not count.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def _read(count) -> int:
    for _ in range(50):
        text = count.read_text().strip()
        if text:
            return int(text)
        time.sleep(0.01)
    raise AssertionError("counter never written")


def test_pause_stops_the_workload_and_resume_continues_it(rt, bundle, tmp_path):
    count = _counter(rt, bundle, "pr1", tmp_path)
    assert rt.run("pause", "pr1").returncode == 0
    assert rt.state("pr1")["status"] == "paused"
    before = _read(count)
    time.sleep(0.5)
    assert _read(count) == before
    assert rt.run("pause", "pr1").returncode != 0  # already paused
    assert rt.run("resume", "pr1").returncode == 0
    assert rt.state("pr1")["status"] == "running"
    time.sleep(0.5)
    assert _read(count) > before
    assert rt.run("resume", "pr1").returncode != 0  # not paused


def test_events_stats_prints_one_runc_style_event(rt, bundle, tmp_path):
    _counter(rt, bundle, "ev1", tmp_path)
    r = rt.run("events", "--stats", "ev1")
    assert r.returncode == 0, r.stderr
    event = json.loads(r.stdout)
    assert event["type"] == "stats" and event["id"] == "ev1"
    assert event["data"]["pids"]["current"] >= 1


def test_features_and_unsupported_commands(rt):
    r = rt.run("features")
    assert r.returncode == 0
    features = json.loads(r.stdout)
    assert "pid" in features["linux"]["namespaces"]
    for cmd in ("checkpoint", "restore"):
        r = rt.run(cmd, "anything")
        assert r.returncode != 0 and "not supported" in r.stderr


def test_lifecycle_errors_for_stopped_containers(rt, bundle):
    b = bundle(["true"])
    assert rt.run("run", "--detach", "--bundle", str(b), "st1").returncode == 0
    deadline = time.monotonic() + 10
    while rt.state("st1")["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    for cmd in (("pause", "st1"), ("resume", "st1"), ("events", "--stats", "st1"),
                ("exec", "st1", "true")):
        r = rt.run(*cmd)
        assert r.returncode != 0 and r.stderr.strip().count("\n") == 0, cmd


def _ignoring_interrupts() -> None:
    """What a shell does to a background job: SIGINT and SIGQUIT ignored."""
    import signal  # noqa: PLC0415 - in the forked child only

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


def _signal_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("SigIgn", "SigBlk"))]


def test_the_process_starts_with_default_signal_actions_as_under_runc(rt, bundle, tmp_path):
    """Whatever the caller ignores, and whatever the runtime's own interpreter ignores
    (SIGPIPE, SIGXFSZ), the container's process and an exec'd one start with every
    signal at its default action, none blocked: as runc starts them."""
    b = bundle(["cat", "/proc/self/status"])
    runc = subprocess.run(["runc", "--root", str(tmp_path / "runc"), "run", "--bundle", str(b),
                           "sig-runc"], capture_output=True, text=True, timeout=60,
                          preexec_fn=_ignoring_interrupts)
    assert _signal_lines(runc.stdout) == ["SigBlk:\t0000000000000000",
                                          "SigIgn:\t0000000000000000"], runc.stdout
    ours = subprocess.run(rt.cmd("run", "--bundle", str(b), "sig-run"), capture_output=True,
                          text=True, timeout=60, preexec_fn=_ignoring_interrupts)
    assert _signal_lines(ours.stdout) == _signal_lines(runc.stdout), ours.stdout + ours.stderr

    b2 = bundle(["sleep", "30"])
    assert subprocess.run(rt.cmd("run", "--detach", "--bundle", str(b2), "sig-exec"),
                          timeout=60, preexec_fn=_ignoring_interrupts).returncode == 0
    try:
        p = subprocess.run(rt.cmd("exec", "sig-exec", "cat", "/proc/self/status"),
                           capture_output=True, text=True, timeout=60,
                           preexec_fn=_ignoring_interrupts)
        assert _signal_lines(p.stdout) == _signal_lines(runc.stdout), p.stdout + p.stderr
    finally:
        rt.run("delete", "--force", "sig-exec")
