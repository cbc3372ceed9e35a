#!/usr/bin/env bash
# Install what runsc-py's tests, CI and demo need. Idempotent.
#   - Debian packages: runc (for `runc spec`), busybox-static (test rootfs),
#     gcc + libc6-dev (static rsphelper and cffi builds), libseccomp2, strace,
#     python3-venv, python3-dev (headers for cffi extensions).
#   - for tests/integration (runsc-py under the real clients): containerd (ctr, the
#     runc v2 shim, the CRI), containernetworking-plugins (loopback), podman + conmon,
#     docker.io (dockerd), umoci + skopeo (offline test images), iproute2 + util-linux
#     (the test's pod network plugin; unshare/nsenter for the private network namespaces
#     docker's and podman's default networks are tested in), iptables (docker's bridge
#     driver and podman's CNI portmap program it; nf_tables backend); and a deb-src entry for the machine's Debian
#     suites so that the CRI api.proto can be taken from containerd's source package
#     (`apt-get source --download-only containerd`, see tests/integration/_cri.py).
#   - for tests/integration/test_kubernetes.py (a real kubelet + kube-apiserver 1.20):
#     etcd-server, openssl (service-account key), and what scripts/build-kubernetes.sh
#     needs to build them from Debian's `kubernetes` source package (fetched with
#     `apt-get source` through the same deb-src entries): golang-go, make, rsync,
#     dpkg-dev. The build itself runs from the test (cached in /var/cache/runsc-py-k8s).
#   - for tests/compat: debootstrap (builds the cached Debian bookworm rootfs the
#     compatibility suite runs real programs and CPython's tests in).
#   - The repo itself: `pip install -e '.[test]'` into the Python found as
#     $PYTHON, else `python`, else `python3`. If that Python is an externally
#     managed system Python (PEP 668) and no virtualenv is active, a venv is
#     created at ./.venv and used instead (.ci/run and scripts/demo.sh activate it).
set -euo pipefail

cd "$(dirname "$0")/.."

PKGS=(runc busybox-static gcc libc6-dev libseccomp2 strace python3-venv python3-dev
      containerd containernetworking-plugins podman conmon docker.io umoci skopeo
      iproute2 util-linux iptables
      debootstrap
      golang-go etcd-server make rsync dpkg-dev openssl)

# deb-src for the CRI proto (containerd's source package vendors k8s.io/cri-api): the
# machine's own deb entries (deb822 .sources files, or one-line sources.list), as deb-src.
SRC_LIST=/etc/apt/sources.list.d/runsc-py-deb-src.sources
need_update=0
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "install-deps: adding deb-src entries ($SRC_LIST)" >&2
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -e "$f" ] || continue
            [ "$f" = "$SRC_LIST" ] && continue
            sed -n 's/^Types:.*\bdeb\b.*/Types: deb-src/p; /^\(URIs\|Suites\|Components\|Signed-By\):/p; /^$/p' "$f"
            echo
        done
        if [ -f /etc/apt/sources.list ]; then
            grep -E '^deb ' /etc/apt/sources.list | while read -r _deb rest; do
                set -- $rest
                case "$1" in \[*) shift ;; esac
                uri=$1; suite=$2; shift 2
                printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n\n' "$uri" "$suite" "$*"
            done
        fi
    } | $SUDO tee "$SRC_LIST" >/dev/null
    need_update=1
fi

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ] || [ "$need_update" = 1 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "install-deps: installing ${missing[*]}" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    if [ "${#missing[@]}" -gt 0 ]; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
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
