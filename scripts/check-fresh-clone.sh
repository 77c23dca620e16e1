#!/usr/bin/env bash
# check-fresh-clone.sh: a test of the tests. Clones this repository into an empty directory with no
# shared/ beside it and shows that
#   1. with nothing provided, `make peer-files` stops with one message naming the missing file and
#      the three ways to provide it;
#   2. with AZP_ADO_SPEC and AZP_BUILDKIT_DIR pointing at copies, it fills the clone's .cache/peers,
#      and the tests that read those files (OpenAPI conformance, a real BuildKit build) pass reading
#      them from there (the test binaries are the ones `make test` just built; they read peers only
#      through AZP_PEERS_DIR).
# Needs this checkout's .cache/peers (make peers) and its test build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
peers=${AZP_PEERS_DIR:-$repo/.cache/peers}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "check-fresh-clone: FAILED: $*" >&2; exit 1; }

git clone -q --no-hardlinks "$repo" "$tmp/clone"
[ ! -e "$tmp/shared" ] || fail "$tmp/shared exists"
clean_env=(env -u AZP_ADO_SPEC -u AZP_BUILDKIT_DIR -u AZP_SHARED_DIR -u AZP_PEERS_DIR AZP_PEERS_OFFLINE=1)

# 1. Nothing provided: one clear message, nothing half-written.
if out=$("${clean_env[@]}" make -s -C "$tmp/clone" peer-files 2>&1); then
  fail "make peer-files succeeded with no source: $out"
fi
for want in "cannot provide ado-spec/taskAgent-7.1.json" "set AZP_ADO_SPEC=" "beside the checkout" "upstream download"; do
  grep -qF "$want" <<<"$out" || fail "message lacks '$want': $out"
done
[ ! -e "$tmp/clone/.cache/peers/ado-spec/taskAgent-7.1.json" ] || fail "a spec appeared without a source"
echo "check-fresh-clone: nothing provided -> stops with: $(head -n1 <<<"$out")"

# 2. Both variables set, pointing at copies outside any checkout.
mkdir -p "$tmp/copies/buildkit"
cp "$peers/ado-spec/taskAgent-7.1.json" "$tmp/copies/spec.json"
cp "$peers/buildkit/buildkitd" "$peers/buildkit/buildctl" "$tmp/copies/buildkit/"
"${clean_env[@]}" AZP_ADO_SPEC="$tmp/copies/spec.json" AZP_BUILDKIT_DIR="$tmp/copies/buildkit" \
  make -s -C "$tmp/clone" peer-files
clone_peers=$tmp/clone/.cache/peers
cmp -s "$clone_peers/ado-spec/taskAgent-7.1.json" "$tmp/copies/spec.json" || fail "spec not provided"
"$clone_peers/buildkit/buildctl" --version | grep -q v0.32.2 || fail "buildctl not provided"

# The tests that read peer files, run from the clone against the clone's .cache/peers only
# (AZP_PEERS_DIR points there): the OpenAPI conformance tests (the spec) and a real rootless
# BuildKit build (buildkitd, buildctl). `make peers`' pip and helm steps take minutes, so the
# clone borrows this checkout's venv (moto) by a link; the files under test are the clone's own.
ln -s "$peers/venv" "$clone_peers/venv"
bins=$(cd "$repo" && cargo test --workspace --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
want = set(sys.argv[1:])
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in want and "test" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])
' openapi_conformance build_push_buildkit)
[ "$(wc -l <<<"$bins")" = 2 ] || fail "test binaries for the peer-file tests not found: $bins"
while read -r name bin; do
  filter=()
  [ "$name" = build_push_buildkit ] && filter=(a_multi_stage_build_is_streamed_pushed_and_its_digest_is_the_registrys --exact)
  (cd "$tmp/clone" && env -u AZP_SHARED_DIR AZP_PEERS_DIR="$clone_peers" "$bin" "${filter[@]}" -q >"$tmp/out" 2>&1) ||
    { cat "$tmp/out" >&2; fail "$name failed in the clone"; }
  passed=$(grep -oE '[0-9]+ passed' "$tmp/out" | tail -n1)
  [ "${passed%% *}" -ge 1 ] || fail "$name ran no test in the clone"
  echo "check-fresh-clone: $name in the clone: $passed"
done <<<"$bins"
echo "check-fresh-clone: ok"
