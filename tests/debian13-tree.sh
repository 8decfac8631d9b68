#!/usr/bin/env bash
# Builds, once per machine, the Debian 13 ("trixie") tree the tests use as the closest thing to
# a NixOS userland this machine can run: HAProxy 3.0 (NixOS ships the 3.x line; Debian 12 has
# 2.6), systemd 257 (boots under systemd-nspawn for the unit tests) and Nix 2.26 (has
# builtins.readFileType, which nixpkgs' lib.fileset needs; Debian 12's Nix 2.8 does not).
#
# The tree lives outside the work tree (it is ~500 MB and machine state, not project source):
#   HAPROXY_K8S_TRIXIE_TREE   default /var/cache/haproxy-k8s/trixie
# and this script also installs $HAPROXY_K8S_BIN_DIR/haproxy-3.0 (default /usr/local/bin), which runs the tree's HAProxy with
# the tree's own loader and libraries (for `haproxy -c`; a master re-exec on USR2 needs a
# native binary, so reload/upgrade tests boot the tree instead).
#
# Run as root; idempotent: a complete tree is only topped up with missing packages.
set -euo pipefail

tree="${HAPROXY_K8S_TRIXIE_TREE:-/var/cache/haproxy-k8s/trixie}"
bin_dir="${HAPROXY_K8S_BIN_DIR:-/usr/local/bin}"
mirror="${HAPROXY_K8S_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
stamp="$tree/.haproxy-k8s-complete"
# nix-bin comes in a second step: debootstrap's --include does not resolve its virtual
# dependency.
# liblua5.3-0: Debian 12's HAProxy 2.6 runs natively in the tree with it (the unit tests upgrade
# 2.6 -> 3.0 through a master re-exec, which a binary run through a foreign loader cannot do).
packages=(haproxy systemd systemd-sysv dbus procps iproute2 curl socat nix-bin liblua5.3-0)

in_tree() {
  mount -t proc proc "$1/proc"
  local status=0
  DEBIAN_FRONTEND=noninteractive chroot "$1" "${@:2}" || status=$?
  umount "$1/proc"
  return "$status"
}

install_packages() {
  local root="$1" missing=()
  for package in "${packages[@]}"; do
    chroot "$root" dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  echo "debian13-tree: installing ${missing[*]} into $root"
  # No service starts inside a chroot.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  in_tree "$root" apt-get update -qq
  in_tree "$root" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  in_tree "$root" apt-get clean
}

if [[ ! -f "$stamp" ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "debian13-tree: building $tree needs root" >&2; exit 1; }
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  # Built beside its final place and renamed at the end: an interrupted build never looks complete.
  work="$tree.partial"
  rm -rf "$work"
  mkdir -p "$(dirname "$tree")"
  echo "debian13-tree: debootstrap trixie into $work"
  debootstrap --variant=minbase trixie "$work" "$mirror" >/dev/null
  install_packages "$work"
  # The tree boots as a container: give it a machine id and no console getty to wait for.
  : >"$work/etc/machine-id"
  chroot "$work" systemctl mask console-getty.service getty@tty1.service >/dev/null 2>&1 || true
  date -u +%FT%TZ >"$work/.haproxy-k8s-complete"
  rm -rf "$tree"
  mv "$work" "$tree"
else
  install_packages "$tree"
fi

# haproxy-3.0: the tree's HAProxy through the tree's own loader (it is built for trixie's glibc).
loader="$tree/usr/lib64/ld-linux-x86-64.so.2"
[[ -x "$loader" ]] || loader="$tree/lib64/ld-linux-x86-64.so.2"
cat >"$bin_dir/haproxy-3.0.new" <<EOF
#!/bin/sh
# Written by tests/debian13-tree.sh: Debian 13's HAProxy, run from $tree.
exec "$loader" --library-path "$tree/usr/lib/x86_64-linux-gnu:$tree/lib/x86_64-linux-gnu" "$tree/usr/sbin/haproxy" "\$@"
EOF
chmod 755 "$bin_dir/haproxy-3.0.new"
mv "$bin_dir/haproxy-3.0.new" "$bin_dir/haproxy-3.0"
# sed, not head: head exiting early would make `haproxy -v` die of SIGPIPE, and pipefail fail the script.
"$bin_dir/haproxy-3.0" -v | sed -n 1p
