#!/usr/bin/env bash
# Build a real kube-apiserver (and install etcd) for the cluster-mode tests, from Debian's source
# package `kubernetes` (1.20.2), which vendors every Go dependency and so builds offline with
# Debian's golang-go. The binary is cached outside the repository, keyed by version, so only the
# first run pays (~6 min on 2 cores). Prints the binary's path on success.
#
# Why each step (checked on Debian 12): there is no kube-apiserver package, registry or Docker
# engine here; the vendored reflect2 1.0.1 crashes the server under Go >= 1.18 on the first
# custom-resource create, so Debian's 1.0.2 replaces it; `make WHAT=...` runs the code generation
# a plain `go build` lacks. The apt source list is private: the machine's apt setup is untouched.
set -euo pipefail

VERSION=1.20.2
CACHE="${MESHSCOPE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meshscope}/kube-apiserver-$VERSION"
BINARY="$CACHE/kube-apiserver"

if [ -x "$BINARY" ] && command -v etcd >/dev/null 2>&1; then
  echo "$BINARY"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "building kube-apiserver needs root (apt-get); run as root or install it into $BINARY" >&2
  exit 1
fi

. "$(dirname "$0")/apt_quiet.sh"
if ! command -v go >/dev/null 2>&1 || ! command -v etcd >/dev/null 2>&1 \
   || [ ! -d /usr/share/gocode/src/github.com/modern-go/reflect2 ]; then
  apt_install --no-install-recommends golang-go etcd-server golang-github-modern-go-reflect2-dev \
    ca-certificates make rsync
fi
[ -x "$BINARY" ] && { echo "$BINARY"; exit 0; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kube-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/src"
# A deb-src line for bookworm main on the mirror the machine already uses (deb822 `URIs:` or
# one-line `deb URL` entries; comments skipped).
MIRROR="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
  2>/dev/null | grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]+/debian/?( |$)' \
  | grep -v security | head -1 | tr -d ' ' || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
echo "deb-src ${MIRROR%/} bookworm main" > "$WORK/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$WORK/lists")
apt-get "${APT_OPTS[@]}" update -qq >&2
(cd "$WORK/src" && apt-get "${APT_OPTS[@]}" source --download-only -qq kubernetes >&2)
ORIG="$(ls "$WORK"/src/kubernetes_*.orig.tar.* | head -1)"
mkdir -p "$WORK/kubernetes"
tar -xf "$ORIG" -C "$WORK/kubernetes" --strip-components=1

cd "$WORK/kubernetes"
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
find vendor/github.com/modern-go/reflect2 -name '*_test.go' -delete
export GOCACHE="${GOCACHE:-$CACHE.gocache}" GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0
make WHAT=cmd/kube-apiserver >&2
mkdir -p "$CACHE"
cp _output/bin/kube-apiserver "$BINARY.tmp"
mv "$BINARY.tmp" "$BINARY"
echo "$BINARY"
