#!/usr/bin/env bash
# Install what only Debian can provide for the whole suite (as root): Chromium for the browser
# tests, Prometheus for the telemetry tests (the binary only: its service is never started; the
# tests start their own on free ports), and a kube-apiserver built from Debian's source package
# plus etcd for the cluster-mode tests (build_kube_apiserver.sh, cached). Each is skipped when
# already there; without them `make test` skips those tests loudly.
set -euo pipefail
here="$(dirname "$0")"
. "$here/apt_quiet.sh"

command -v chromium >/dev/null 2>&1 || apt_install chromium >/dev/null
command -v prometheus >/dev/null 2>&1 || apt_install --no-install-recommends prometheus >/dev/null
"$here/build_kube_apiserver.sh"
