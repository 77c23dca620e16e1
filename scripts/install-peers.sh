#!/usr/bin/env bash
# Installs the real third-party software our tests talk to, idempotently:
# a Python venv with Microsoft's Azure DevOps SDK (and later moto, helm, validators).
# Re-running it is cheap: a stamp records the hash of the requirements that were installed.
set -euo pipefail
dest=${1:?usage: install-peers.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
req="$here/peers-requirements.txt"
mkdir -p "$dest"
"$here/install-apt-peers.sh"   # Debian packages: docker-registry, dockerd (BuildKit), skopeo, busybox-static
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
