#!/usr/bin/env bash
# build-user.sh: the non-root user that runs rootless BuildKit in tests, as the sidecar's user does in
# the pod (tests run as root in CI; rootless BuildKit refuses to be root). Needs subordinate uid/gid
# ranges for its user namespace. Idempotent; does nothing when not root (then tests run BuildKit as
# the current user, who needs ranges in /etc/subuid and /etc/subgid).
set -euo pipefail
user=${AZP_BUILD_USER:-azpbuild}
[ "$(id -u)" -eq 0 ] || { echo "peers: not root; rootless BuildKit runs as $(id -un)"; exit 0; }
if ! id "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh "$user"
  echo "peers: created user $user"
fi
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  if ! grep -q "^$user:" "$f"; then
    # A range no other user's map overlaps: past every existing range.
    start=$(awk -F: 'BEGIN{m=200000} {e=$2+$3; if (e>m) m=e} END{print m}' "$f")
    echo "$user:$start:65536" >> "$f"
  fi
done
echo "peers: rootless BuildKit user $user ($(grep -m1 "^$user:" /etc/subuid | cut -d: -f2-) in /etc/subuid)"
