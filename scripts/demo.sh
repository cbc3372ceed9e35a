#!/usr/bin/env bash
# Demo: build a busybox OCI bundle under ./demo/bundle and run it with runsc-py.
# Needs root (the runtime creates namespaces).
set -euo pipefail

cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi
PY=python
command -v python >/dev/null 2>&1 || PY=python3

rm -rf ./demo/bundle
mkdir -p ./demo
# Rootfs from the host's busybox-static (+ rsphelper), config.json from `runc spec`.
"$PY" - <<'PYEOF'
import sys
sys.path.insert(0, "tests")
from helpers import make_bundle
b = make_bundle("demo/bundle",
                ["sh", "-c", "echo hello from runsc-py; uname -a; ls /"])
print(f"demo: bundle ready at {b}", file=sys.stderr)
PYEOF

RUNSC=runsc-py
command -v runsc-py >/dev/null 2>&1 || RUNSC="$PY -m runsc_py"

rc=0
$RUNSC run --bundle ./demo/bundle "demo-$$" || rc=$?
echo "demo: runsc-py exited with $rc" >&2
exit "$rc"
