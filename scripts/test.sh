#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every test in one cargo run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
# tests/unsafe_model.rs runs its model tests again under valgrind memcheck.
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
# libfuzzer-sys compiles libFuzzer (C++) for the fuzz targets.
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
# The PyPI tools below are installed with pip.
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
# VictoriaMetrics (vmalert is in the same package) accepts OTLP from 1.92 on; Debian 12 ships
# 1.79, so on Debian 12 it comes from Debian 13 (trixie), pinned so that nothing else does
# (only its libzstd1 >= 1.5.5 comes along).
trixie=/etc/apt/sources.list.d/kube-state-otel-trixie.sources
vm_version() { local v; v=$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null) || true; echo "${v:-0}"; }
if dpkg --compare-versions "$(vm_version)" lt 1.92; then
  need_apt+=(victoria-metrics)
  if grep -q '^12' /etc/debian_version 2>/dev/null && [ ! -e "$trixie" ]; then
    printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: trixie' \
      'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' > "$trixie"
    printf '%s\n' 'Package: *' 'Pin: release n=trixie' 'Pin-Priority: 1' '' \
      'Package: victoria-metrics libzstd1' 'Pin: release n=trixie' 'Pin-Priority: 990' \
      > /etc/apt/preferences.d/kube-state-otel-trixie
  fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# The tests need OTLP ingestion: fail here, loudly, rather than in a test.
dpkg --compare-versions "$(vm_version)" ge 1.92 ||
  { echo "victoria-metrics $(vm_version) is older than 1.92 (no OTLP ingestion)" >&2; exit 1; }
command -v vmalert >/dev/null || { echo "vmalert missing from victoria-metrics" >&2; exit 1; }
# Rotel ships its rotel-agent binary inside the Python package (tests find it there);
# prometheus-client's strict OpenMetrics parser checks the OpenMetrics output;
# kubernetes-validate checks deploy/ against its bundled (offline) Kubernetes schemas.
# A Debian system Python is externally managed (PEP 668): there, pip needs to be told.
pypi=(rotel prometheus-client kubernetes-validate helm-python-sdk)
python3 -c "import rotel, prometheus_client, kubernetes_validate, helm_python" 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check "${pypi[@]}" 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${pypi[@]}"

# Coverage-guided fuzzing (fuzz/, RELIABILITY.md): every target over its committed corpus plus a
# bounded number of new inputs; a crash or a broken invariant fails the run.
bash scripts/fuzz.sh

# The Debian packages may start a Prometheus or VictoriaMetrics of their own; tests start
# theirs on free ports.
cargo test --workspace --all-targets
