#!/usr/bin/env bash
# Prepares this machine for the QEMU lab (`pve-evacuate lab --qemu`, lab/qemu/*.e2e.test.ts, bench qemu).
#
#   lab/qemu/setup.sh            install (idempotent): Debian packages, guest kernel, QEMU 10 from
#                                bookworm-backports unpacked privately, the guest helper, the initramfs
#   lab/qemu/setup.sh --check    "ok" and exit 0 when everything is in place, else "not available: <why>"
#   lab/qemu/setup.sh selftest   boot a guest in a throwaway namespace, ping it from the host, remove it
#   lab/qemu/setup.sh down       remove QEMU lab namespaces (pvee-*) left behind, and their processes
#
# Everything lands in $PVE_EVACUATE_QEMU_DIR (default /var/cache/pve-evacuate-qemu); downloads come from
# Debian's archive only. System apt sources are not changed: the backports index lives in that directory.
# QEMU 10 rather than bookworm's 7.2: 7.2 under TCG loses dirty pages in some migrations (guest hangs).
# Root is needed (apt, network namespaces, taps).
set -euo pipefail

DIR=${PVE_EVACUATE_QEMU_DIR:-/var/cache/pve-evacuate-qemu}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUITE=bookworm
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
PACKAGES="qemu-system-x86 busybox-static iputils-ping iproute2 gcc libc6-dev"

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

WORK=""
cleanup() {
  local rc=$?
  [ -n "$WORK" ] && rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inputs_hash() {
  cat "$HERE/guest/init" "$HERE/guest/lab-load.c" "$0" | sha256sum | cut -c1-16
}

# ---- --check --------------------------------------------------------------------------------------------
check() {
  local reason=""
  if [ "$(id -u)" != 0 ]; then reason="needs root (network namespaces, taps)"
  elif [ ! -r "$DIR/manifest.json" ]; then reason="no $DIR/manifest.json (run lab/qemu/setup.sh)"
  elif [ ! -x "$DIR/qemu/usr/bin/qemu-system-x86_64" ]; then reason="QEMU missing under $DIR/qemu"
  elif ! "$DIR/qemu/usr/bin/qemu-system-x86_64" --version >/dev/null 2>&1; then reason="QEMU under $DIR/qemu does not run (missing libraries? run lab/qemu/setup.sh)"
  elif [ ! -r "$DIR/vmlinuz" ] || [ ! -r "$DIR/initrd.gz" ]; then reason="guest kernel or initramfs missing under $DIR"
  elif [ "$(cat "$DIR/inputs" 2>/dev/null)" != "$(inputs_hash)" ]; then reason="initramfs is older than lab/qemu/guest (run lab/qemu/setup.sh)"
  elif ! command -v ping >/dev/null || ! command -v ip >/dev/null || ! command -v setpriv >/dev/null; then reason="ping, ip or setpriv missing"
  fi
  if [ -n "$reason" ]; then echo "not available: $reason"; return 1; fi
  echo ok
}

# ---- install --------------------------------------------------------------------------------------------
install_packages() {
  local missing=()
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# apt-get with a private index (backports or the main suite), so system sources stay untouched.
private_apt() {
  local name=$1 line=$2; shift 2
  local root="$DIR/apt/$name"
  mkdir -p "$root/lists/partial" "$root/cache/archives/partial"
  echo "$line" >"$root/sources.list"
  apt-get -q -o Dir::Etc::sourcelist="$root/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$root/lists" -o Dir::Cache="$root/cache" -o APT::Get::List-Cleanup=0 "$@"
}

install_kernel() {
  [ -r "$DIR/vmlinuz" ] && [ -d "$DIR/modules" ] && return 0
  say "guest kernel (cloud flavour: virtio as modules, small)"
  local pkg
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || { apt-get update -qq; pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); }
  [ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64 to a kernel package"
  (cd "$WORK" && apt-get -o APT::Sandbox::User=root download -q "$pkg" >/dev/null)
  dpkg-deb -x "$WORK"/"$pkg"_*.deb "$WORK/kernel"
  local kdir
  kdir=$(echo "$WORK"/kernel/lib/modules/*/kernel)
  rm -rf "$DIR/modules.new" && mkdir -p "$DIR/modules.new"
  for m in $MODULES; do
    local ko
    ko=$(find "$kdir" -name "$m.ko" | head -n1)
    [ -n "$ko" ] || die "module $m.ko not found (compressed modules are not supported by busybox insmod)"
    cp "$ko" "$DIR/modules.new/"
  done
  cp "$WORK"/kernel/boot/vmlinuz-* "$DIR/vmlinuz.new"
  echo "$pkg" >"$DIR/kernel-package"
  rm -rf "$DIR/modules" && mv "$DIR/modules.new" "$DIR/modules" && mv "$DIR/vmlinuz.new" "$DIR/vmlinuz"
}

install_qemu() {
  if [ -x "$DIR/qemu/usr/bin/qemu-system-x86_64" ] && "$DIR/qemu/usr/bin/qemu-system-x86_64" --version >/dev/null 2>&1; then
    return 0
  fi
  say "QEMU 10 from $SUITE-backports (unpacked under $DIR/qemu, not installed)"
  private_apt backports "deb http://deb.debian.org/debian $SUITE-backports main" update -qq >/dev/null
  mkdir -p "$WORK/qemu-debs"
  (cd "$WORK/qemu-debs" && private_apt backports "deb http://deb.debian.org/debian $SUITE-backports main" \
    -o APT::Sandbox::User=root download qemu-system-x86/$SUITE-backports qemu-system-common/$SUITE-backports \
    qemu-system-data/$SUITE-backports seabios/$SUITE-backports >/dev/null)
  rm -rf "$DIR/qemu.new" && mkdir -p "$DIR/qemu.new"
  for d in "$WORK"/qemu-debs/*.deb; do dpkg-deb -x "$d" "$DIR/qemu.new"; done
  local bin="$DIR/qemu.new/usr/bin/qemu-system-x86_64"
  local missing
  missing=$(ldd "$bin" | awk '/not found/ {print $1}' | tr '\n' ' ')
  [ -z "$missing" ] || die "QEMU 10 needs libraries this system lacks: $missing"
  "$bin" --version | head -n1 | grep -Eq 'version (1[0-9]|[2-9][0-9])\.' || die "unexpected QEMU version: $("$bin" --version | head -n1)"
  rm -rf "$DIR/qemu" && mv "$DIR/qemu.new" "$DIR/qemu"
}

build_initrd() {
  local hash
  hash=$(inputs_hash)
  [ -r "$DIR/initrd.gz" ] && [ "$(cat "$DIR/inputs" 2>/dev/null)" = "$hash" ] && return 0
  say "initramfs (busybox, virtio modules, lab-load, /init)"
  gcc -static -O2 -s -Wall -Wextra -Werror -o "$WORK/lab-load" "$HERE/guest/lab-load.c"
  local root="$WORK/initrd"
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,lib/modules}
  cp /bin/busybox "$root/bin/busybox"
  cp "$WORK/lab-load" "$root/bin/lab-load"
  cp "$DIR"/modules/*.ko "$root/lib/modules/"
  cp "$HERE/guest/init" "$root/init"
  chmod 755 "$root/init" "$root/bin/busybox" "$root/bin/lab-load"
  # The kernel needs /dev/console in the archive itself to give /init a console.
  mknod -m 600 "$root/dev/console" c 5 1
  mknod -m 666 "$root/dev/null" c 1 3
  (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -9 >"$WORK/initrd.gz")
  mv "$WORK/initrd.gz" "$DIR/initrd.gz"
  echo "$hash" >"$DIR/inputs"
}

write_manifest() {
  local qv
  qv=$("$DIR/qemu/usr/bin/qemu-system-x86_64" --version | head -n1 | sed -E 's/.*version ([^ ]+).*/\1/')
  cat >"$DIR/manifest.json.new" <<EOF
{
  "qemu": "$DIR/qemu/usr/bin/qemu-system-x86_64",
  "dataDirs": ["$DIR/qemu/usr/share/qemu", "$DIR/qemu/usr/share/seabios"],
  "kernel": "$DIR/vmlinuz",
  "initrd": "$DIR/initrd.gz",
  "qemuVersion": "$qv",
  "kernelPackage": "$(cat "$DIR/kernel-package")",
  "inputs": "$(cat "$DIR/inputs")"
}
EOF
  mv "$DIR/manifest.json.new" "$DIR/manifest.json"
}

install_all() {
  [ "$(id -u)" = 0 ] || die "run as root (apt, network namespaces, taps)"
  local t0=$SECONDS
  mkdir -p "$DIR"
  WORK=$(mktemp -d /tmp/pvee-setup.XXXXXX)
  install_packages
  install_kernel
  install_qemu
  build_initrd
  write_manifest
  check >/dev/null || die "$(check)"
  say "ready in $((SECONDS - t0)) s: $DIR ($(du -sh "$DIR" | cut -f1))"
}

# ---- down: namespaces named pvee-* are this lab's, by convention ------------------------------------------
down() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^pvee-/ {print $1}'); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    say "removed namespace $ns"
  done
}

# ---- selftest: one guest, booted and pinged from the host through bridge + veth -------------------------
selftest() {
  check >/dev/null || die "$(check)"
  local ns="pvee-selftest-$$" hv="pvst$$h" nv="pvst$$n" net=10.213.99
  WORK=$(mktemp -d /tmp/pvee-selftest.XXXXXX)
  local pidfile="$WORK/qemu.pid"
  # shellcheck disable=SC2064
  trap "[ -s '$pidfile' ] && kill -KILL \$(cat '$pidfile') 2>/dev/null; ip netns del '$ns' 2>/dev/null; rm -rf '$WORK'" EXIT
  if ip -4 route show | grep -q "^$net\."; then die "$net.0/24 is in use on this host"; fi
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add br0 type bridge
  ip -n "$ns" tuntap add dev tap0 mode tap
  ip -n "$ns" link set tap0 master br0
  ip link add "$hv" type veth peer name "$nv" netns "$ns"
  ip -n "$ns" link set "$nv" master br0
  ip addr add "$net.1/24" dev "$hv"
  for d in br0 tap0 "$nv"; do ip -n "$ns" link set "$d" up; done
  ip link set "$hv" up
  local t0
  t0=$(date +%s.%N)
  ip netns exec "$ns" "$DIR/qemu/usr/bin/qemu-system-x86_64" -L "$DIR/qemu/usr/share/qemu" -L "$DIR/qemu/usr/share/seabios" \
    -machine pc -accel tcg -cpu qemu64 -smp 1 -m 128 -nodefaults -no-user-config -display none \
    -kernel "$DIR/vmlinuz" -initrd "$DIR/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1 lab.ip=$net.10/24" \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,romfile= \
    -serial "file:$WORK/console.log" -pidfile "$pidfile" -daemonize
  for _ in $(seq 1 300); do
    if ping -c1 -W1 -i0.2 "$net.10" >/dev/null 2>&1; then
      echo "selftest ok: guest answered ping after $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK/console.log" >&2 || true
  die "guest did not answer ping within 30 s"
}

case "${1:-install}" in
  install) install_all ;;
  --check | check) check ;;
  selftest) selftest ;;
  down) down ;;
  *) die "usage: $0 [install|--check|selftest|down]" ;;
esac
