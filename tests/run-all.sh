#!/usr/bin/env bash
# The whole test suite (README's test command; CI runs exactly this via .ci/run).
# Needs root for network namespaces and firewall tests.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
tests/install-deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "unit, snapshot, property, CLI, firewall and network testbed tests"
# Thousands of random option sets, each checked by the real haproxy -c -dW.
export HAPROXY_K8S_PROPTEST_CASES="${HAPROXY_K8S_PROPTEST_CASES:-3000}"
cargo test --workspace --quiet --no-fail-fast

step "README's first command: generate seed 004's config, then the real haproxy -c -dW on it"
readme_command="$(grep -m1 -E '^cargo run --release -p haproxy-k8s-gen -- generate' README.md)"
[[ -n "$readme_command" ]] || { echo "README.md no longer shows the generate command" >&2; exit 1; }
rm -rf out
eval "$readme_command"
haproxy -c -dW -f out/haproxy.cfg
ls out/firewall.json out/firewall.nft out/firewall.iptables >/dev/null

step "Nix evaluation tests"
tests/nix-eval.sh

step "the Nix build of nix/package.nix, emulated: exactly its src, offline, unprivileged, no network"
tests/nix-build.sh

step "leftovers"
leftover="$(ip netns list 2>/dev/null | grep -E '^(hk|hkfw)' || true)"
if [[ -n "$leftover" ]]; then
  echo "network namespaces left behind by a test:" >&2
  echo "$leftover" >&2
  exit 1
fi
echo "all tests passed"
