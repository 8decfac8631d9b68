#!/usr/bin/env bash
# Installs what the test suite needs on Debian 12 (run as root; idempotent, quick when done).
#   apt: haproxy (validates and serves the generated configs), nftables + iptables + iproute2
#        (firewall rules and network namespaces), nix-bin (evaluates the NixOS module),
#        curl, openssl, kubectl (a real Kubernetes client; Debian's kubernetes-client if the
#        machine has none), nghttp2-client and wrk (benchmarks), debootstrap and
#        systemd-container (the Debian 13 tree below, booted with systemd-nspawn), stress-ng
#        (the suite must pass with a CPU hog beside it), socat, keepalived (checks the generated
#        keepalived.conf; VRRP between testbed namespaces).
#   cargo: deadnix (dead-code check of the .nix files), cargo-machete (unused Rust dependencies).
#   tests/debian13-tree.sh: Debian 13 (HAProxy 3.0, systemd 257, Nix 2.26), cached outside the
#        work tree, and /usr/local/bin/haproxy-3.0.
set -euo pipefail

packages=(haproxy nftables iptables iproute2 nix-bin curl openssl procps nghttp2-client wrk
  debootstrap systemd-container stress-ng socat jq keepalived)
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "tests/install-deps.sh: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
command -v deadnix >/dev/null 2>&1 || cargo install --quiet --locked deadnix
command -v cargo-machete >/dev/null 2>&1 || cargo install --quiet --locked cargo-machete

"$(dirname "${BASH_SOURCE[0]}")/debian13-tree.sh"
