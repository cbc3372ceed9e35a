#!/usr/bin/env bash
# Install what runsc-py's tests, CI and demo need. Idempotent.
#   - Debian packages: runc (for `runc spec`), busybox-static (test rootfs),
#     gcc + libc6-dev (static rsphelper and cffi builds), libseccomp2, strace,
#     python3-venv, python3-dev (headers for cffi extensions).
#   - The repo itself: `pip install -e '.[test]'` into the Python found as
#     $PYTHON, else `python`, else `python3`. If that Python is an externally
#     managed system Python (PEP 668) and no virtualenv is active, a venv is
#     created at ./.venv and used instead (.ci/run and scripts/demo.sh activate it).
set -euo pipefail

cd "$(dirname "$0")/.."

PKGS=(runc busybox-static gcc libc6-dev libseccomp2 strace python3-venv python3-dev)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "install-deps: installing ${missing[*]}" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "install-deps: Debian packages already installed" >&2
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python
    elif command -v python >/dev/null 2>&1; then PY=python
    else PY=python3
    fi
fi

# PEP 668: a system Python outside a venv refuses pip installs; use ./.venv.
externally_managed=$("$PY" - <<'PYEOF'
import os, sys, sysconfig
in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print(1 if (not in_venv and os.path.exists(marker)) else 0)
PYEOF
)
if [ "$externally_managed" = 1 ]; then
    echo "install-deps: $PY is externally managed; using ./.venv" >&2
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    PY=.venv/bin/python
fi

"$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$PY" -m pip install -q -e '.[test]'
echo "install-deps: installed runsc-py into $("$PY" -c 'import sys; print(sys.executable)')" >&2
