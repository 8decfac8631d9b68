#!/usr/bin/env bash
# Nix evaluation tests for nix/module.nix (issue 3 §7). Runs without a Nix binary cache:
#
#   * (always, even without <nixpkgs/lib>) every .nix file parses (nix-instantiate --parse), is alejandra-formatted (nixfmt-check,
#     crates/nixfmt) and deadnix-clean;
#   * the module is evaluated with nixpkgs' lib.evalModules (from <nixpkgs/lib>) plus stub
#     declarations of the NixOS options it sets (nix/tests/eval/nixos-stubs.nix), for each option
#     set in nix/tests/eval/cases/;
#   * the JSON it hands the generator and the build script of its config derivation are taken
#     from the evaluation and run here with the real haproxy-k8s-gen and the real `haproxy -c -dW`;
#     the generated nftables/iptables rules are loaded into the NixOS firewall's chains inside a
#     throwaway network namespace (when run as root);
#   * bad option sets fail: type errors with NixOS's own message, semantic ones in the
#     generator, each naming the option;
#   * docs/nixos.md's options reference matches the module (`--update-docs` rewrites it) and the
#     module's defaults match docs/input-contract.md.
#
# <nixpkgs/lib> is found the standard Nix way (NIX_PATH, or ~/.nix-defexpr/channels/nixpkgs).
# Without it, or without nix-instantiate, the evaluation tests are reported as SKIPPED (exit 0;
# with CI set, a missing nix-instantiate, deadnix, nft or root is a failure instead).
#
# Environment: HAPROXY_K8S_GEN / NIXFMT_CHECK point at prebuilt binaries (else cargo builds
# them into $CARGO_TARGET_DIR, default target/); HAPROXY (default: haproxy on PATH).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

update_docs=0
for arg in "$@"; do
  case "$arg" in
    --update-docs) update_docs=1 ;;
    -h | --help)
      sed -n '2,25p' "$0"
      exit 0
      ;;
    *)
      echo "usage: tests/nix-eval.sh [--update-docs]" >&2
      exit 2
      ;;
  esac
done

# Every skip is recorded for tests/run-all.sh's SKIPPED summary (the file named by
# HAPROXY_K8S_SKIPS, as crates/test-skip does) and, when CI is set and tests/install-deps.sh
# provides what was missing (cause "fixable"), is a failure instead.
record_skip() { # fixable|other message; returns 1 when the skip must fail
  echo "# SKIPPED: $2" >&2
  if [[ -n "${HAPROXY_K8S_SKIPS:-}" ]]; then
    echo "tests/nix-eval.sh: $2" >>"$HAPROXY_K8S_SKIPS"
  fi
  if [[ "$1" == fixable && -n "${CI:-}" && "${CI}" != false && "${CI}" != 0 ]]; then
    echo "FAIL - skipped on CI although tests/install-deps.sh (as root) provides it: $2" >&2
    return 1
  fi
}

skip() { # fixable|other message: the rest of this script cannot run
  echo "############################################################################" >&2
  record_skip "$1" "nix evaluation tests: $2" || exit 1
  echo "############################################################################" >&2
  exit 0
}

command -v nix-instantiate >/dev/null 2>&1 ||
  skip fixable "nix-instantiate not found (apt-get install nix-bin)"

failures=0
passes=0
pass() {
  passes=$((passes + 1))
  echo "ok   - $*"
}
fail() {
  failures=$((failures + 1))
  echo "FAIL - $*"
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/haproxy-k8s-nix-eval.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT


# ---- binaries ------------------------------------------------------------------------------
target="${CARGO_TARGET_DIR:-$repo/target}"
if [[ -z "${HAPROXY_K8S_GEN:-}" || -z "${NIXFMT_CHECK:-}" ]]; then
  cargo build --quiet -p haproxy-k8s-gen -p nixfmt
fi
gen_bin="${HAPROXY_K8S_GEN:-$target/debug/haproxy-k8s-gen}"
nixfmt_bin="${NIXFMT_CHECK:-$target/debug/nixfmt-check}"
haproxy_bin="${HAPROXY:-$(command -v haproxy || true)}"
[[ -x "$haproxy_bin" ]] || {
  echo "haproxy not found (apt-get install haproxy)" >&2
  exit 1
}
# Stand-ins for the store paths of the two packages the build script calls.
mkdir -p "$tmp/gen/bin" "$tmp/haproxy/bin"
ln -s "$(realpath "$gen_bin")" "$tmp/gen/bin/haproxy-k8s-gen"
ln -s "$(realpath "$haproxy_bin")" "$tmp/haproxy/bin/haproxy"
echo "# generator: $gen_bin; $("$haproxy_bin" -v | head -n1)"

# ---- every .nix file: parses, alejandra-formatted, deadnix-clean ---------------------------
mapfile -t nix_files < <(git ls-files --cached --others --exclude-standard -- '*.nix' | sort)
parse_ok=1
for f in "${nix_files[@]}"; do
  if ! nix-instantiate --parse "$f" >/dev/null 2>"$tmp/parse.err"; then
    parse_ok=0
    fail "parse $f: $(cat "$tmp/parse.err")"
  fi
done
((parse_ok)) && pass "all ${#nix_files[@]} .nix files parse"

if "$nixfmt_bin" "${nix_files[@]}" >"$tmp/fmt.out" 2>&1; then
  pass "alejandra-formatted ($(tail -n1 "$tmp/fmt.out"))"
else
  fail "alejandra formatting (fix with: $nixfmt_bin --write):"
  sed 's/^/       /' "$tmp/fmt.out"
fi

deadnix_bin="$(command -v deadnix || echo "$HOME/.cargo/bin/deadnix")"
if [[ -x "$deadnix_bin" ]]; then
  if "$deadnix_bin" --fail "${nix_files[@]}" >"$tmp/deadnix.out" 2>&1; then
    pass "deadnix-clean"
  else
    fail "deadnix:"
    sed 's/^/       /' "$tmp/deadnix.out"
  fi
else
  record_skip fixable "deadnix check: deadnix not installed (cargo install deadnix)" || fail "deadnix not installed"
fi

# flake.lock pins the branch flake.nix names, with a full rev and narHash (nix flake would
# refuse or re-lock otherwise).
lock_nixpkgs='.nodes[.nodes[.root].inputs.nixpkgs]'
lock_ref="$(jq -r "$lock_nixpkgs.original.ref" flake.lock)"
if grep -qF "inputs.nixpkgs.url = \"github:NixOS/nixpkgs/$lock_ref\";" flake.nix &&
  jq -e "$lock_nixpkgs.locked | (.rev | test(\"^[0-9a-f]{40}$\")) and (.narHash | test(\"^sha256-[A-Za-z0-9+/]{43}=$\")) and (.lastModified > 0)" flake.lock >/dev/null; then
  pass "flake.lock pins flake.nix's nixpkgs branch $lock_ref at $(jq -r "$lock_nixpkgs.locked.rev" flake.lock)"
else
  fail "flake.lock ($lock_ref) does not match flake.nix's nixpkgs input, or lacks a rev/narHash"
fi

# ---- the rest needs nixpkgs' lib -----------------------------------------------------------
# The checks above need only nix-instantiate; everything below evaluates the module.
if ! nixpkgs_lib="$(nix-instantiate --find-file nixpkgs/lib 2>/dev/null)"; then
  echo "# nix file checks: $passes passed, $failures failed"
  ((failures == 0)) || exit 1
  skip other "<nixpkgs/lib> not found on NIX_PATH (NIX_PATH=${NIX_PATH:-unset}): the module was NOT evaluated; point NIX_PATH=nixpkgs=DIR at a nixpkgs or nixpkgs.lib checkout"
fi
echo "# nixpkgs lib: $nixpkgs_lib ($(nix-instantiate --eval -E '(import <nixpkgs/lib>).version' 2>/dev/null || echo '?'))"

# ---- evaluation ----------------------------------------------------------------------------
evaluate() { # case-file -> $tmp/<name>.json, stderr in $tmp/<name>.err
  local name
  name="$(basename "$1" .nix)"
  nix-instantiate --eval --strict --json nix/tests/eval/eval.nix -A result \
    --arg case "$(realpath "$1")" --argstr genDir "$tmp/gen" --argstr haproxyDir "$tmp/haproxy" \
    >"$tmp/$name.json" 2>"$tmp/$name.err"
}

# Runs the config derivation's build script as Nix would (passAsFile, $out), with the real
# generator and haproxy behind the stand-in store paths.
build() { # name -> $tmp/<name>.out/, log in $tmp/<name>.build
  local name="$1" json="$tmp/$1.json"
  local work="$tmp/$name.work"
  mkdir -p "$work"
  jq -j .generatorInput "$json" >"$work/generatorInput"
  jq -r .buildCommand "$json" >"$work/builder.sh"
  (cd "$work" && env -i PATH="$PATH" HOME="$work" out="$tmp/$name.out" \
    generatorInputPath="$work/generatorInput" bash -eu -o pipefail builder.sh) \
    >"$tmp/$name.build" 2>&1 || return 1
  # The firewall derivation (firewall-relevant options only) must render the same rules.
  local fw="$tmp/$name.fwwork"
  mkdir -p "$fw"
  jq -j .firewallInput "$json" >"$fw/firewallInput"
  jq -r .firewallBuildCommand "$json" >"$fw/builder.sh"
  (cd "$fw" && env -i PATH="$PATH" HOME="$fw" out="$tmp/$name.fw" \
    firewallInputPath="$fw/firewallInput" bash -eu -o pipefail builder.sh) \
    >>"$tmp/$name.build" 2>&1 || return 1
  local f
  for f in firewall.json firewall.nft firewall.iptables; do
    cmp -s "$tmp/$name.out/$f" "$tmp/$name.fw/$f" || {
      echo "the firewall derivation's $f differs from the one rendered from all options:"
      diff "$tmp/$name.out/$f" "$tmp/$name.fw/$f"
    } >>"$tmp/$name.build" || return 1
  done
}

q() { jq -e "$2" "$tmp/$1.json" >/dev/null; }

expect_ok() { # case-file: evaluates, no failed assertion, builds (generator + haproxy -c -dW)
  local file="$1" name
  name="$(basename "$file" .nix)"
  if ! evaluate "$file"; then
    fail "$name: evaluation failed:"
    sed 's/^/       /' "$tmp/$name.err"
    return 1
  fi
  if ! q "$name" '.failedAssertions == []'; then
    fail "$name: failed assertions: $(jq -c .failedAssertions "$tmp/$name.json")"
    return 1
  fi
  if ! build "$name"; then
    fail "$name: build script failed:"
    sed 's/^/       /' "$tmp/$name.build"
    return 1
  fi
  pass "$name: evaluates; generator + haproxy -c -dW accept it; the firewall derivation renders the same rules"
}

check() { # name description jq-expression
  if q "$1" "$3"; then pass "$1: $2"; else fail "$1: $2 ($3)"; fi
}

contains() { # name description file regex
  if grep -Eq -- "$4" "$tmp/$1.out/$3"; then pass "$1: $2"; else fail "$1: $2 ($3 lacks /$4/)"; fi
}

# Loads the generated rules the way the NixOS firewall would, in a private network namespace.
firewall_load() { # name
  local name="$1" out="$tmp/$1.out" backend
  backend="$(jq -r .firewall.backend "$tmp/$name.json")"
  if [[ $(id -u) != 0 ]] || ! command -v unshare >/dev/null; then
    record_skip fixable "$name: loading firewall rules needs root and unshare" ||
      fail "$name: firewall rules not loaded"
    return 0
  fi
  if [[ "$backend" == nftables ]]; then
    command -v nft >/dev/null || {
      record_skip fixable "$name: nft not installed" || fail "$name: nft not installed"
      return 0
    }
    local rules
    rules="$(jq -r .firewall.extraInputRules "$tmp/$name.json")"
    rules="${rules//$(jq -r .firewallOutPath "$tmp/$name.json")/$tmp/$name.fw}"
    # The shape of nixos/modules/services/networking/firewall-nftables.nix's input-allow chain.
    cat >"$tmp/$name.ruleset.nft" <<EOF
table inet nixos-fw {
  chain input-allow {
$rules
  }
}
EOF
    if unshare -n nft -f "$tmp/$name.ruleset.nft" 2>"$tmp/$name.nft.err"; then
      pass "$name: nft loads the generated rules inside table inet nixos-fw chain input-allow"
    else
      fail "$name: nft rejects the generated rules: $(cat "$tmp/$name.nft.err")"
    fi
  else
    local cmds
    cmds="$(jq -r .firewall.extraCommands "$tmp/$name.json")"
    cmds="${cmds//$(jq -r .firewallOutPath "$tmp/$name.json")/$tmp/$name.fw}"
    # The chains and helper that nixos/modules/services/networking/firewall-iptables.nix's
    # start script has set up before it runs extraCommands.
    cat >"$tmp/$name.fw.sh" <<EOF
set -e
ip46tables() { iptables -w "\$@"; ip6tables -w "\$@"; }
ip46tables -N nixos-fw-accept
ip46tables -A nixos-fw-accept -j ACCEPT
ip46tables -N nixos-fw
$cmds
iptables -S nixos-fw
ip6tables -S nixos-fw
EOF
    if unshare -n sh "$tmp/$name.fw.sh" >"$tmp/$name.fw.out" 2>&1; then
      pass "$name: iptables extraCommands load ($(grep -c -- '-j nixos-fw-accept' "$tmp/$name.fw.out") rules in nixos-fw)"
    else
      fail "$name: iptables extraCommands fail: $(cat "$tmp/$name.fw.out")"
    fi
  fi
}

expect_eval_error() { # case-file description regex...: evaluation fails with all regexes in stderr
  local file="$1" what="$2" name
  shift 2
  name="$(basename "$file" .nix)"
  if evaluate "$file"; then
    fail "$name: evaluation succeeded, expected an error ($what)"
    return
  fi
  local re
  for re in "$@"; do
    if ! grep -Eq -- "$re" "$tmp/$name.err"; then
      fail "$name: error lacks /$re/:"
      sed 's/^/       /' "$tmp/$name.err" | head -n 20
      return
    fi
  done
  pass "$name: $what: $(grep -E -m1 -- "$1" "$tmp/$name.err" 2>/dev/null || grep -m1 'error' "$tmp/$name.err")"
}

expect_build_error() { # case-file description regex...: evaluates, build fails, log matches
  local file="$1" what="$2" name
  shift 2
  name="$(basename "$file" .nix)"
  if ! evaluate "$file"; then
    fail "$name: evaluation failed, expected a build-time error:"
    sed 's/^/       /' "$tmp/$name.err"
    return
  fi
  if build "$name"; then
    fail "$name: build succeeded, expected a generator error ($what)"
    return
  fi
  local re
  for re in "$@"; do
    if ! grep -Eq -- "$re" "$tmp/$name.build"; then
      fail "$name: build log lacks /$re/:"
      sed 's/^/       /' "$tmp/$name.build"
      return
    fi
  done
  pass "$name: $what: $(grep -E -m1 -- "$1" "$tmp/$name.build")"
}

cases=nix/tests/eval/cases

# Seed 004 with its example nodes.
if expect_ok $cases/seed-004.nix; then
  n=seed-004
  check $n "generator JSON has exactly the seed's fields and values" \
    '.generatorInput | fromjson | .frontendPort == 6443 and .bindAddress == "192.168.8.1" and .statsPort == 8404
     and ([.controlPlaneNodes[] | [.name, .address, .port]] == [["k8s-master-1","192.168.8.10",6443],["k8s-master-2","192.168.8.11",6443],["k8s-master-3","192.168.8.12",6443]])'
  contains $n "haproxy.cfg binds 192.168.8.1:6443" haproxy.cfg '^ *bind 192\.168\.8\.1:6443'
  contains $n "haproxy.cfg has the three nodes" haproxy.cfg 'server k8s-master-3 192\.168\.8\.12:6443'
  contains $n "firewall.json opens 6443 and 8404" firewall.json '"port": 8404'
  check $n "service runs haproxy -Ws from the stable /etc path, Type=notify" \
    '.service.serviceConfig | .Type == "notify" and .ExecStart == "/etc/haproxy-k8s/haproxy -Ws -f /etc/haproxy-k8s/haproxy.cfg -p /run/haproxy-k8s/haproxy.pid"'
  check $n "reload: the (new) binary checks the config, then USR2 to the master, all through /etc links" \
    '.service.serviceConfig.ExecReload == ["/etc/haproxy-k8s/haproxy -c -q -f /etc/haproxy-k8s/haproxy.cfg", "/etc/haproxy-k8s/kill -USR2 $MAINPID"]
     and (.etc["haproxy-k8s/haproxy"] | endswith("/haproxy/bin/haproxy"))
     and .etc["haproxy-k8s/kill"] == "/nix/store/33333333333333333333333333333333-coreutils/bin/kill"'
  check $n "no store path in [Service]: a package bump changes only the links and the reload triggers" \
    '(.service.serviceConfig | tostring | test("/nix/store") | not) and .service.environment.LOCALE_ARCHIVE == null and .service.path == []'
  check $n "a changed config or package reloads (reloadTriggers = config, haproxy, coreutils; /etc path stable)" \
    '.service.reloadTriggers == [.generatedOutPath, (.etc["haproxy-k8s/haproxy"] | rtrimstr("/bin/haproxy")), "/nix/store/33333333333333333333333333333333-coreutils"] and .etc["haproxy-k8s/haproxy.cfg"] == (.generatedOutPath + "/haproxy.cfg") and .service.reloadIfChanged == false'
  check $n "no capability for ports >= 1024" \
    '.service.serviceConfig | .CapabilityBoundingSet == "" and (has("AmbientCapabilities") | not)'
  check $n "hardening (NoNewPrivileges, ProtectSystem=strict, PrivateTmp, PrivateDevices, address families)" \
    '.service.serviceConfig | .NoNewPrivileges and .ProtectSystem == "strict" and .PrivateTmp and .PrivateDevices and .RestrictAddressFamilies == ["AF_UNIX","AF_INET","AF_INET6"] and .User == "haproxy-k8s" and .RuntimeDirectory == "haproxy-k8s"'
  check $n "own system user and group" '.users["haproxy-k8s"] == {"isSystemUser": true, "group": "haproxy-k8s"} and (.groups | index("haproxy-k8s"))'
  check $n "iptables backend: extraCommands sources the generated script" \
    '.firewall.backend == "iptables" and .firewall.extraCommands == (". " + .firewallOutPath + "/firewall.iptables\n") and .firewall.extraInputRules == ""'
  check $n "build checks with haproxy -c -dW (--haproxy-check, haproxy first on PATH)" \
    '.buildCommand | test("export PATH=[^:]*haproxy/bin:") and test("--haproxy-check")'
  firewall_load $n
fi

# Seed 004's module example literally: no nodes yet.
if expect_ok $cases/seed-004-literal.nix; then
  check seed-004-literal "empty controlPlaneNodes reaches the generator as []" '.generatorInput | fromjson | .controlPlaneNodes == []'
  contains seed-004-literal "the API frontend still exists" haproxy.cfg '^ *bind 192\.168\.8\.1:6443'
  check seed-004-literal "empty controlPlaneNodes is a NixOS warning naming it" \
    '.warnings | any(test("^services\\.haproxy-k8s\\.controlPlaneNodes is empty"))'
  if grep -q '^haproxy-k8s-gen: warning: services\.haproxy-k8s\.controlPlaneNodes: is empty' "$tmp/seed-004-literal.build"; then
    pass "seed-004-literal: the generator warns about it in the build log"
  else
    fail "seed-004-literal: no generator warning in the build log: $(cat "$tmp/seed-004-literal.build")"
  fi
fi

if expect_ok $cases/clusters-only.nix; then
  check clusters-only "top-level values nothing reads are not passed (defaults must not look set)" \
    '.generatorInput | fromjson | (has("frontendPort") or has("bindAddress") or has("allowedSources") | not) and .statsPort == 8404'
  check clusters-only "a cluster without nodes is a NixOS warning naming it" \
    '.warnings | any(test("^services\\.haproxy-k8s\\.clusters\\.next\\.controlPlaneNodes is empty")) and (any(test("clusters\\.prod")) | not)'
fi

if expect_ok $cases/multi-cluster.nix; then
  n=multi-cluster
  contains $n "staging cluster frontend" haproxy.cfg 'bind 192\.168\.9\.1:6443'
  contains $n "lab cluster frontend" haproxy.cfg 'bind 192\.168\.8\.1:7443'
  contains $n "IPv6 node bracketed" haproxy.cfg 'stg-cp-2 \[fd00:9::11\]:6443'
  contains $n "firewall rules restricted to vlan8" firewall.nft 'iifname "?vlan8"?'
  check $n "nftables backend: extraInputRules includes the generated file, extraCommands empty" \
    '.firewall.backend == "nftables" and .firewall.extraInputRules == ("include \"" + .firewallOutPath + "/firewall.nft\"\n") and .firewall.extraCommands == ""'
  check $n "clusters reach the generator" '.generatorInput | fromjson | .clusters | keys == ["lab","staging"]'
  firewall_load $n
fi

# The firewall rules live in their own derivation built from the firewall-relevant options
# only: other changes leave its store path (and so the NixOS firewall) alone; a changed
# listener or source filter changes it. (The stand-in store paths change exactly when a
# derivation's name, environment or build script does, as real ones do.) Each case's rules
# also equal those rendered from all options (expect_ok compares them).
firewall_path_test() { # case expected(same|changed) what
  local name
  name="$(basename "$1" .nix)"
  expect_ok "$1" || return 0
  local base_fw base_cfg fw cfg
  # The store path the NixOS firewall's rules actually include.
  included() { jq -r '.firewall.extraInputRules | capture("include \"(?<p>/nix/store/[^/]+)/").p' "$tmp/$1.json"; }
  base_fw="$(included multi-cluster)"
  base_cfg="$(jq -r .generatedOutPath "$tmp/multi-cluster.json")"
  fw="$(included "$name")"
  cfg="$(jq -r .generatedOutPath "$tmp/$name.json")"
  if [[ "$2" == same && "$fw" == "$base_fw" && "$cfg" != "$base_cfg" ]]; then
    pass "$name: $3 changes haproxy.cfg's derivation but not the firewall's ($(basename "$fw"))"
  elif [[ "$2" == changed && "$fw" != "$base_fw" ]] && ! cmp -s "$tmp/$name.fw/firewall.nft" "$tmp/multi-cluster.fw/firewall.nft"; then
    pass "$name: $3 changes the firewall derivation and its rules"
  else
    fail "$name: $3: firewall $base_fw -> $fw, config $base_cfg -> $cfg (expected the firewall $2)"
  fi
}
if [[ -d "$tmp/multi-cluster.fw" ]]; then
  firewall_path_test $cases/firewall-same-timeouts.nix same "other timeouts"
  firewall_path_test $cases/firewall-same-nodes.nix same "a new node, health-check interval and stats path"
  firewall_path_test $cases/firewall-port.nix changed "another frontend port"
  firewall_path_test $cases/firewall-sources.nix changed "another allowed source"
  firewall_path_test $cases/firewall-no-shorthand.nix changed "no top-level nodes (no default cluster)"
else
  fail "multi-cluster did not build: the firewall derivation tests did not run"
fi

# Seed 000: the module builds exactly the haproxy.cfg of examples/seed-000.json.
if expect_ok $cases/seed-000.nix; then
  n=seed-000
  contains $n "login.example.com is routed to the ingress, unterminated" haproxy.cfg \
    '^ *use_backend k8s-backend\.k8s-server if \{ req\.ssl_sni,lower -m str login\.example\.com \}'
  if "$gen_bin" generate examples/seed-000.json >"$tmp/seed-000.example.cfg" 2>"$tmp/seed-000.example.err" &&
    cmp -s "$tmp/seed-000.example.cfg" "$tmp/$n.out/haproxy.cfg"; then
    pass "$n: the module's haproxy.cfg equals the one examples/seed-000.json generates"
  else
    fail "$n: the module's haproxy.cfg differs from examples/seed-000.json's:"
    diff "$tmp/seed-000.example.cfg" "$tmp/$n.out/haproxy.cfg" | head -n 20 | sed 's/^/       /' || true
    cat "$tmp/seed-000.example.err"
  fi
  check $n "port 443: CAP_NET_BIND_SERVICE" '.service.serviceConfig.AmbientCapabilities == "CAP_NET_BIND_SERVICE"'
  firewall_load $n
fi

if expect_ok $cases/workloads-clusters.nix; then
  n=workloads-clusters
  check $n "routes and backends reach the generator field for field" \
    '.generatorInput | fromjson | .clusters.edge.sniRoutes == [{"hosts": ["login.example.com", "*.edge.example.com"], "backend": "ingress"}]
     and .sniRoutes == [{"hosts": ["*.apps.example.com"], "backend": "spare"}]
     and .backends.ingress.healthCheck == {"type": "https", "path": "/healthz", "expectStatus": 200, "host": "login.example.com", "interval": "2s", "fall": 3, "rise": 2}
     and .backends.ingress.sticky == "source" and .backends.ingress.nodes[1] == {"name": "w2", "address": "worker-2.k8s.internal", "port": 443, "weight": 2, "backup": false}
     and .backends.spare == {"nodes": [], "balance": "leastconn", "sticky": "none", "healthCheck": {"type": "tcp", "path": null, "expectStatus": null, "host": null, "interval": "2s", "fall": 3, "rise": 2}}'
  contains $n "the edge frontend routes its wildcard" haproxy.cfg 'use_backend k8s-backend\.ingress if \{ req\.ssl_sni,lower -m reg \^\[\^\.\]\+\[\.\]edge\[\.\]example\[\.\]com\$ \}'
  contains $n "sticky source: a stick table on the client address" haproxy.cfg '^ *stick on src'
  contains $n "https check with the ingress name as SNI and Host" haproxy.cfg 'http-check connect ssl sni login\.example\.com'
  check $n "a backend without nodes is a NixOS warning naming it" \
    '.warnings | any(test("^services\\.haproxy-k8s\\.backends\\.spare\\.nodes is empty"))'
  contains $n "firewall: 8443 opened for both families of ::" firewall.nft 'meta nfproto ipv6 tcp dport 8443 accept'
  firewall_load $n
fi

# The load-balancer pair (nix/pair.nix): peers, the VIP, keepalived fed the generated file.
if expect_ok $cases/pair-lb1.nix; then
  n=pair-lb1
  check $n "peers and vip reach the generator field for field" \
    '.generatorInput | fromjson | .peers == {"localName":"lb1","port":10000,"apiSticky":true,"members":[{"name":"lb1","address":"192.168.8.2"},{"name":"lb2","address":"192.168.8.3"}]}
     and .vip == {"address":"192.168.8.1","prefixLength":24,"interface":"vlan8","virtualRouterId":51,"priority":150,"unicastPeers":["192.168.8.3"],"checkPort":8405,"scriptUser":"nobody","curl":"/nix/store/66666666666666666666666666666666-curl/bin/curl"}'
  check $n "services.keepalived includes the generated keepalived.conf, with script security" \
    '.keepalived == {"enable":true,"enableScriptSecurity":true,"extraConfig":("include " + .generatedOutPath + "/keepalived.conf\n")}'
  check $n "HAProxy may bind the VIP while the other machine holds it" '.sysctl == {"net.ipv4.ip_nonlocal_bind":1}'
  contains $n "haproxy.cfg names this machine's peer" haproxy.cfg '^ *localpeer lb1$'
  contains $n "the API backend's stick table joins the peers" haproxy.cfg 'stick-table type ip size 20k expire 30m peers k8s-peers'
  contains $n "keepalived.conf checks this machine's HAProxy on loopback with the store's curl" keepalived.conf 'script "/nix/store/6+-curl/bin/curl .*http://127\.0\.0\.1:8405/'
  contains $n "the peers port is open to lb2 only" firewall.nft 'ip daddr 192\.168\.8\.2 ip saddr \{ 192\.168\.8\.3/32 \} tcp dport 10000 accept'
  contains $n "VRRP from lb2 only, on vlan8" firewall.nft 'iifname "vlan8" ip saddr \{ 192\.168\.8\.3/32 \} meta l4proto 112 accept'
  firewall_load $n
fi

if expect_ok $cases/privileged-port.nix; then
  n=privileged-port
  check $n "CAP_NET_BIND_SERVICE for port 443" \
    '.service.serviceConfig | .AmbientCapabilities == "CAP_NET_BIND_SERVICE" and .CapabilityBoundingSet == "CAP_NET_BIND_SERVICE"'
  check $n "credentials file is the unit's EnvironmentFile" '.service.serviceConfig.EnvironmentFile == "/run/secrets/haproxy-k8s-stats"'
  check $n "build runs the generator with --haproxy-check (it sets placeholder credentials)" '.buildCommand | test("--haproxy-check")'
  check $n "openFirewall = false leaves the firewall alone" '.firewall.extraCommands == "" and .firewall.extraInputRules == ""'
  check $n "coexists with services.haproxy on other ports" '.failedAssertions == []'
fi

if evaluate $cases/disabled.nix && q disabled '.enabled == false and .service == null and .etc == {} and .firewall.extraCommands == "" and .users == {}'; then
  pass "disabled: importing without enable defines no unit, file, user or firewall rule"
else
  fail "disabled: $(cat "$tmp/disabled.err" "$tmp/disabled.json" 2>/dev/null)"
fi

if evaluate $cases/clash-haproxy.nix && q clash-haproxy '.failedAssertions | length == 1 and (.[0] | test("192.168.8.1:6443 \\(services.haproxy-k8s.frontendPort\\)"))'; then
  pass "clash-haproxy: assertion names the clashing bind: $(jq -r '.failedAssertions[0]' "$tmp/clash-haproxy.json" | head -n1)"
else
  fail "clash-haproxy: expected one failed assertion: $(cat "$tmp/clash-haproxy.err" "$tmp/clash-haproxy.json" 2>/dev/null)"
fi

if evaluate $cases/bad-admin-socket-shared-dir.nix && q bad-admin-socket-shared-dir '.failedAssertions | length == 1 and (.[0] | test("services.haproxy-k8s.adminSocket = \"/run/haproxy-k8s.sock\": its directory /run is shared"))'; then
  pass "bad-admin-socket-shared-dir: assertion refuses to take over /run: $(jq -r '.failedAssertions[0]' "$tmp/bad-admin-socket-shared-dir.json")"
else
  fail "bad-admin-socket-shared-dir: expected one failed assertion: $(cat "$tmp/bad-admin-socket-shared-dir.err" "$tmp/bad-admin-socket-shared-dir.json" 2>/dev/null)"
fi

# Type errors: NixOS's own messages, naming the option.
if expect_ok $cases/tls-health-check.nix; then
  contains tls-health-check "CA file and client certificate reach haproxy.cfg" haproxy.cfg 'ca-file /etc/kubernetes/pki/ca.crt.*crt /var/lib/haproxy-k8s/health-client.pem|crt /var/lib/haproxy-k8s/health-client.pem.*ca-file /etc/kubernetes/pki/ca.crt'
  if grep -q "not present here" "$tmp/tls-health-check.build"; then
    pass "tls-health-check: files absent at build time are left out of haproxy -c, and the build says so"
  else
    fail "tls-health-check: no note about runtime files: $(cat "$tmp/tls-health-check.build")"
  fi
fi

# The snippets in README.md and docs/nixos.md that newcomers paste: evaluated and built like
# the cases.
for doc in README.md docs/nixos.md; do
  snippet="$tmp/snippet-${doc//\//-}.nix"
  awk '/^<!-- tested: /{f=1;next} f&&/^```nix$/{p=1;next} p&&/^```$/{exit} p' "$doc" >"$snippet"
  if [[ -s "$snippet" ]]; then
    expect_ok "$snippet" || true
  else
    fail "$doc: no <!-- tested: --> nix snippet found"
  fi
done

expect_eval_error $cases/bad-type-port.nix "type error" \
  "services\.haproxy-k8s\.frontendPort" "is not of type .16 bit unsigned integer"
expect_eval_error $cases/bad-type-enum.nix "enum error" \
  "services\.haproxy-k8s\.healthCheck\.type" "is not of type .one of \"https\", \"tls\", \"tcp\""
expect_eval_error $cases/bad-type-node-port.nix "node port out of range" \
  "services\.haproxy-k8s\.controlPlaneNodes.*\.port" "is not of type .16 bit unsigned integer"
expect_eval_error $cases/bad-missing-name.nix "node without a name" \
  "services\.haproxy-k8s\.controlPlaneNodes.*\.name. (is used but not defined|was accessed but has no value defined)"
expect_eval_error $cases/bad-unknown-option.nix "misspelt option" \
  "services\.haproxy-k8s\.frontendPorts. does not exist"
expect_eval_error $cases/bad-type-vip-priority.nix "VRRP priority 255 (reserved for the address owner)" \
  "services\.haproxy-k8s\.vip\.priority" "is not of type .integer between 1 and 254"

# Semantic errors: the generator fails the build, naming the option path.
expect_build_error $cases/bad-duplicate-names.nix "duplicate node names" \
  "services\.haproxy-k8s\.controlPlaneNodes\.1\.name"
expect_build_error $cases/bad-address.nix "invalid address" \
  "services\.haproxy-k8s\.controlPlaneNodes\.1\.address"
expect_build_error $cases/bad-secret-in-store.nix "secret in the Nix store" \
  "services\.haproxy-k8s\.stats\.credentialsFile"
expect_build_error $cases/bad-extra-config.nix "extraConfig HAProxy rejects (haproxy -c -dW at build time)" \
  "haproxy -c -dW rejected" "balance only supports"
expect_build_error $cases/bad-duration.nix "bad duration" \
  "services\.haproxy-k8s\.timeouts\.tunnel"
expect_build_error $cases/bad-sni-routes.nix "SNI route errors, all at once" \
  "services\.haproxy-k8s\.sniRoutes\.0\.backend: \"ingres\" is not a backend; did you mean .ingress.\?" \
  "services\.haproxy-k8s\.sniRoutes\.0\.hosts\.1: .* is already routed by services\.haproxy-k8s\.sniRoutes\.0\.hosts\.0" \
  "services\.haproxy-k8s\.sniRoutes\.0\.hosts\.2: .*only a leading"
expect_eval_error $cases/bad-backend-node-port.nix "workload node without a port" \
  "services\.haproxy-k8s\.backends\.ingress\.nodes.*\.port. (is used but not defined|was accessed but has no value defined)"
expect_build_error $cases/bad-pair-local-name.nix "peers.localName not among the members" \
  "services\.haproxy-k8s\.peers\.localName: \"lb3\" is not one of peers\.members"
expect_build_error $cases/bad-unused-top-level.nix "top-level allowedSources nothing reads (issue 8)" \
  "services\.haproxy-k8s\.allowedSources: is set, but nothing reads it"

# ---- the VM test's script renders and compiles (the VM test itself needs KVM + cache) ------
for backend in nftables iptables; do
  if nix-instantiate --eval --strict --json nix/tests/eval/vm-script.nix --argstr backend "$backend" \
    >"$tmp/vm-$backend.json" 2>"$tmp/vm-$backend.err" &&
    jq -r .testScript "$tmp/vm-$backend.json" >"$tmp/vm-$backend.py" &&
    python3 -m py_compile "$tmp/vm-$backend.py" 2>>"$tmp/vm-$backend.err"; then
    pass "VM test ($backend): nodes $(jq -c .nodes "$tmp/vm-$backend.json"), test script compiles"
  else
    fail "VM test ($backend): $(cat "$tmp/vm-$backend.err")"
  fi
done

if nix-instantiate --eval --strict --json nix/tests/eval/vm-script.nix --argstr test pair \
  >"$tmp/vm-pair.json" 2>"$tmp/vm-pair.err" &&
  jq -r .testScript "$tmp/vm-pair.json" >"$tmp/vm-pair.py" &&
  python3 -m py_compile "$tmp/vm-pair.py" 2>>"$tmp/vm-pair.err"; then
  pass "VM test pair: nodes $(jq -c .nodes "$tmp/vm-pair.json"), test script compiles"
else
  fail "VM test pair: $(cat "$tmp/vm-pair.err")"
fi

if nix-instantiate --eval --strict --json nix/tests/eval/vm-script.nix --argstr test sni-passthrough \
  >"$tmp/vm-sni.json" 2>"$tmp/vm-sni.err" &&
  jq -r .testScript "$tmp/vm-sni.json" >"$tmp/vm-sni.py" &&
  python3 -m py_compile "$tmp/vm-sni.py" 2>>"$tmp/vm-sni.err" &&
  python3 -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
    nix/tests/split-hello.py "$tmp/split-hello.pyc" 2>>"$tmp/vm-sni.err"; then
  pass "VM test sni-passthrough: nodes $(jq -c .nodes "$tmp/vm-sni.json"), test script and split-hello.py compile"
else
  fail "VM test sni-passthrough: $(cat "$tmp/vm-sni.err")"
fi

# ---- the flake's outputs evaluate (stub nixpkgs; nothing is built) ------------------------
if nix-instantiate --eval --strict --json nix/tests/eval/flake-outputs.nix >"$tmp/flake.json" 2>"$tmp/flake.err"; then
  check flake "packages default/haproxy-k8s-gen/apiserver-standin for x86_64 and aarch64" \
    '.packages | keys == ["aarch64-linux","x86_64-linux"] and all(.[]; . == ["apiserver-standin","default","haproxy-k8s-gen"])'
  check flake "checks: VM tests (both backends, the pair, SNI passthrough), crate tests, clippy, rustfmt, alejandra, deadnix" \
    '.checks["x86_64-linux"] == ["alejandra","clippy","crate-tests","deadnix","rustfmt","vm-iptables","vm-nftables","vm-pair","vm-sni-passthrough"]'
  check flake "nixosModules.default, overlays.default, formatter = alejandra, devShells.default" \
    '(.nixosModules | index("default")) and .overlay == ["apiserver-standin","haproxy-k8s-gen"] and .formatter == "alejandra" and .devShells == ["default"]'
  check flake "each package builds its own crate (cargo --package)" \
    '.cargo | to_entries | all(.value.cargoBuildFlags == ["--package", .value.mainProgram])'
  check flake "nixosModules.default's generator is the flake's own build" '.moduleGenerator == true'
else
  fail "flake outputs do not evaluate: $(cat "$tmp/flake.err")"
fi

# ---- the module's defaults are the contract's defaults -------------------------------------
# docs/input-contract.md's JSON example shows every default (with one example node and a
# "<name>" cluster); the module's JSON for the same nodes must equal it.
contract="$tmp/contract.json"
awk '/^```json$/{f=1;next} /^```$/{if(f){exit}} f' docs/input-contract.md >"$contract"
cat >"$tmp/contract-case.nix" <<'EOF'
_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [{name = "k8s-master-1"; address = "192.168.8.10";}];
    clusters."<name>" = {};
  };
}
EOF
if nix-instantiate --eval --strict --json nix/tests/eval/eval.nix -A result \
  --arg case "$tmp/contract-case.nix" >"$tmp/contract-case.json" 2>"$tmp/contract-case.err" &&
  jq -e --slurpfile c "$contract" '(.generatorInput | fromjson) == $c[0]' "$tmp/contract-case.json" >/dev/null; then
  pass "module defaults equal docs/input-contract.md's (field for field)"
else
  fail "module defaults differ from docs/input-contract.md:"
  diff <(jq -S . "$contract") <(jq -S '.generatorInput | fromjson' "$tmp/contract-case.json" 2>/dev/null) | sed 's/^/       /' || true
  cat "$tmp/contract-case.err"
fi

# ---- the systemd unit as NixOS writes it (crates/unit-container boots the committed copy) ---
# nix/tests/unit/<case>/ holds haproxy-k8s.service and module.json rendered by
# nix/tests/unit/render.nix; machines without <nixpkgs/lib> boot these files, so they must stay
# equal to the evaluation (`--update-docs` rewrites them too).
for case_dir in nix/tests/unit/*/; do
  unit_case="$(basename "$case_dir")"
  if ! nix-instantiate --eval --strict --json nix/tests/unit/render.nix --argstr case "$unit_case" \
    >"$tmp/unit-$unit_case.json" 2>"$tmp/unit-$unit_case.err"; then
    fail "unit $unit_case: render.nix failed: $(cat "$tmp/unit-$unit_case.err")"
    continue
  fi
  jq -j .unit "$tmp/unit-$unit_case.json" >"$tmp/unit-$unit_case.service"
  jq -S .module "$tmp/unit-$unit_case.json" >"$tmp/unit-$unit_case.module.json"
  if ((update_docs)); then
    cp "$tmp/unit-$unit_case.service" "$case_dir/haproxy-k8s.service"
    cp "$tmp/unit-$unit_case.module.json" "$case_dir/module.json"
    pass "unit $unit_case: $case_dir rewritten"
  elif cmp -s "$tmp/unit-$unit_case.service" "$case_dir/haproxy-k8s.service" &&
    cmp -s "$tmp/unit-$unit_case.module.json" "$case_dir/module.json"; then
    pass "unit $unit_case: committed haproxy-k8s.service and module.json equal the module's rendering"
  else
    fail "unit $unit_case: $case_dir is out of date (run tests/nix-eval.sh --update-docs):"
    diff "$case_dir/haproxy-k8s.service" "$tmp/unit-$unit_case.service" | head -n 20 | sed 's/^/       /' || true
    diff "$case_dir/module.json" "$tmp/unit-$unit_case.module.json" | head -n 20 | sed 's/^/       /' || true
  fi
done
# A HAProxy upgrade (another store path for the package) changes only [Unit]'s
# X-Reload-Triggers: switch-to-configuration then reloads the unit instead of restarting it.
if nix-instantiate --eval --strict --json nix/tests/unit/render.nix --argstr case container \
  --argstr haproxyDir /nix/store/99999999999999999999999999999999-haproxy-3.9.9 \
  >"$tmp/unit-upgraded.json" 2>"$tmp/unit-upgraded.err"; then
  changed="$({ diff <(jq -r .unit "$tmp/unit-container.json") <(jq -r .unit "$tmp/unit-upgraded.json") || true; } | grep '^[<>]' | sed 's/=.*//' | sort -u | tr '\n' ' ' || true)"
  if [[ "$changed" == "< X-Reload-Triggers > X-Reload-Triggers " ]]; then
    pass "unit: a new HAProxy package changes only X-Reload-Triggers (a reload, not a restart)"
  else
    fail "unit: a new HAProxy package changes more than X-Reload-Triggers: $changed"
  fi
else
  fail "unit: render.nix with another haproxy failed: $(cat "$tmp/unit-upgraded.err")"
fi

# ---- docs/nixos.md options reference -------------------------------------------------------
nix-instantiate --eval --strict --json nix/tests/eval/eval.nix -A optionsMarkdown | jq -r . >"$tmp/options.md"
begin='<!-- BEGIN OPTIONS (generated by tests/nix-eval.sh --update-docs; do not edit) -->'
end='<!-- END OPTIONS -->'
render_docs() {
  awk -v begin="$begin" -v end="$end" -v gen="$tmp/options.md" '
    $0 == begin { print; print ""; while ((getline l < gen) > 0) print l; print ""; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }' docs/nixos.md
}
if [[ ! -f docs/nixos.md ]] || ! grep -qxF -- "$begin" docs/nixos.md; then
  fail "docs/nixos.md lacks the options reference markers"
elif ((update_docs)); then
  render_docs >"$tmp/nixos.md" && cp "$tmp/nixos.md" docs/nixos.md
  pass "docs/nixos.md options reference rewritten"
elif render_docs | cmp -s - docs/nixos.md; then
  pass "docs/nixos.md options reference matches the module ($(grep -c '^### ' "$tmp/options.md") options)"
else
  fail "docs/nixos.md options reference is out of date (run tests/nix-eval.sh --update-docs):"
  render_docs | diff docs/nixos.md - | head -n 20 | sed 's/^/       /' || true
fi

echo
echo "# nix evaluation tests: $passes passed, $failures failed"
((failures == 0))
