#!/bin/bash
# Install what building and testing cryo needs, on Debian 12 (bookworm).
# Used by the README's quick start (scripts/demo.sh) and by CI (.ci/run), so
# the two cannot drift apart.  Run as root (or with sudo available).
#
#   scripts/install-deps.sh           # installs what is missing
#   scripts/install-deps.sh --list    # prints the package list
set -euo pipefail

PKGS=(
	# build
	meson ninja-build gcc clang llvm pkg-config libc6-dev
	protobuf-c-compiler libprotobuf-c-dev libcap-dev
	libgnutls28-dev
	# tests: criu's crit (image cross-checks), networking, tools
	criu python3 python3-protobuf iproute2 nftables iptables
	procps util-linux git ca-certificates
	# tests: real programs (tests/real): interpreters and tools checkpointed
	# mid-run (python3 above; perl with Digest::MD5, gawk, bash, coreutils)
	gawk perl bash coreutils
	# tests: container runtimes driving cryo as their criu (tests/runner/runc.py,
	# podman.py; podman installs cleanly without its recommends)
	runc busybox-static podman
	# tests: containerd and LXC (tests/runner/containerd.py, lxc.py); lxc's
	# lxc-net service (a bridge, dnsmasq) is not started without systemd
	containerd lxc
)

if [ "${1:-}" = "--list" ]; then
	printf '%s\n' "${PKGS[@]}"
	exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages already installed"
	exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: run as root" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
