//! `AgentPool.spec`.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::schedule::{StandbySchedule, scheduled_min_idle};
use super::status::AgentPoolStatus;
use super::view::ViewError;
use crate::duration::{DurationError, parse_go_duration};
use crate::plan::ScalingPolicy;

/// Go `time.ParseDuration` syntax without a sign (RE2). Checked before `duration()` in the
/// CEL rules so that a malformed value gets the rule's message rather than an evaluation
/// error; `&&` short-circuits the error away.
macro_rules! go_duration_pattern {
    () => {
        "^[+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|\u{b5}s|\u{3bc}s|ms|s|m|h))+)$"
    };
}

/// Image used for the BuildKit sidecar when `spec.buildkit.image` is not set.
pub const DEFAULT_BUILDKIT_IMAGE: &str = "moby/buildkit:v0.32.2-rootless";
/// Image of the `privileged` mode's sidecar when `spec.buildkit.image` is the rootless default.
pub const DEFAULT_PRIVILEGED_BUILDKIT_IMAGE: &str = "moby/buildkit:v0.32.2";

/// Desired state of an AgentPool: which Azure DevOps pool to serve and how agent pods look.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "azp.dev",
    version = "v1alpha1",
    kind = "AgentPool",
    namespaced,
    status = "AgentPoolStatus",
    shortname = "azp",
    category = "ci",
    derive = "PartialEq",
    doc = "Ephemeral Azure Pipelines agents: one pod per job, scaled from the Azure DevOps queue.",
    // The name becomes the value of the azp.dev/pool label on every agent pod.
    validation = kube::core::Rule::new("self.metadata.name.size() <= 63").message("name must be at most 63 characters: it is the value of the azp.dev/pool pod label"),
    // Without a PAT only the operator can register agents (the `register` init container
    // of `registration: pod` runs config.sh with the PAT).
    validation = kube::core::Rule::new("!has(self.spec.auth.workloadIdentity) || !has(self.spec.registration) || self.spec.registration == 'operator'").message("auth.workloadIdentity needs registration: operator (registration: pod runs config.sh with a PAT)"),
    printcolumn = r#"{"name":"Pool","type":"string","jsonPath":".spec.pool","description":"Azure DevOps agent pool"}"#,
    printcolumn = r#"{"name":"Queued","type":"integer","jsonPath":".status.queued","description":"Pending jobs counted for this AgentPool"}"#,
    printcolumn = r#"{"name":"Running","type":"integer","jsonPath":".status.running","description":"Agents running a job"}"#,
    printcolumn = r#"{"name":"Idle","type":"integer","jsonPath":".status.idle","description":"Online agents waiting for a job"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","jsonPath":".spec.scaling.maxAgents","description":"Upper bound on agent pods"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Ready condition"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AgentPoolSpec {
    /// Azure DevOps organization or collection URL, e.g. `https://dev.azure.com/contoso`.
    /// Must be `https://`. Plain `http://` is accepted by the schema only for loopback hosts
    /// (`127.0.0.1`, `localhost`) used by local sandboxes, and the operator still refuses it
    /// unless started with `--allow-insecure-http`.
    // Why two layers: the schema cannot know how the operator was started, and rejecting
    // loopback http at admission would make local sandboxes impossible; refusing it again in
    // the operator (check_organization_url) means a typo can never send a PAT in clear text
    // to a production cluster's operator.
    // `startsWith('http://')` rather than `getScheme() == 'http'`: same meaning under the
    // apiserver's Go CEL, but kube-cel 0.8 reports an empty scheme for http://localhost URLs
    // and the unit tests evaluate the rules with kube-cel.
    #[x_kube(validation = kube::core::Rule::new(
        "isURL(self) && url(self).getHostname() != '' && (url(self).getScheme() == 'https' || (self.startsWith('http://') && url(self).getHostname() in ['127.0.0.1', 'localhost']))"
    ).message("must be an https:// URL (http:// only for 127.0.0.1 or localhost)"))]
    #[schemars(length(max = 2048))]
    pub organization: String,

    /// Name of the Azure DevOps agent pool (organization level) that agents register into.
    /// Several AgentPools may share one Azure DevOps pool; each pending job is then counted
    /// for exactly one of them, the most specific one whose capabilities satisfy its demands.
    #[x_kube(validation = kube::core::Rule::new("self.size() > 0").message("must not be empty"))]
    #[schemars(length(max = 256))]
    pub pool: String,

    /// How the operator and the agents authenticate to Azure DevOps.
    pub auth: AuthSpec,

    /// Who registers each pod's agent: `operator` (default) registers it from the operator
    /// and gives the pod only that agent's key, in a per-pod Secret; `pod` runs `config.sh`
    /// with the PAT in a `register` init container of the pod.
    #[serde(default)]
    pub registration: super::registration::Registration,

    /// User capabilities every agent of this AgentPool advertises (name → value). Jobs are
    /// routed to AgentPools by their demands against these. `AZP_AGENTPOOL` is reserved: the
    /// operator sets it to `<namespace>/<name>` to prove ownership of registrations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = kube::core::Rule::new("!('AZP_AGENTPOOL' in self)").message("AZP_AGENTPOOL is reserved for the operator"))]
    #[schemars(extend("maxProperties" = 64))]
    pub capabilities: BTreeMap<String, String>,

    /// How many agent pods to keep and when to remove idle ones.
    #[serde(default)]
    pub scaling: ScalingSpec,

    /// The agent container.
    pub agent: AgentSpec,

    /// Rootless BuildKit sidecar for container image builds.
    #[serde(default)]
    pub buildkit: BuildkitSpec,

    /// Amazon ECR login performed by the agent before the job (with the pod's own AWS
    /// identity: IRSA or EKS Pod Identity). Omit when jobs do not push images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr: Option<EcrSpec>,

    /// PEM CA bundle trusted by the operator and the agents, for an Azure DevOps Server behind
    /// a private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundleSource>,

    /// Pod template (PodTemplateSpec shape: `metadata`, `spec`) merged onto the generated agent
    /// pod, e.g. node selectors, tolerations, service account, extra volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::preserve_unknown_object")]
    pub template: Option<serde_json::Value>,
}

/// Credentials for Azure DevOps. Exactly one method must be set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.patSecretRef) != has(self.workloadIdentity)").message("set exactly one of patSecretRef or workloadIdentity"))]
pub struct AuthSpec {
    /// Secret in the AgentPool's namespace holding a personal access token with
    /// "Agent Pools (Read & manage)" scope. Read by the operator; with `registration: pod`
    /// also mounted into the `register` init container as a file, never an environment
    /// variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pat_secret_ref: Option<SecretKeyReference>,
    /// Microsoft Entra workload identity instead of a PAT: the operator exchanges a
    /// Kubernetes service account token for an Entra access token and calls Azure DevOps as
    /// that application's service principal. Needs `registration: operator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentity>,
}

/// A Microsoft Entra application that trusts this cluster's service account tokens through
/// a federated identity credential.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentity {
    /// Directory (tenant) ID of the Entra tenant that owns the application, a GUID.
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("must be a tenant ID (GUID)"))]
    #[schemars(length(max = 36))]
    pub tenant_id: String,
    /// Application (client) ID of the app registration whose federated credential trusts the
    /// service account, a GUID. Its service principal must be a user of the organization and
    /// an Administrator of the agent pool.
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("must be an application (client) ID (GUID)"))]
    #[schemars(length(max = 36))]
    pub client_id: String,
    /// Service account in the AgentPool's namespace whose token the operator requests
    /// (audience `api://AzureADTokenExchange`); the federated credential's subject is
    /// `system:serviceaccount:<namespace>:<serviceAccountName>`. It is not mounted into
    /// agent pods.
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("must be a service account name (DNS subdomain)"))]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: String,
}

/// A key of a Secret in the AgentPool's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyReference {
    /// Name of the Secret.
    #[x_kube(validation = kube::core::Rule::new("self.size() > 0").message("must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[serde(default = "default_token_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A key of a Secret or ConfigMap in the AgentPool's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyReference {
    /// Name of the Secret or ConfigMap.
    #[x_kube(validation = kube::core::Rule::new("self.size() > 0").message("must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Key holding the PEM bundle.
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Where the CA bundle comes from. Exactly one source must be set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.secretRef) != has(self.configMapRef)").message("set exactly one of secretRef or configMapRef"))]
pub struct CaBundleSource {
    /// Secret holding the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<KeyReference>,
    /// ConfigMap holding the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<KeyReference>,
}

/// Scaling bounds and timings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.minIdle <= self.maxAgents").message("minIdle must not exceed maxAgents"))]
pub struct ScalingSpec {
    /// Idle agents kept ready beyond the pending jobs (a warm pool). 0 scales to zero; the
    /// operator keeps an offline placeholder registration so queued jobs still wait.
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub min_idle: u32,
    /// Upper bound on live agent pods of this AgentPool (starting, idle and busy).
    #[serde(default = "default_max_agents")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_agents: u32,
    /// How long a surplus agent may stay idle before it is scaled down (Go duration, e.g.
    /// `10m`; 0s to 24h).
    #[serde(default = "default_idle_timeout")]
    #[x_kube(validation = kube::core::Rule::new(concat!("self.matches('", go_duration_pattern!(), "') && duration(self) >= duration('0s') && duration(self) <= duration('24h')")).message("must be a duration between 0s and 24h, e.g. 10m"))]
    #[schemars(length(max = 32))]
    pub idle_timeout: String,
    /// How often the shared Azure DevOps queue poll runs (Go duration, e.g. `15s`; 5s to
    /// 10m). Service hooks trigger earlier polls; this is the safety net.
    #[serde(default = "default_poll_interval")]
    #[x_kube(validation = kube::core::Rule::new(concat!("self.matches('", go_duration_pattern!(), "') && duration(self) >= duration('5s') && duration(self) <= duration('10m')")).message("must be a duration between 5s and 10m, e.g. 15s"))]
    #[schemars(length(max = 32))]
    pub poll_interval: String,
    /// Standby schedules: windows of local time with their own `minIdle` (e.g. five warm
    /// agents on weekdays 08:00–18:00 in `Europe/Berlin`). Outside every window `minIdle`
    /// applies; where windows overlap, the largest `minIdle` wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub schedules: Vec<StandbySchedule>,
}

impl ScalingSpec {
    /// The planner's view of these settings now, with durations parsed and the standby
    /// schedules applied.
    pub fn policy(&self) -> Result<ScalingPolicy, ViewError> {
        self.policy_at(chrono::Utc::now())
    }

    /// The planner's view of these settings at `now`.
    pub fn policy_at(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ScalingPolicy, ViewError> {
        let scheduled = scheduled_min_idle(&self.schedules, now)?;
        Ok(ScalingPolicy {
            min_idle: scheduled.unwrap_or(self.min_idle).min(self.max_agents),
            max_agents: self.max_agents,
            idle_timeout: parse_go_duration(&self.idle_timeout)?,
        })
    }

    /// `pollInterval`, parsed.
    pub fn poll_interval(&self) -> Result<Duration, DurationError> {
        parse_go_duration(&self.poll_interval)
    }
}

impl Default for ScalingSpec {
    fn default() -> Self {
        Self {
            min_idle: 0,
            max_agents: default_max_agents(),
            idle_timeout: default_idle_timeout(),
            poll_interval: default_poll_interval(),
            schedules: Vec::new(),
        }
    }
}

/// The agent container.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpec {
    /// Agent image: the official Azure Pipelines agent plus `azp-agent` as entrypoint.
    #[x_kube(validation = kube::core::Rule::new("self.size() > 0").message("must not be empty"))]
    #[schemars(length(max = 1024))]
    pub image: String,
    /// Job work directory inside the container (an emptyDir).
    #[serde(default = "default_work_dir")]
    #[x_kube(validation = kube::core::Rule::new("self.startsWith('/')").message("must be an absolute path"))]
    #[schemars(length(max = 1024))]
    pub work_dir: String,
    /// Compute resources of the agent container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra environment variables of the agent container (they also become capabilities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
}

/// Where agent pods build images: a BuildKit sidecar (rootless or privileged) or a shared
/// remote BuildKit.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.mode) || self.mode != 'remote' || has(self.remote)").message("mode remote needs remote.address"))]
pub struct BuildkitSpec {
    /// Whether agent pods can build images (a sidecar, or the remote BuildKit of `mode: remote`).
    #[serde(default)]
    pub enabled: bool,
    /// `rootless` (default): a rootless BuildKit sidecar; needs user namespaces on the node and
    /// an Unconfined seccomp/AppArmor profile for the sidecar (Pod Security `privileged`
    /// level). `privileged`: a rootful sidecar with `privileged: true` (full root on the node
    /// for anyone who controls a build; for nodes without user namespaces). `remote`: no
    /// sidecar; builds go to an existing `buildkitd` Service (`remote`), with mutual TLS.
    #[serde(default)]
    pub mode: BuildkitMode,
    /// The shared BuildKit of `mode: remote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteBuildkit>,
    /// BuildKit image; a `-rootless` tag is expected.
    #[serde(default = "default_buildkit_image")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
    /// Compute resources of the BuildKit sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Registry build cache for `azp-agent build-push`, so a build in a new pod (an empty
    /// BuildKit) reuses earlier pods' layers: `none` (no cache), a repository such as
    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/build-cache` (each image gets its own tag
    /// there, derived from its repository path), or a full reference with a tag. Unset: the
    /// image's own repository, tag `buildcache`. Passed to the pod as `AZP_BUILDKIT_CACHE`; a
    /// step's `--cache` flag overrides it. Give the cache repository an ECR lifecycle policy
    /// (see the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == 'none' || (self.contains('/') && !self.contains(' ') && !self.contains(','))").message("must be `none` or a registry reference <registry>/<repository>[:tag]"))]
    #[schemars(length(min = 1, max = 512))]
    pub cache: Option<String>,
}

/// How agent pods reach BuildKit.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
#[serde(rename_all = "camelCase")]
pub enum BuildkitMode {
    /// Rootless sidecar (non-root, not privileged; seccomp and AppArmor Unconfined).
    #[default]
    Rootless,
    /// Rootful sidecar with `privileged: true`.
    Privileged,
    /// No sidecar: a shared `buildkitd` reached over TCP with client certificates.
    Remote,
}

/// A shared `buildkitd` (for example BuildKit's own Kubernetes Deployment + Service example).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RemoteBuildkit {
    /// `BUILDKIT_HOST` of the agent, e.g. `tcp://buildkitd.buildkit.svc:1234`.
    #[x_kube(validation = kube::core::Rule::new("self.startsWith('tcp://')").message("must be tcp://host:port"))]
    #[schemars(length(min = 7, max = 512))]
    pub address: String,
    /// Secret in the AgentPool's namespace with the client certificate: `ca.crt`, `tls.crt`,
    /// `tls.key` (a `kubernetes.io/tls` Secret plus the CA) or `ca.pem`, `cert.pem`, `key.pem`.
    /// Mounted read-only into the `agent` container only and passed to `buildctl --tlsdir`.
    #[schemars(length(min = 1, max = 253))]
    pub client_secret_name: String,
}

impl Default for BuildkitSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: BuildkitMode::Rootless,
            remote: None,
            image: default_buildkit_image(),
            resources: None,
            cache: None,
        }
    }
}

/// Amazon ECR settings for the agent's login step.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EcrSpec {
    /// AWS region of the registry, e.g. `ap-northeast-1`.
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]+$')").message("must be an AWS region such as ap-northeast-1"))]
    #[schemars(length(max = 32))]
    pub region: String,
    /// Registry host, e.g. `123456789012.dkr.ecr.ap-northeast-1.amazonaws.com`.
    #[x_kube(validation = kube::core::Rule::new("self.size() > 0 && !self.contains('/')").message("must be a registry host without scheme or path"))]
    #[schemars(length(max = 253))]
    pub registry: String,
    /// ECR API endpoint override, e.g. a VPC interface endpoint
    /// `https://vpce-0abc.api.ecr.ap-northeast-1.vpce.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''").message("must be an https:// URL"))]
    #[schemars(length(max = 2048))]
    pub api_endpoint: Option<String>,
    /// Fail the agent's preflight unless the ECR endpoints resolve to private addresses.
    #[serde(default)]
    pub require_private_endpoint: bool,
}

fn default_token_key() -> String {
    "token".into()
}

fn default_ca_key() -> String {
    "ca.crt".into()
}

fn default_max_agents() -> u32 {
    10
}

fn default_idle_timeout() -> String {
    "10m".into()
}

fn default_poll_interval() -> String {
    "15s".into()
}

fn default_work_dir() -> String {
    azp_contract::paths::WORK_DIR.into()
}

fn default_buildkit_image() -> String {
    DEFAULT_BUILDKIT_IMAGE.into()
}
