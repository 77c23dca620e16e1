# syntax=docker/dockerfile:1.7
# Two images from one workspace:
#   docker buildx build --target operator -t azp-operator .
#   docker buildx build --target agent --build-arg AZP_AGENT_SHA256=<sha256 of the tarball> -t azp-agent .
# Pins live in ARGs at the top so a review (and testbed/deploy-checks/tests/dockerfile.rs) sees them in one place.
ARG RUST_IMAGE=rust:1.95-bookworm
ARG OPERATOR_BASE=gcr.io/distroless/cc-debian12:nonroot
ARG AGENT_BASE=debian:bookworm-slim
# Rootless BuildKit release; the agent image takes only `buildctl` from it (the daemon runs as the sidecar).
ARG BUILDKIT_IMAGE=moby/buildkit:v0.32.2-rootless

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

# ---------------------------------------------------------------------------------------------
# The operator: one static-ish binary on distroless (glibc, CA certificates, no shell, no package manager).
FROM ${OPERATOR_BASE} AS operator
COPY --from=build /out/azp-operator /azp-operator
# distroless "nonroot" is uid 65532; the chart's securityContext matches it.
USER 65532:65532
ENTRYPOINT ["/azp-operator"]
CMD ["run"]

# ---------------------------------------------------------------------------------------------
FROM ${BUILDKIT_IMAGE} AS buildkit

# ---------------------------------------------------------------------------------------------
# The agent: Microsoft's Azure Pipelines agent (.NET: needs glibc, ICU, OpenSSL, Kerberos), buildctl, azp-agent.
# No Docker daemon: images are built by the rootless BuildKit sidecar over a shared unix socket.
FROM ${AGENT_BASE} AS agent
# Microsoft's agent release (github.com/microsoft/azure-pipelines-agent/releases). 4.261.0 is the version
# our Azure DevOps protocol notes record (../shared/reference/ado-protocol.md).
ARG AZP_AGENT_VERSION=4.261.0
# The SHA-256 of vsts-agent-linux-x64-${AZP_AGENT_VERSION}.tar.gz. It could NOT be verified offline when this
# file was written, so there is deliberately no default: copy it from the release page above (each release
# lists the hashes) and pass --build-arg AZP_AGENT_SHA256=... — the build refuses to run without it.
ARG AZP_AGENT_SHA256=
ARG AZP_AGENT_URL=https://download.agent.dev.azure.com/agent/${AZP_AGENT_VERSION}/vsts-agent-linux-x64-${AZP_AGENT_VERSION}.tar.gz
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    { test -n "${AZP_AGENT_SHA256}" || { echo "set --build-arg AZP_AGENT_SHA256 (see the comment above)" >&2; exit 1; }; } \
 && rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl git libicu72 libkrb5-3 libssl3 zlib1g \
 && curl -fsSLo /tmp/agent.tar.gz "${AZP_AGENT_URL}" \
 && echo "${AZP_AGENT_SHA256}  /tmp/agent.tar.gz" | sha256sum -c - \
 && mkdir -p /azp/agent /azp/_work /azp/.docker \
 && tar -xzf /tmp/agent.tar.gz -C /azp/agent \
 && rm /tmp/agent.tar.gz \
 && useradd --uid 1000 --home-dir /azp --no-create-home --shell /usr/sbin/nologin azp \
 && chown -R 1000:1000 /azp
COPY --from=buildkit /usr/bin/buildctl /usr/local/bin/buildctl
COPY --from=build /out/azp-agent /usr/local/bin/azp-agent
ENV DOCKER_CONFIG=/azp/.docker \
    BUILDKIT_HOST=unix:///run/buildkit/buildkitd.sock
WORKDIR /azp
USER 1000:1000
ENTRYPOINT ["/usr/local/bin/azp-agent"]
CMD ["run"]
