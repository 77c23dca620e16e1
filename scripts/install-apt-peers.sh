#!/usr/bin/env bash
# Installs the Debian packages the tests drive (docker-registry + htpasswd, dockerd with its built-in
# BuildKit, skopeo, a static busybox for FROM-scratch images, rootlesskit + uidmap for rootless
# BuildKit, mmdebstrap for the offline base image, xz for the BuildKit peer, systemd for
# `systemd-analyze verify` of examples/vm/, util-linux for setpriv in `azp-agent vm`), idempotently:
# `apt-get update` runs only when a package is missing, so a warm machine does no network I/O.
set -euo pipefail
packages=(docker-registry apache2-utils docker.io skopeo busybox-static rootlesskit uidmap mmdebstrap xz-utils curl systemd util-linux)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "peers: apt packages present (${packages[*]})"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "peers: missing apt packages: ${missing[*]} — run as root (or: sudo $0)" >&2
  exit 1
fi
echo "peers: installing apt packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
