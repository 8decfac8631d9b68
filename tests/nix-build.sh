#!/usr/bin/env bash
# The Nix build of nix/package.nix, emulated here (no Nix store, no binary cache needed):
#
#   1. the flake's source (the git-tracked files, as a flake sees them) is evaluated with
#      nix/tests/eval/package-build.nix: the files the package's `src` fileset selects, and
#      the arguments of the cargo hooks, for the default package and the `crate-tests` check.
#      With nixpkgs' lib (<nixpkgs/lib> on NIX_PATH) and a Nix that has
#      builtins.readFileType (Debian 13's Nix 2.26 from the tree tests/debian13-tree.sh
#      caches, run through its own loader) the real lib.fileset does it, and a stand-in lib
#      must agree with it. Without nixpkgs' lib (CI: it cannot be installed) only the
#      stand-in runs, and this says so;
#   2. exactly those files are copied to a fresh build directory; the crates of Cargo.lock
#      are vendored as importCargoLock does (`cargo fetch --locked`
#      fills cargo's cache first, outside the sandbox, as Nix's fetchers would);
#   3. cargoBuildHook's and cargoCheckHook's commands (nixpkgs
#      pkgs/build-support/rust/hooks: `cargo build -j N --target T --offline --profile
#      release ${cargoBuildFlags}`, `cargo test -j N --profile release --target T --frozen
#      ${cargoTestFlags} -- --test-threads=N ${checkFlags}`) run as uid 1000 in a new user
#      and network namespace with only `lo` (up, as in the Nix sandbox), HOME=/homeless-shelter,
#      TMPDIR = the build directory, an empty read-only /tmp, an /etc of only passwd, group
#      and hosts (no resolv.conf: DNS does not exist there), and a PATH of only the stdenv
#      basics, the Rust toolchain's own bin directory and the declared nativeCheckInputs.
#      As root, everything below runs as `nobody` first (setpriv), so no root privilege
#      reaches the build.
#
# Not emulated: the store paths themselves, cargo-auditable's wrapper, patchShebangs, the
# install/fixup phases, and the chroot: the host's files outside PATH and /etc stay visible,
# so a test that ran e.g. /usr/bin/env by absolute path would pass here and fail in Nix
# (none does). The target directory is kept between runs under
# /var/tmp/haproxy-k8s-nix-build to save compile time (`--fresh` removes it); the
# sources and vendored crates are fresh copies every run, so cargo sees exactly `src`.
#
#   tests/nix-build.sh [--fresh] [--source DIR]
#
# --source DIR: emulate the build of another checkout (e.g. an older commit), still with
# this checkout's evaluation and runner. Exit 1 when a phase fails; SKIPPED (exit 0, or 1
# when CI=true) when the machine cannot run it.
set -euo pipefail
# The whole script is one block, read before it runs: editing it during a run is harmless.
{
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="$repo"
fresh=0
while (($#)); do
  case "$1" in
    --fresh) fresh=1 ;;
    --source)
      source_dir="$(cd "$2" && pwd)"
      shift
      ;;
    -h | --help)
      sed -n '2,38p' "$0"
      exit 0
      ;;
    *)
      echo "usage: tests/nix-build.sh [--fresh] [--source DIR]" >&2
      exit 2
      ;;
  esac
  shift
done

skip() {
  echo "############################################################################" >&2
  echo "# SKIPPED: emulated Nix build: $*" >&2
  echo "############################################################################" >&2
  [[ "${CI:-}" == true ]] && {
    echo "CI=true: a skipped Nix build emulation fails CI" >&2
    exit 1
  }
  exit 0
}
die() {
  echo "nix-build: $*" >&2
  exit 1
}
note() { echo "# $*"; }

for tool in unshare setpriv ip git jq flock sha256sum; do
  command -v "$tool" >/dev/null || skip "$tool not found (tests/install-deps.sh installs it)"
done

# ---- Nix: Debian 13's 2.26 through its loader, else the host's (stand-in lib only) -----------
tree="${HAPROXY_K8S_TRIXIE:-/var/cache/haproxy-k8s/trixie}"
nix_has_readfiletype=0
if [[ -x "$tree/usr/bin/nix" && -e "$tree/usr/lib64/ld-linux-x86-64.so.2" ]]; then
  nix_instantiate() {
    "$tree/usr/lib64/ld-linux-x86-64.so.2" \
      --library-path "$tree/usr/lib/x86_64-linux-gnu:$tree/lib/x86_64-linux-gnu" \
      "$tree/usr/bin/nix-instantiate" --store dummy:// "$@"
  }
elif command -v nix-instantiate >/dev/null; then
  nix_instantiate() { nix-instantiate "$@"; }
else
  skip "no Nix: neither $tree (tests/debian13-tree.sh) nor nix-instantiate"
fi
nix_instantiate --eval -E 'builtins ? readFileType' 2>/dev/null | grep -qx true && nix_has_readfiletype=1
note "nix: $(nix_instantiate --version 2>/dev/null || echo '?')"

# ---- the Rust toolchain's real bin directory (not rustup's proxies) --------------------------
cargo_bin="$(command -v cargo || true)"
[[ -n "$cargo_bin" ]] || skip "cargo not found"
if [[ "$(basename "$(realpath "$cargo_bin")")" == rustup* ]]; then
  toolchain_bin="$(dirname "$(rustup which cargo)")"
else
  toolchain_bin="$(dirname "$(realpath "$cargo_bin")")"
fi
toolchain="$(dirname "$toolchain_bin")"
[[ -x "$toolchain_bin/rustc" ]] || die "no rustc next to $toolchain_bin/cargo"
note "rust: $("$toolchain_bin/rustc" --version)"

# ---- the build user -----------------------------------------------------------------------
# As root: a private mount namespace makes the toolchain visible under the build directory
# (it usually lives under /root, which `nobody` cannot enter), then everything drops to nobody.
if [[ $(id -u) == 0 ]]; then
  run_uid=nobody run_gid="$(id -gn nobody 2>/dev/null || echo nogroup)"
  as_user=(setpriv --reuid="$run_uid" --regid="$run_gid" --clear-groups --inh-caps=-all --)
else
  run_uid="$(id -u)" run_gid="$(id -g)"
  as_user=()
fi

# One fixed place (like the sandbox's fixed /build), so cargo reuses the vendored crates'
# builds from the last run whatever checkout is built; runs take turns (flock).
work="${HAPROXY_K8S_NIX_BUILD_DIR:-/var/tmp/haproxy-k8s-nix-build}"
mkdir -p "$work"
exec 9>"$work.lock"
flock 9
if ((fresh)); then
  rm -rf "$work"
  mkdir -p "$work"
fi
rm -rf "$work/flake" "$work/build" "$work/eval"
mkdir -p "$work/flake" "$work/build" "$work/eval"

failures=0
fail() {
  failures=$((failures + 1))
  echo "FAIL - $*"
}
pass() { echo "ok   - $*"; }

# ---- 1. the flake's source, evaluated -------------------------------------------------------
# A flake in a git checkout sees the tracked files; files not yet committed but not ignored
# are included too, so a fixture one forgot to `git add` is the only thing this can miss.
(cd "$source_dir" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do if [[ -e "$f" ]]; then printf '%s\0' "$f"; fi; done |
  tar --null -T - -cf -) | tar -C "$work/flake" -xf -

evaluate() { # realLib -> $work/eval/<realLib>.json
  nix_instantiate --eval --strict --json "$repo/nix/tests/eval/package-build.nix" \
    --argstr flake "$work/flake" --arg realLib "$1" >"$work/eval/$1.json" 2>"$work/eval/$1.err"
}
if evaluate false; then
  pass "package.nix and flake.nix evaluate with the stand-in lib"
else
  fail "evaluation with the stand-in lib: $(cat "$work/eval/false.err")"
  exit 1
fi
eval_json="$work/eval/false.json"
if nixpkgs_lib="$(NIX_PATH="${NIX_PATH:-}" nix_instantiate --find-file nixpkgs/lib 2>/dev/null)" && ((nix_has_readfiletype)); then
  if evaluate true; then
    eval_json="$work/eval/true.json"
    pass "the real lib.fileset evaluates src ($(jq -r .lib "$eval_json") at $nixpkgs_lib)"
    if jq -e --slurpfile s "$work/eval/false.json" '.packages == $s[0].packages' "$eval_json" >/dev/null; then
      pass "the stand-in lib selects the same $(jq '.packages.default.srcFiles | length' "$eval_json") files and flags as the real lib"
    else
      fail "the stand-in lib disagrees with nixpkgs' lib (fix nix/tests/eval/package-build.nix):"
      diff <(jq -S .packages "$work/eval/true.json") <(jq -S .packages "$work/eval/false.json") | head -n 30 | sed 's/^/       /'
    fi
  else
    fail "evaluation with nixpkgs' lib: $(cat "$work/eval/true.err")"
    exit 1
  fi
else
  echo "############################################################################"
  echo "# NOTE: no <nixpkgs/lib> (NIX_PATH=${NIX_PATH:-unset}) or no Nix >= 2.14: src was"
  echo "# selected by the stand-in lib only (it understands lib.fileset.unions of paths and"
  echo "# fails on anything else); the real lib.fileset was NOT evaluated on this machine."
  echo "############################################################################"
fi

jq -e '[.packages[] | .srcRootIsFlake and .doCheck and .unsupported == [] and .buildAndTestSubdir == null] | all' "$eval_json" >/dev/null ||
  die "package.nix uses something this emulation does not model: $(jq -c '.packages | map_values({srcRootIsFlake, doCheck, unsupported, buildAndTestSubdir})' "$eval_json")"
jq -e '.packages.default.srcFiles == .packages["crate-tests"].srcFiles and .packages.default.cargoBuildFlags == .packages["crate-tests"].cargoBuildFlags' "$eval_json" >/dev/null ||
  die "the default package and crate-tests differ in src or build flags; this runner builds them once"

# ---- 2. exactly src, and the vendored crates ------------------------------------------------
# importCargoLock fetches every registry crate of Cargo.lock by its `checksum`, unpacks it to
# VENDOR/NAME-VERSION with a .cargo-checksum.json of {"files": {}, "package": CHECKSUM}, and
# puts Cargo.lock beside them. Here the .crate files come from cargo's download cache; each
# is checked against Cargo.lock's sha256 before it is unpacked. Git and path dependencies are
# not emulated: they fail here, loudly.
vendor() { # Cargo.lock crate-cache-dir vendor-dir
  local lock="$1" cache="$2" out="$3" name version source checksum n=0
  mkdir -p "$out"
  while IFS=$'\t' read -r name version source checksum; do
    [[ -z "$source" ]] && continue # a workspace member
    [[ "$source" == "registry+https://github.com/rust-lang/crates.io-index" ]] ||
      die "$name $version: source $source is not emulated"
    local crate="$cache/$name-$version.crate"
    [[ "$(sha256sum <"$crate" | cut -d' ' -f1)" == "$checksum" ]] ||
      die "$crate does not match Cargo.lock's checksum $checksum"
    tar -C "$out" -xzf "$crate" --no-same-owner
    [[ -d "$out/$name-$version" ]] || die "$crate did not unpack to $name-$version/"
    printf '{"files":{},"package":"%s"}' "$checksum" >"$out/$name-$version/.cargo-checksum.json"
    n=$((n + 1))
  done < <(awk '
    function flush() { if (name != "") print name "\t" version "\t" source "\t" checksum }
    /^\[\[package\]\]/ { flush(); name = version = source = checksum = ""; next }
    /^(name|version|source|checksum) = / { v = $3; gsub(/"/, "", v); if ($1 == "name") name = v; else if ($1 == "version") version = v; else if ($1 == "source") source = v; else checksum = v }
    END { flush() }' "$lock")
  cp "$lock" "$out/Cargo.lock"
  echo "# vendored $n crates of Cargo.lock (sha256 checked)"
}

build="$work/build"
mkdir -p "$build/source" "$build/rust" "$build/bin" "$work/target"
# Extracted with the current time as mtime (-m): the target directory is reused, and cargo
# decides by mtime whether a workspace crate changed; a checkout's older files must not pass
# for an earlier build's (Nix builds from scratch, so there the question never arises).
(cd "$work/flake" && jq -j '.packages.default.srcFiles[] + "\u0000"' "$eval_json" | tar --null -T - -cf -) |
  tar -C "$build/source" -xmf -
note "src: $(jq '.packages.default.srcFiles | length' "$eval_json") files: $(jq -r '[.packages.default.srcFiles[] | split("/")[0]] | unique | join(" ")' "$eval_json")"

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
(cd "$build/source" && cargo fetch --locked --quiet) || die "cargo fetch --locked failed (crates.io unreachable?)"
crate_cache="$(ls -d "$cargo_home"/registry/cache/index.crates.io-* | sed -n 1p)"
vendor "$build/source/Cargo.lock" "$crate_cache" "$build/cargo-vendor-dir"

# cargoSetupHook: the vendored source replaces crates.io; the linker is cc.
triple="$("$toolchain_bin/rustc" -vV | sed -n 's/^host: //p')"
mkdir -p "$build/source/.cargo"
cat >"$build/source/.cargo/config.toml" <<EOF
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "$build/cargo-vendor-dir"

[target."$triple"]
linker = "cc"
EOF

# ---- PATH: stdenv's basics, the toolchain, nativeCheckInputs ----------------------------------
link() { # required? name...: symlink host programs into $build/bin
  local required="$1" name p
  shift
  for name in "$@"; do
    p="$(PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin type -P "$name" || true)"
    if [[ -n "$p" && "$p" == /* ]]; then
      # Resolved: the sandbox's /etc has no Debian alternatives to go through.
      ln -sf "$(realpath "$p")" "$build/bin/$name"
    elif ((required)); then
      die "$name not found on this machine"
    fi
  done
}
# stdenv's initial path (coreutils findutils diffutils sed grep gawk tar gzip bzip2 xz bash
# make patch file) and its cc wrapper with binutils.
link 1 bash sh cc gcc ld as ar
link 0 '[' base32 base64 basename cat chgrp chmod chown cksum comm cp csplit cut date dd df \
  dirname du echo env expand expr factor false fmt fold head id install join kill link ln \
  logname ls md5sum mkdir mkfifo mknod mktemp mv nice nl nohup nproc numfmt od paste pathchk \
  printenv printf pwd readlink realpath rm rmdir seq sha1sum sha256sum sha512sum shred shuf \
  sleep sort split stat stty sum sync tac tail tee test timeout touch tr true truncate tsort \
  tty uname unexpand uniq unlink uptime wc whoami yes find xargs diff cmp sed grep gawk awk \
  tar gzip gunzip bzip2 xz make patch file c++ g++ cpp ld.bfd ranlib nm objdump objcopy strip \
  readelf
mapfile -t inputs < <(jq -r '[.packages[].nativeCheckInputs[]] | unique[]' "$eval_json")
for input in "${inputs[@]}"; do
  case "$input" in
    haproxy)
      # nixpkgs' haproxy is the 3.x line: Debian 13's 3.0 is the closest here.
      haproxy_bin="${HAPROXY:-$(command -v haproxy-3.0 || command -v haproxy || true)}"
      [[ -x "$haproxy_bin" ]] || die "haproxy not found"
      ln -sf "$haproxy_bin" "$build/bin/haproxy"
      ;;
    openssl | socat | curl | jq | kubectl) link 1 "$input" ;;
    iproute2) link 1 ip ss ;;
    nftables) link 1 nft ;;
    iptables) link 1 iptables ip6tables ;;
    *) die "nativeCheckInputs has '$input', which this runner cannot map to a program here: add it to tests/nix-build.sh" ;;
  esac
done
note "nativeCheckInputs: ${inputs[*]:-none}"

# ---- 3. the build and check phases, in the sandbox ------------------------------------------
q() { printf '%q ' "$@"; }
phases="$build/phases.sh"
{
  echo 'set -euo pipefail'
  echo "cd $(q "$build/source")"
  echo 'echo "# in the sandbox: uid $(id -u), network interfaces: $(awk -F: "NR > 2 { printf \"%s\", \$1 }" /proc/net/dev)"'
  echo 'set -x'
  echo "cargo build -j \$NIX_BUILD_CORES --target $triple --offline --profile $(jq -r .packages.default.buildType "$eval_json") $(jq -r '.packages.default.cargoBuildFlags | @sh' "$eval_json")"
  echo "touch $(q "$build/build.ok")"
  for p in default crate-tests; do
    args="--profile $(jq -r ".packages[\"$p\"].checkType" "$eval_json") --target $triple --frozen $(jq -r ".packages[\"$p\"].cargoTestFlags | @sh" "$eval_json")"
    echo ": ==== checkPhase of $p"
    echo "cargo test -j \$NIX_BUILD_CORES $args -- --test-threads=\$NIX_BUILD_CORES $(jq -r ".packages[\"$p\"].checkFlags | @sh" "$eval_json") 2>&1 | tee $(q "$build/check-$p.log")"
    echo "touch $(q "$build/check-$p.ok")"
    echo "cargo test $args -- --list 2>/dev/null >$(q "$build/list-$p.txt")"
  done
} >"$phases"

chown -R "$run_uid:$run_gid" "$build" "$work/target"
chmod 0755 "$work"

if [[ $(id -u) == 0 ]]; then rust_bin="$build/rust/bin"; else rust_bin="$toolchain_bin"; fi
sandbox_env=(
  env -i
  PATH="$build/bin:$rust_bin"
  HOME=/homeless-shelter
  TMPDIR="$build" TEMPDIR="$build" TMP="$build" TEMP="$build"
  NIX_BUILD_TOP="$build"
  NIX_BUILD_CORES="$(nproc)"
  TERM=xterm-256color
  CARGO_TARGET_DIR="$work/target"
  CARGO_PROFILE_RELEASE_STRIP=false
  "CC_${triple//-/_}=cc" "CXX_${triple//-/_}=c++"
  RUST_LOG=
  HAPROXY_K8S_HAPROXIES="$(jq -r '[.packages[].haproxies] | unique | map(select(. != null)) | join(" ")' "$eval_json")"
  bash "$phases"
)
# Outer namespace (root of a new user namespace, owning a new network and mount namespace):
# bring lo up, hide /tmp; inner user namespace: uid 1000, no capabilities, like nixbld.
# The sandbox's /etc, as Nix makes it: passwd, group and hosts only (no resolv.conf, no
# nsswitch.conf). Two host directories stand in for what Nix programs find in their own store
# paths: /etc/ssl (openssl's config) and the loader's cache (host programs' libraries).
mkdir -p "$build/etc/ssl"
printf '%s\n' 'root:x:0:0:Nix build user:/build:/noshell' 'nixbld:x:1000:100:Nix build user:/build:/noshell' \
  'nobody:x:65534:65534:Nobody:/:/noshell' >"$build/etc/passwd"
printf '%s\n' 'root:x:0:' 'nixbld:!:100:' 'nogroup:x:65534:' >"$build/etc/group"
printf '%s\n' '127.0.0.1 localhost' '::1 localhost' >"$build/etc/hosts"
touch "$build/etc/ld.so.cache"
sandbox_etc="mount --bind /etc/ssl $(q "$build/etc/ssl") && mount --bind /etc/ld.so.cache $(q "$build/etc/ld.so.cache") && mount --rbind $(q "$build/etc") /etc"
inner="ip link set lo up && mount -t tmpfs -o ro,mode=0555 none /tmp && $sandbox_etc && exec unshare --user --map-user=1000 --map-group=100 -- $(q "${sandbox_env[@]}")"
echo "# sandbox: $(q "${sandbox_env[@]}" | cut -c1-160)..."
set +e
sandbox=("${as_user[@]}" unshare --user --map-root-user --net --mount -- sh -c "$inner")
if [[ $(id -u) == 0 ]]; then
  unshare --mount --propagation private -- bash -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
    _ "$toolchain" "$build/rust" "${sandbox[@]}"
else
  "${sandbox[@]}"
fi 2>&1 | tee "$build/sandbox.log"
rc=${PIPESTATUS[0]}
set -e

# ---- results --------------------------------------------------------------------------------
summary() { # log -> "N passed, N failed, N ignored, N filtered out"
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^(passed|failed|ignored);?$/) s[$i] += $(i-1); if ($i == "filtered") f += $(i-1) } }
       END { printf "%d passed, %d failed, %d ignored, %d filtered out", s["passed;"], s["failed;"], s["ignored;"], f }' "$1"
}
if [[ -e "$build/build.ok" ]]; then
  pass "buildPhase: cargo build $(jq -r '.packages.default.cargoBuildFlags | join(" ")' "$eval_json") from exactly src, offline, unprivileged"
else
  fail "buildPhase failed (log: $build/sandbox.log)"
fi
for p in default crate-tests; do
  log="$build/check-$p.log"
  if [[ -e "$build/check-$p.ok" ]]; then
    pass "checkPhase of $p ($(jq -r ".packages[\"$p\"].cargoTestFlags | join(\" \")" "$eval_json")): $(summary "$log")"
  elif [[ -s "$log" ]]; then
    fail "checkPhase of $p: $(summary "$log")"
    { grep -E '^(error|---- | *thread .* panicked|test .* FAILED)' "$log" || true; } | head -n 20 | sed 's/^/       /'
  else
    fail "checkPhase of $p did not run"
  fi
  # Each declared --skip must still name a test: a renamed test would otherwise run unskipped
  # or, worse, the skip would silently hide nothing.
  if [[ -s "$build/list-$p.txt" ]]; then
    while IFS= read -r name; do
      if grep -q -- "$name" "$build/list-$p.txt"; then
        echo "# SKIPPED in the sandbox (declared in package.nix checkFlags): $name"
      else
        fail "$p: checkFlags skips '$name', which names no test"
      fi
    done < <(jq -r ".packages[\"$p\"].checkFlags[] | select(startswith(\"--skip=\")) | ltrimstr(\"--skip=\")" "$eval_json")
  fi
done

((rc == 0)) || fail "the sandbox exited with $rc (log: $build/sandbox.log)"
echo
echo "# emulated Nix build: $failures failed"
((failures == 0))
exit
}
