#!/usr/bin/env bash
# peer-files.sh DEST: provides every external file the tests read, in DEST (.cache/peers), from the
# first source that has it:
#   1. an explicit variable: AZP_ADO_SPEC (the spec file), AZP_BUILDKIT_DIR (a directory holding
#      buildkitd and buildctl, plain or as the .xz files of shared/tools/buildkit);
#   2. the shared/ directory beside the checkout (AZP_SHARED_DIR, default ../shared), when present;
#   3. the upstream download (skipped when AZP_PEERS_OFFLINE=1).
# Tests read only DEST. A file already in DEST that passes its check is kept (a second run does no I/O).
# When no source has a file, this stops with one message naming the file and the three ways to provide it.
set -euo pipefail
dest=${1:?usage: peer-files.sh DEST}
here=$(cd "$(dirname "$0")" && pwd)
shared=${AZP_SHARED_DIR:-$(cd "$here/../.." && pwd)/shared}
offline=${AZP_PEERS_OFFLINE:-0}
mkdir -p "$dest"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# --- Microsoft's OpenAPI spec of the task-agent API (MIT) --------------------------------------
# Pinned by content: the SHA-256 of taskAgent.json at vsts-rest-api-specs commit $spec_commit.
spec_sha256=730ac81a113a16a942eb1f7c04310443e65a4f09c10e6e0deac9d49ca2396cfb
spec_commit=74799f9a7c9d95524cd5ad238e5441de869bb06f
spec_url=https://raw.githubusercontent.com/MicrosoftDocs/vsts-rest-api-specs/$spec_commit/specification/distributedTask/7.1/taskAgent.json
spec_dest=$dest/ado-spec/taskAgent-7.1.json

spec_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$spec_sha256" ]; }

provide_spec() {
  spec_ok "$spec_dest" && { echo "peers: ado-spec present ($spec_dest)"; return 0; }
  mkdir -p "$dest/ado-spec"
  local candidate
  for candidate in "${AZP_ADO_SPEC:-}" "$shared/ado-spec/taskAgent-7.1.json"; do
    [ -n "$candidate" ] && [ -f "$candidate" ] || continue
    if spec_ok "$candidate"; then
      install -m 0644 "$candidate" "$spec_dest"
      local licence; licence=$(dirname "$candidate")/LICENSE
      [ -f "$licence" ] && install -m 0644 "$licence" "$dest/ado-spec/LICENSE"
      echo "peers: ado-spec from $candidate"
      return 0
    fi
    echo "peers: $candidate does not have SHA-256 $spec_sha256; skipped" >&2
  done
  if [ "$offline" != 1 ] && curl -fsSL --max-time 60 -o "$spec_dest.tmp" "$spec_url" 2>/dev/null \
    && spec_ok "$spec_dest.tmp"; then
    mv "$spec_dest.tmp" "$spec_dest"
    echo "peers: ado-spec downloaded from vsts-rest-api-specs@$spec_commit"
    return 0
  fi
  rm -f "$spec_dest.tmp"
  missing "ado-spec/taskAgent-7.1.json (Microsoft's task-agent OpenAPI spec, SHA-256 $spec_sha256)" \
    "AZP_ADO_SPEC=/path/to/taskAgent-7.1.json" "$shared/ado-spec/taskAgent-7.1.json" "$spec_url"
}

# --- BuildKit v0.32.2 (Apache-2.0) ---------------------------------------------------------------
bk_version=v0.32.2
bk_commit=991535e0973488b6a429096d21fa13f81f2d89d8
bk_url=https://github.com/moby/buildkit/releases/download/$bk_version/buildkit-$bk_version.linux-amd64.tar.gz
bk_dest=$dest/buildkit

# Upstream publishes no checksum we could confirm here, so the binaries are accepted by what they
# report: the release tag and the commit it was built from.
bk_ok() {
  local dir=$1 b
  for b in buildkitd buildctl; do
    [ -x "$dir/$b" ] || return 1
    "$dir/$b" --version 2>/dev/null | grep -q " $bk_version $bk_commit\$" || return 1
  done
}

install_bk() { # DIR with plain binaries
  mkdir -p "$bk_dest"
  install -m 0755 "$1/buildkitd" "$bk_dest/buildkitd.tmp" && mv "$bk_dest/buildkitd.tmp" "$bk_dest/buildkitd"
  install -m 0755 "$1/buildctl" "$bk_dest/buildctl.tmp" && mv "$bk_dest/buildctl.tmp" "$bk_dest/buildctl"
}

provide_buildkit() {
  bk_ok "$bk_dest" && { echo "peers: buildkit $bk_version present ($bk_dest)"; return 0; }
  local candidate
  for candidate in "${AZP_BUILDKIT_DIR:-}" "$shared/tools/buildkit"; do
    [ -n "$candidate" ] && [ -d "$candidate" ] || continue
    if [ -f "$candidate/buildkitd.xz" ] && [ -f "$candidate/unpack.sh" ]; then
      sh "$candidate/unpack.sh" "$tmp/bin" >/dev/null || continue
    elif [ -f "$candidate/buildkitd" ]; then
      mkdir -p "$tmp/bin" && cp "$candidate/buildkitd" "$candidate/buildctl" "$tmp/bin/"
    else
      continue
    fi
    if bk_ok "$tmp/bin"; then
      install_bk "$tmp/bin"
      [ -f "$candidate/LICENSE" ] && install -m 0644 "$candidate/LICENSE" "$bk_dest/LICENSE"
      echo "peers: buildkit $bk_version from $candidate"
      return 0
    fi
    echo "peers: $candidate does not hold buildkit $bk_version ($bk_commit); skipped" >&2
    rm -rf "$tmp/bin"
  done
  if [ "$offline" != 1 ] && curl -fsSL --max-time 300 -o "$tmp/bk.tgz" "$bk_url" 2>/dev/null \
    && tar -xzf "$tmp/bk.tgz" -C "$tmp" bin/buildkitd bin/buildctl && bk_ok "$tmp/bin"; then
    install_bk "$tmp/bin"
    echo "peers: buildkit $bk_version downloaded (checked by its reported version and commit, not a checksum)"
    return 0
  fi
  missing "buildkit/{buildkitd,buildctl} (BuildKit $bk_version, commit $bk_commit)" \
    "AZP_BUILDKIT_DIR=/dir/with/buildkitd-and-buildctl" "$shared/tools/buildkit/" "$bk_url"
}

missing() {
  cat >&2 <<EOF
peers: cannot provide $1. Tests read it from $dest. Provide it in one of three ways:
  1. set $2
  2. put the project's shared/ directory beside the checkout ($3)
  3. allow the upstream download (unset AZP_PEERS_OFFLINE; needs $4)
EOF
  exit 1
}

provide_spec
provide_buildkit
