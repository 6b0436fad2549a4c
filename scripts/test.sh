#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every test in one cargo run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# Rotel ships its rotel-agent binary inside the Python package (tests find it there);
# prometheus-client's strict OpenMetrics parser checks the OpenMetrics output;
# kubernetes-validate checks deploy/ against its bundled (offline) Kubernetes schemas.
python3 -c "import rotel, prometheus_client, kubernetes_validate, helm_python" 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check rotel prometheus-client kubernetes-validate helm-python-sdk

# The Debian package may start a Prometheus of its own; tests start theirs on free ports.
cargo test --workspace --all-targets
