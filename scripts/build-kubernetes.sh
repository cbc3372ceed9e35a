#!/usr/bin/env bash
# Build kubelet, kube-apiserver and kubectl from Debian's `kubernetes` source package
# (1.20, vendor/ included) for tests/integration/test_kubernetes.py. Idempotent: the
# binaries are cached in $RUNSC_PY_K8S_CACHE/<source version>/bin (default cache
# /var/cache/runsc-py-k8s) and the build is skipped when they are there.
#
# The build is the one Debian's debian/rules does: `make WHAT=cmd/...`, which in 1.20
# runs in GOPATH mode (hack/lib/golang.sh sets up _output/local/go/src/k8s.io/kubernetes
# and GO111MODULE=off) after generating the openapi (and other zz_generated) files.
# Needs: golang-go (Debian bookworm: go 1.19; k8s 1.20 asks for >= 1.15), make, rsync,
# dpkg-dev (dpkg-source), and deb-src entries (scripts/install-deps.sh adds them).
#
# Prints the bin directory on stdout (last line). About 6-10 minutes on 2 CPUs.
set -euo pipefail

CACHE="${RUNSC_PY_K8S_CACHE:-/var/cache/runsc-py-k8s}"
BINS=(kubelet kube-apiserver kubectl)

log() { echo "build-kubernetes: $*" >&2; }

# The candidate source version (what `apt-get source kubernetes` would fetch).
VERSION=$(apt-cache showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -1)
if [ -z "$VERSION" ]; then
    log "no 'kubernetes' source package known to apt (deb-src entries missing? run scripts/install-deps.sh)"
    exit 1
fi
OUT="$CACHE/$VERSION"
BIN="$OUT/bin"

have_all() {
    for b in "${BINS[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}
if have_all; then
    log "cached: $BIN"
    echo "$BIN"
    exit 0
fi

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
if have_all; then    # built by a concurrent run while we waited for the lock
    echo "$BIN"
    exit 0
fi

for tool in go make rsync dpkg-source; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "missing '$tool' (install golang-go make rsync dpkg-dev: scripts/install-deps.sh)"
        exit 1
    fi
done
log "$(go version)"

SRC="$OUT/src"
BUILD="$OUT/build"
mkdir -p "$SRC"
if ! ls "$SRC"/kubernetes_*.dsc >/dev/null 2>&1; then
    log "fetching source package kubernetes=$VERSION"
    (cd "$SRC" && apt-get source --download-only "kubernetes=$VERSION" >&2)
fi
if [ ! -f "$BUILD/.unpacked" ]; then
    rm -rf "$BUILD"
    log "unpacking (with Debian's patches)"
    dpkg-source --no-check -x "$SRC"/kubernetes_*.dsc "$BUILD" >&2
    touch "$BUILD/.unpacked"
fi

cd "$BUILD"
start=$(date +%s)
log "building ${BINS[*]} (make WHAT=...; GOPATH mode)"
# As debian/rules: a GOPATH whose src/k8s.io/kubernetes is the tree (hack/lib/golang.sh
# makes its own under _output too), GO111MODULE=off, CGO off (static binaries).
mkdir -p .go/src/k8s.io
[ -L .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
env GOPATH="$BUILD/.go" GO111MODULE=off CGO_ENABLED=0 GOFLAGS= HOME="$BUILD/.home" \
    GOCACHE="$OUT/gocache" \
    make WHAT="cmd/kubelet cmd/kube-apiserver cmd/kubectl" >&2
mkdir -p "$BIN.tmp"
for b in "${BINS[@]}"; do
    cp "_output/bin/$b" "$BIN.tmp/$b"
done
rm -rf "$BIN"
mv "$BIN.tmp" "$BIN"
log "built in $(( $(date +%s) - start ))s: $BIN"
# Keep the downloaded source, drop the build tree and Go cache (a few GB).
cd /
rm -rf "$BUILD" "$OUT/gocache" "$OUT"/kubernetes_*.orig.tar.*
echo "$BIN"
