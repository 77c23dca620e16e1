# Three images from one workspace (production: the Rust builder stage compiles the binaries):
#   docker buildx build --target operator -t azp-operator .
#   docker buildx build --target agent --build-arg AZP_AGENT_SHA256_AMD64=<sha256> -t azp-agent .
#   docker buildx build --platform linux/amd64,linux/arm64 --target agent \
#     --build-arg AZP_AGENT_SHA256_AMD64=<sha256> --build-arg AZP_AGENT_SHA256_ARM64=<sha256> -t … --push .
#   docker buildx build --target buildkit -t azp-buildkit .   # optional: moby/buildkit:v0.32.2-rootless is the default
# Tests build the same stages offline (scripts/build-images.sh): a Debian base made with mmdebstrap
# (AGENT_BASE / OPERATOR_BASE), prebuilt binaries (PREBUILT_DIR), a local agent tarball
# (AZP_AGENT_TARBALL) and local BuildKit binaries (BUILDKIT_DIR).
# No `# syntax=` line on purpose: the frontend built into BuildKit is used, so no frontend image is
# pulled and the file builds offline (it needs nothing newer than RUN --mount).
# Pins live in ARGs at the top so a review (and testbed/deploy-checks/tests/dockerfile.rs) sees them in one place.
ARG RUST_IMAGE=rust:1.95-bookworm
ARG OPERATOR_BASE=gcr.io/distroless/cc-debian12:nonroot
ARG AGENT_BASE=debian:bookworm-slim
# Rootless BuildKit release; the agent image takes only `buildctl` from it (the daemon runs as the sidecar).
ARG BUILDKIT_IMAGE=moby/buildkit:v0.32.2-rootless
# Set to a directory of the build context holding azp-operator and azp-agent built on the host
# (tests use the debug binaries `cargo` already built); empty = compile them in the `build` stage.
ARG PREBUILT_DIR=
# Set to a Microsoft agent tarball in the build context (tests: a tarball of `azp-agent-standin
# install`); empty = download the pinned release for TARGETARCH and check its SHA-256.
ARG AZP_AGENT_TARBALL=
# Set to a directory of the build context holding buildkitd and buildctl (tests); empty = take
# buildctl from BUILDKIT_IMAGE.
ARG BUILDKIT_DIR=

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# Cache mounts keep the crates.io registry and target/ between builds; the binaries are copied
# out of the cache mount, which does not outlive the RUN step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p azp-operator -p azp-agent \
 && install -D -m 0755 target/release/azp-operator /out/azp-operator \
 && install -D -m 0755 target/release/azp-agent /out/azp-agent

# Host-built binaries instead of the `build` stage (selected by PREBUILT_DIR below).
FROM scratch AS build-prebuilt
ARG PREBUILT_DIR
COPY ${PREBUILT_DIR}/azp-operator ${PREBUILT_DIR}/azp-agent /out/

# `build` or `build-prebuilt`: `${X:+word}` is "word" when X is set, "" otherwise.
FROM build${PREBUILT_DIR:+-prebuilt} AS binaries

# ---------------------------------------------------------------------------------------------
# The operator: one binary on distroless (glibc, CA certificates, no shell, no package manager).
FROM ${OPERATOR_BASE} AS operator
COPY --from=binaries /out/azp-operator /azp-operator
# distroless "nonroot" is uid 65532; the chart's securityContext matches it.
USER 65532:65532
ENTRYPOINT ["/azp-operator"]
CMD ["run"]

# ---------------------------------------------------------------------------------------------
# Microsoft's Azure Pipelines agent (github.com/microsoft/azure-pipelines-agent/releases), the
# tarball for the architecture being built. 4.261.0 is the version our Azure DevOps protocol notes
# record. The SHA-256s could NOT be verified offline when this file was written, so there are
# deliberately no defaults: copy them from the release page (each release lists the hashes) — the
# build refuses to run without the one for its architecture.
FROM ${AGENT_BASE} AS agent-tarball
ARG TARGETARCH
ARG AZP_AGENT_VERSION=4.261.0
ARG AZP_AGENT_SHA256_AMD64=
ARG AZP_AGENT_SHA256_ARM64=
ARG AZP_AGENT_URL=https://download.agent.dev.azure.com/agent/${AZP_AGENT_VERSION}
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl
RUN case "${TARGETARCH}" in \
      amd64) arch=x64; sha="${AZP_AGENT_SHA256_AMD64}" ;; \
      arm64) arch=arm64; sha="${AZP_AGENT_SHA256_ARM64}" ;; \
      *) echo "no Azure Pipelines agent for TARGETARCH=${TARGETARCH}" >&2; exit 1 ;; \
    esac \
 && { test -n "${sha}" || { echo "set --build-arg AZP_AGENT_SHA256_$(echo "${TARGETARCH}" | tr a-z A-Z) (see the comment above)" >&2; exit 1; }; } \
 && mkdir -p /out \
 && curl -fsSLo /out/agent.tar.gz "${AZP_AGENT_URL}/vsts-agent-linux-${arch}-${AZP_AGENT_VERSION}.tar.gz" \
 && echo "${sha}  /out/agent.tar.gz" | sha256sum -c -

# A local tarball instead of the download (selected by AZP_AGENT_TARBALL below).
FROM scratch AS agent-tarball-local
ARG AZP_AGENT_TARBALL
COPY ${AZP_AGENT_TARBALL} /out/agent.tar.gz

FROM agent-tarball${AZP_AGENT_TARBALL:+-local} AS agent-dist

# ---------------------------------------------------------------------------------------------
FROM ${BUILDKIT_IMAGE} AS buildkit-release

# buildkitd/buildctl from the build context instead of the release image (BUILDKIT_DIR).
FROM scratch AS buildkit-release-local
ARG BUILDKIT_DIR
COPY ${BUILDKIT_DIR}/buildkitd ${BUILDKIT_DIR}/buildctl /usr/bin/

FROM buildkit-release${BUILDKIT_DIR:+-local} AS buildkit-binaries

# ---------------------------------------------------------------------------------------------
# The agent: Microsoft's agent (.NET: needs glibc, ICU, OpenSSL, Kerberos), buildctl, azp-agent.
# No Docker daemon: images are built by the rootless BuildKit sidecar over a shared unix socket.
FROM ${AGENT_BASE} AS agent
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git libicu72 libkrb5-3 libssl3 zlib1g \
 && useradd --uid 1000 --home-dir /azp --no-create-home --shell /usr/sbin/nologin azp
# uid 1000 owns the agent home: Microsoft's agent writes its registration and _diag logs there.
RUN --mount=type=bind,from=agent-dist,source=/out,target=/dist \
    mkdir -p /azp/agent /azp/_work /azp/.docker \
 && tar -xzf /dist/agent.tar.gz -C /azp/agent \
 && chown -R 1000:1000 /azp
COPY --from=buildkit-binaries /usr/bin/buildctl /usr/local/bin/buildctl
COPY --from=binaries /out/azp-agent /usr/local/bin/azp-agent
ENV DOCKER_CONFIG=/azp/.docker \
    BUILDKIT_HOST=unix:///run/buildkit/buildkitd.sock
WORKDIR /azp
USER 1000:1000
ENTRYPOINT ["/usr/local/bin/azp-agent"]
CMD ["run"]

# ---------------------------------------------------------------------------------------------
# The rootless BuildKit sidecar, equivalent to moby/buildkit:v0.32.2-rootless, from Debian's
# rootlesskit and uidmap, and Debian's runc (buildkitd's OCI worker runs every RUN step with it;
# the release image ships its own as buildkit-runc). newuidmap/newgidmap get FILE CAPABILITIES instead of Debian's setuid
# bit: Debian's setuid build writes uid_map as euid 0, which the kernel refuses inside a
# non-root container (see ../shared/tools/buildkit/README.md "In a pod"). The image layers keep
# the `security.capability` xattrs.
FROM ${AGENT_BASE} AS buildkit
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates rootlesskit uidmap runc libcap2-bin git \
 && chmod u-s /usr/bin/newuidmap /usr/bin/newgidmap \
 && setcap cap_setuid=ep /usr/bin/newuidmap \
 && setcap cap_setgid=ep /usr/bin/newgidmap \
 && apt-get purge -y libcap2-bin \
 && useradd --uid 1000 --create-home --home-dir /home/user --shell /bin/sh user \
 && echo user:100000:65536 > /etc/subuid \
 && echo user:100000:65536 > /etc/subgid \
 && mkdir -p /run/user/1000 /home/user/.local/share/buildkit \
 && chown -R user:user /run/user/1000 /home/user \
 && chmod 0700 /run/user/1000
COPY --from=buildkit-binaries /usr/bin/buildkitd /usr/bin/buildctl /usr/bin/
ENV USER=user \
    HOME=/home/user \
    XDG_RUNTIME_DIR=/run/user/1000 \
    BUILDKIT_HOST=unix:///run/user/1000/buildkit/buildkitd.sock
USER 1000:1000
WORKDIR /home/user
VOLUME /home/user/.local/share/buildkit
ENTRYPOINT ["rootlesskit", "buildkitd"]
