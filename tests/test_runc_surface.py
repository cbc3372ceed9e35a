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
