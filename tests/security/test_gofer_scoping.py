"""Issue 12, item 1: whatever RESOLVE_* flags a workload hands openat2, the gofer
resolves its path inside the container tree (RESOLVE_IN_ROOT or the caller's
RESOLVE_BENEATH, always; the caller's other flags only narrow), and the gofer's own
root holds nothing of the host's: its procfs shows the gofer alone.

The attack this guards against: `openat2(AT_FDCWD, "/proc", {resolve=RESOLVE_NO_SYMLINKS})`
once made the gofer resolve "/proc" from its own root, a procfs of the host's pid
namespace, where a container root read every host process's cmdline and opened the
gofer's own memory."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from _lc_util import create, wait_until
from helpers import pids_with_cmdline_containing


def test_openat2_resolves_in_the_container_tree_whatever_its_resolve_flags(rt, bundle):
    marker = "rsp-host-marker-" + uuid.uuid4().hex[:10]
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker])
    try:
        # every valid RESOLVE_* combination; absolute and relative paths; AT_FDCWD and
        # dirfds of "/", "/etc" and "/proc" (tests/helper/rsphelper.c openat2-probe)
        b = bundle(["/bin/rsphelper", "openat2-probe"])
        p = rt.run("run", "--bundle", b, "o2-" + uuid.uuid4().hex[:10], timeout=120)
        assert p.returncode == 0, f"rc={p.returncode}\n{p.stdout[-2000:]}\n{p.stderr}"
        assert host.poll() is None
    finally:
        host.kill()
        host.wait()
    lines = p.stdout.splitlines()
    me = int(lines[0].split()[1])
    cmdlines = [line for line in lines if line.startswith("cmdline ")]
    statuses = [line for line in lines if line.startswith("status ")]
    entries = [line for line in lines if line.startswith("entry ")]
    # what the probe reached is the sandbox's /proc (its own process is there, under
    # plain resolution and under the flags of the attack)...
    for resolve in ("0", "0x4", "0x1", "0x5"):
        assert any(line.split()[1] == resolve and "rsphelper openat2-probe" in line
                   for line in cmdlines), (resolve, lines[:40])
    # ... and never the host's, nor the gofer's own
    leaked = [line for line in cmdlines
              if marker in line or "runsc-py" in line or "process_api" in line
              or "python" in line]
    assert not leaked, leaked[:20]
    # the sandbox's /proc lists the probe alone: it is the container's pid 1
    assert entries and all(line.split()[-1] == "1" for line in entries), \
        [line for line in entries if line.split()[-1] != "1"][:20]
    assert statuses, lines[:40]
    wrong = [line for line in statuses if int(line.split()[-1]) != me]
    assert not wrong, (me, wrong[:20])


def test_the_gofers_own_procfs_shows_the_gofer_alone(rt, bundle, tmp_path):
    cid = "o2g-" + uuid.uuid4().hex[:10]
    b = bundle(["/bin/rsphelper", "sleep", "60"])
    rc, _out, err = create(rt, b, cid, tmp_path)
    assert rc == 0, err.read_text()
    try:
        gofers: list[int] = []
        assert wait_until(lambda: gofers.extend(
            pids_with_cmdline_containing(f"runsc-py-gofer {cid}")) or gofers, timeout=10)
        gofer = gofers[0]
        # its root, as the host sees it (root may look: CAP_SYS_PTRACE)
        deadline = time.monotonic() + 10
        while True:
            try:
                entries = os.listdir(f"/proc/{gofer}/root/proc")
                break
            except OSError:  # still setting up its root
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        pids = [e for e in entries if e.isdigit()]
        assert pids == ["1"], entries
        with open(f"/proc/{gofer}/root/proc/1/status") as f:
            status = f.read()
        assert "Name:\trunsc-py-gofer\n" in status and "\nPid:\t1\n" in status, status
        assert not [e for e in entries if not e.isdigit() and e not in ("self", "thread-self")]
    finally:
        rt.run("delete", "--force", cid, timeout=60)
