//! Runs a rendered Kubernetes [`Pod`](k8s_openapi::api::core::v1::Pod) under Debian's dockerd
//! the way a kubelet would, so a test sees what a real node would do with the real images: a
//! missing directory, a file uid 1000 cannot write, a volume with the wrong mode, an
//! entrypoint that does not exist.
//!
//! What is emulated (see [`plan`] for the exact `docker create` arguments):
//! - order: init containers one by one (each must exit 0); native sidecars (init containers
//!   with `restartPolicy: Always`) start in place and, if they have a `startupProbe` (exec),
//!   hold back what follows until it succeeds; then the main containers; when they have all
//!   exited the sidecars get SIGTERM (in reverse order);
//! - `command`/`args` with Kubernetes' ENTRYPOINT/CMD rules and `$(VAR)` expansion; `env`
//!   values, `$(VAR)` in them, and `fieldRef` for `metadata.name`, `metadata.namespace`,
//!   `metadata.uid`, `spec.nodeName`, `status.podIP`; `workingDir`;
//! - `runAsUser`/`runAsGroup` (container over pod), `fsGroup` and `supplementalGroups` as
//!   supplementary groups, `runAsNonRoot` (refused for uid 0, also an image's numeric USER);
//!   `capabilities.drop`/`add`, `privileged`, `allowPrivilegeEscalation: false`
//!   (`no-new-privileges`), `readOnlyRootFilesystem`, seccomp and AppArmor `Unconfined`;
//! - volumes as host directories bind-mounted at each `mountPath` (`subPath`, `readOnly`):
//!   `emptyDir` is mode 0777 + setgid owned by root:fsGroup like the kubelet's; Secret and
//!   ConfigMap volumes are files written from data the caller supplies, with `defaultMode`/item
//!   `mode`, owned by root and, with an fsGroup, by that group with group read added (what the
//!   kubelet's ownership pass does to a 0400 file: 0440 root:fsGroup), mounted read-only;
//! - the termination message: a 0666 file bind-mounted at `terminationMessagePath`, read after
//!   the container exits (`FallbackToLogsOnError` falls back to the log tail);
//! - `resources.limits` cpu and memory.
//!
//! What is NOT emulated: the pod network namespace (containers use the host network, so
//! `localhost` is shared as in a pod, but so are the host's ports, and there is no pod IP:
//! `status.podIP` is 127.0.0.1), the pod hostname, image pulls and `imagePullPolicy` (images
//! must be loaded), restarts (`restartPolicy` of the pod and of sidecars), liveness and
//! readiness probes, `preStop`/`postStart` hooks, projected and downward-API volumes, the
//! service-account token, `hostAliases`, DNS settings, sysctls, `procMount`, user namespaces,
//! supplementary groups from the image's `/etc/group`, cgroup settings other than the two
//! limits, the `activeDeadlineSeconds` deadline, and `terminationGracePeriodSeconds` beyond the
//! sidecar stop timeout.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod docker;
pub mod plan;
pub mod runner;
pub mod volumes;

pub use docker::Docker;
pub use plan::{ContainerKind, ContainerPlan, PlanError, plan_pod};
pub use runner::{ContainerResult, PodRun, PodRunner, RunError};
pub use volumes::{PodVolumes, SourceData};
