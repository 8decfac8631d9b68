#!/usr/bin/env bash
# The whole test suite (README's test command; CI runs exactly this via .ci/run).
# Needs root for network namespaces and firewall tests.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

# A test that cannot run here (crates/test-skip, tests/nix-eval.sh) appends a line to this
# file; the summary at the end (also after a failure) lists them, so no skip passes silently.
# With CI set, a skip that tests/install-deps.sh would have fixed fails its test instead.
HAPROXY_K8S_SKIPS="$(mktemp "${TMPDIR:-/tmp}/haproxy-k8s-skips.XXXXXX")"
export HAPROXY_K8S_SKIPS
skipped_summary() {
  local status=$?
  if [[ -s "$HAPROXY_K8S_SKIPS" ]]; then
    local bar="############################################################################"
    printf '\n%s\n# SKIPPED: %s test(s) did NOT run:\n' "$bar" "$(wc -l <"$HAPROXY_K8S_SKIPS")" >&2
    sed 's/^/#   /' "$HAPROXY_K8S_SKIPS" >&2
    printf '%s\n' "$bar" >&2
  else
    echo "no test was skipped"
  fi
  rm -f "$HAPROXY_K8S_SKIPS"
  exit "$status"
}
trap skipped_summary EXIT

step "dependencies"
tests/install-deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo machete # no unused dependency in any Cargo.toml

step "unit, snapshot, property, CLI, firewall and network testbed tests"
# Thousands of random option sets, each checked by the real haproxy -c -dW.
export HAPROXY_K8S_PROPTEST_CASES="${HAPROXY_K8S_PROPTEST_CASES:-3000}"
cargo test --workspace --quiet --no-fail-fast

step "README's first command: generate seed 004's config, then the real haproxy -c -dW (2.6 and 3.0) on it"
readme_command="$(grep -m1 -E '^cargo run --release -p haproxy-k8s-gen -- generate' README.md)"
[[ -n "$readme_command" ]] || { echo "README.md no longer shows the generate command" >&2; exit 1; }
rm -rf out
eval "$readme_command"
haproxy -c -dW -f out/haproxy.cfg
haproxy-3.0 -c -dW -f out/haproxy.cfg
ls out/firewall.json out/firewall.nft out/firewall.iptables >/dev/null

step "Nix evaluation tests"
tests/nix-eval.sh

step "the Nix build of nix/package.nix, emulated: exactly its src, offline, unprivileged, no network"
tests/nix-build.sh

step "leftovers"
# Test namespaces are named hk<pid>x…, hkfw-<pid>-… and hku<pid>x… after the test process
# that made them: every test process of this run has exited by now, so a namespace whose
# process is gone was left behind (one whose process lives belongs to another run beside us).
leftover=""
while read -r name _; do
  [[ "$name" =~ ^hk(fw-|u)?([0-9]+)[x-] ]] || continue
  [[ -d "/proc/${BASH_REMATCH[2]}" ]] || leftover+="$name"$'\n'
done < <(ip netns list 2>/dev/null)
if [[ -n "$leftover" ]]; then
  echo "network namespaces left behind by a test:" >&2
  echo "$leftover" >&2
  exit 1
fi
# crates/unit-container's machines are named hku<pid>x<n>; nspawn keeps a directory per
# running machine.
leftover=""
for dir in /run/systemd/nspawn/propagate/hku*; do
  [[ "$dir" =~ /hku([0-9]+)x ]] || continue
  [[ -d "/proc/${BASH_REMATCH[1]}" ]] || leftover+="$dir"$'\n'
done
if [[ -n "$leftover" ]]; then
  echo "systemd-nspawn containers left behind by a test:" >&2
  echo "$leftover" >&2
  exit 1
fi
echo "all tests passed"
