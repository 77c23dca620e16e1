#!/usr/bin/env bash
# Installs the real third-party software our tests talk to, idempotently:
# the files tests read (scripts/peer-files.sh), Debian packages, the rootless BuildKit user, a Python
# venv with Microsoft's Azure DevOps SDK, moto and validators, and helm/kubectl.
# Re-running it is cheap: a stamp records the hash of the requirements that were installed.
set -euo pipefail
dest=${1:?usage: install-peers.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
req="$here/peers-requirements.txt"
mkdir -p "$dest"
"$here/peer-files.sh" "$dest"  # files the tests read: the OpenAPI spec, BuildKit (first, so a missing one stops early)
"$here/install-apt-peers.sh"   # Debian packages: docker-registry, dockerd, skopeo, busybox-static, rootlesskit, uidmap, mmdebstrap
"$here/build-user.sh"          # the non-root user that runs rootless BuildKit in tests
stamp="$dest/venv/.installed-$(sha256sum "$req" | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "peers: python venv up to date ($dest/venv)"
else
  echo "peers: installing python packages into $dest/venv"
  rm -rf "$dest/venv"
  python3 -m venv "$dest/venv"
  "$dest/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  touch "$stamp"
fi
"$here/get-helm.sh" "$dest/bin"
