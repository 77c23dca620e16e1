#!/usr/bin/env bash
# Builds the agent, operator and BuildKit images from the Dockerfile OFFLINE, for tests:
#   - base: a minimal Debian bookworm made with mmdebstrap from this host's apt sources, `docker import`ed;
#   - binaries: the debug binaries cargo already built for the tests (no release build), debug info stripped;
#   - Microsoft's agent: a tarball of `azp-agent-standin install /azp/agent` (AZP_AGENT_TARBALL);
#   - BuildKit: $AZP_PEERS_DIR/buildkit/{buildkitd,buildctl} (BUILDKIT_DIR).
# Every output is cached under OUT keyed by the hash of its inputs, so a second run only hashes
# files. The images are `docker save`d into OUT; OUT/images.env names them (tests `docker load` them).
#
# usage: build-images.sh [--prepare] [OUT]     (default: .cache/images next to this script's checkout)
#   --prepare: only what needs no Rust binary (the base and the BuildKit image), so `make test` can
#              run it in the background while cargo compiles; a later full run waits on the lock.
# env:   AZP_PEERS_DIR (default .cache/peers), AZP_BIN_DIR (default $CARGO_TARGET_DIR/debug or target/debug)
set -euo pipefail
prepare=0
if [ "${1:-}" = --prepare ]; then prepare=1; shift; fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$root/.cache/images}
peers=${AZP_PEERS_DIR:-$root/.cache/peers}
bin=${AZP_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/debug}
docker_cli=/usr/bin/docker   # Debian's 20.10 client: BuildKit builds without buildx
suite=bookworm
# Packages beyond minbase: none. The Dockerfile's own apt-get steps install what each image needs,
# so this build checks that the Dockerfile's package lists are complete.
base_packages=""
mkdir -p "$out"
log() { printf 'images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
hash_files() { sha256sum "$@" | sha256sum | cut -c1-16; }
hash_text() { printf '%s' "$1" | sha256sum | cut -c1-16; }

for tool in mmdebstrap /usr/sbin/dockerd "$docker_cli" strip; do
  command -v "$tool" >/dev/null || die "$tool is missing: run \`make peers\`"
done
for file in "$bin/azp-agent" "$bin/azp-operator" "$bin/azp-agent-standin"; do
  [ "$prepare" = 1 ] && break
  [ -x "$file" ] || die "$file is missing: build the workspace first (\`cargo build -p azp-agent -p azp-operator -p azp-ado-emulator\`)"
done
for file in "$peers/buildkit/buildkitd" "$peers/buildkit/buildctl"; do
  [ -x "$file" ] || die "$file is missing: run \`make peers\`"
done

# Only one build at a time per cache (the private dockerd below owns OUT/docker).
exec 9>"$out/.lock"
flock 9

# --- 1. the Debian base ------------------------------------------------------------------------
sources=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$sources" ] || sources=$(cat /etc/apt/sources.list)
base_key=$(hash_text "v1 $suite minbase [$base_packages] $sources")
base_tar="$out/base-$base_key.tar"
if [ ! -f "$base_tar" ]; then
  log "mmdebstrap $suite (key $base_key)"
  started=$SECONDS
  include=()
  [ -n "$base_packages" ] && include=(--include="$base_packages")
  # Documentation, man pages and locales are of no use in a container.
  printf '%s\n' "$sources" | mmdebstrap --variant=minbase --quiet "${include[@]}" \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$suite" "$out/partial-base.tar" -   # mmdebstrap picks the format by the .tar suffix
  mv "$out/partial-base.tar" "$base_tar"
  log "mmdebstrap took $((SECONDS - started)) s"
fi
base_tag="azp-test/debian:$suite-$base_key"

# --- 2. the build context: stripped binaries, the stand-in agent tarball, BuildKit ----------------
buildkit_key=$(hash_files "$peers/buildkit/buildkitd" "$peers/buildkit/buildctl")
dockerfile_key=$(hash_files "$root/Dockerfile")
declare -A keys=([buildkit]=$(hash_text "$dockerfile_key $base_key $buildkit_key"))
targets=(buildkit)
if [ "$prepare" = 0 ]; then
  bin_key=$(hash_files "$bin/azp-agent" "$bin/azp-operator")
  standin_key=$(hash_files "$bin/azp-agent-standin")
  keys[agent]=$(hash_text "$dockerfile_key $base_key $bin_key $standin_key $buildkit_key")
  keys[operator]=$(hash_text "$dockerfile_key $base_key $bin_key")
  targets=(agent operator buildkit)
fi
todo=()
for target in "${targets[@]}"; do
  [ -f "$out/$target-${keys[$target]}.tar" ] || todo+=("$target")
done

write_env() {
  {
    for target in agent operator buildkit; do
      echo "AZP_IMAGE_${target^^}=azp-test/$target:${keys[$target]}"
      echo "AZP_IMAGE_${target^^}_TAR=$out/$target-${keys[$target]}.tar"
    done
  } >"$out/images.env.tmp"
  mv "$out/images.env.tmp" "$out/images.env"
}
if [ ${#todo[@]} -eq 0 ] && [ "$prepare" = 1 ]; then
  log "base and buildkit image up to date"
  exit 0
fi
if [ ${#todo[@]} -eq 0 ]; then
  write_env
  log "all images up to date ($out/images.env)"
  exit 0
fi

# --- 3. a private dockerd whose data root (and BuildKit cache) persists in OUT/docker -------------
run_dir=$(mktemp -d /tmp/azpimg.XXXXXX)   # short: unix socket paths are limited to 108 bytes
dockerd_pid=
cleanup() {
  if [ -n "$dockerd_pid" ]; then
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$run_dir"
}
trap cleanup EXIT
/usr/sbin/dockerd --data-root "$out/docker" --exec-root "$run_dir/exec" --pidfile "$run_dir/dockerd.pid" \
  -H "unix://$run_dir/docker.sock" --iptables=false --ip6tables=false --bridge=none \
  --storage-driver=overlay2 >"$out/dockerd.log" 2>&1 &
dockerd_pid=$!
docker() { DOCKER_CONFIG="$run_dir/cli" "$docker_cli" -H "unix://$run_dir/docker.sock" "$@"; }
for _ in $(seq 1 300); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker version >/dev/null || die "dockerd did not start (see $out/dockerd.log)"

if ! docker image inspect "$base_tag" >/dev/null 2>&1; then
  log "docker import $base_tag"
  docker import "$base_tar" "$base_tag" >/dev/null
fi

ctx="$run_dir/context"
mkdir -p "$ctx/bin" "$ctx/buildkit" "$ctx/agent/bin"
cp "$peers/buildkit/buildkitd" "$peers/buildkit/buildctl" "$ctx/buildkit/"
touch "$ctx/agent.tar.gz"
if [ "$prepare" = 0 ]; then
for name in azp-agent azp-operator; do
  strip --strip-debug -o "$ctx/bin/$name" "$bin/$name"
done
agent_tarball="$out/standin-agent-$standin_key-$base_key.tar.gz"
if [ ! -f "$agent_tarball" ]; then
  # `install` writes config.sh/run.sh that exec the binary by its absolute path, so it runs where
  # the image will have it: /azp/agent/bin/azp-agent-standin, as the real tarball's bin/ does.
  strip --strip-debug -o "$ctx/agent/bin/azp-agent-standin" "$bin/azp-agent-standin"
  docker run --rm --network none -v "$ctx/agent:/azp/agent" "$base_tag" \
    /azp/agent/bin/azp-agent-standin install /azp/agent >/dev/null
  tar -czf "$agent_tarball.tmp" -C "$ctx/agent" --owner=0 --group=0 .
  mv "$agent_tarball.tmp" "$agent_tarball"
fi
cp "$agent_tarball" "$ctx/agent.tar.gz"
fi

# --- 4. the images ------------------------------------------------------------------------------
for target in "${todo[@]}"; do
  tag="azp-test/$target:${keys[$target]}"
  log "docker build --target $target -t $tag"
  started=$SECONDS
  DOCKER_BUILDKIT=1 docker build --network host --progress plain --target "$target" \
    --build-arg AGENT_BASE="$base_tag" --build-arg OPERATOR_BASE="$base_tag" \
    --build-arg PREBUILT_DIR=bin --build-arg AZP_AGENT_TARBALL=agent.tar.gz \
    --build-arg BUILDKIT_DIR=buildkit \
    -f "$root/Dockerfile" -t "$tag" "$ctx" >"$out/build-$target.log" 2>&1 \
    || { tail -n 40 "$out/build-$target.log" >&2; die "docker build --target $target failed (log: $out/build-$target.log)"; }
  docker save -o "$out/$target-${keys[$target]}.tar.tmp" "$tag"
  mv "$out/$target-${keys[$target]}.tar.tmp" "$out/$target-${keys[$target]}.tar"
  log "$target built in $((SECONDS - started)) s"
done
if [ "$prepare" = 1 ]; then
  log "prepared: base and buildkit image"
  exit 0
fi
# Old keys' archives and images are dead weight (the BuildKit cache in OUT/docker keeps what is
# reusable, capped so the cache does not grow without bound).
for target in agent operator buildkit; do
  find "$out" -maxdepth 1 -name "$target-*.tar" ! -name "$target-${keys[$target]}.tar" -delete
  docker images --format '{{.Repository}}:{{.Tag}}' "azp-test/$target" | grep -vx "azp-test/$target:${keys[$target]}" \
    | xargs -r docker rmi >/dev/null 2>&1 || true
done
find "$out" -maxdepth 1 -name 'standin-agent-*.tar.gz' ! -name "standin-agent-$standin_key-$base_key.tar.gz" -delete
docker builder prune -f --keep-storage 3gb >/dev/null 2>&1 || true
write_env
log "images ready ($out/images.env)"
