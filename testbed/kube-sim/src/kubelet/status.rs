//! The pod status the kubelet reports, built from what it knows about each container.

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use super::env::POD_IP;
use super::runtime::ContainerExit;

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What a container is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerState {
    /// Not started (yet): `ContainerCreating`, `PodInitializing`, `CreateContainerConfigError`...
    Waiting {
        /// The waiting reason.
        reason: String,
        /// Detail, if any.
        message: Option<String>,
    },
    /// Running since `started_at`.
    Running {
        /// Start time.
        started_at: DateTime<Utc>,
    },
    /// Stopped.
    Terminated {
        /// How it stopped.
        exit: ContainerExit,
        /// When it had started.
        started_at: DateTime<Utc>,
    },
}

impl ContainerState {
    fn to_json(&self, container_id: &str) -> Value {
        match self {
            Self::Waiting { reason, message } => {
                let mut waiting = json!({"reason": reason});
                if let Some(m) = message {
                    waiting["message"] = json!(m);
                }
                json!({"waiting": waiting})
            }
            Self::Running { started_at } => json!({"running": {"startedAt": time(started_at)}}),
            Self::Terminated { exit, started_at } => {
                let mut terminated = json!({
                    "exitCode": exit.exit_code,
                    "reason": exit.reason,
                    "startedAt": time(started_at),
                    "finishedAt": time(&exit.finished_at),
                    "containerID": container_id,
                });
                if !exit.message.is_empty() {
                    terminated["message"] = json!(exit.message);
                }
                json!({"terminated": terminated})
            }
        }
    }
}

/// The kubelet's record of one container.
#[derive(Debug, Clone)]
pub struct ContainerRecord {
    /// Container name.
    pub name: String,
    /// Image as written in the spec (never pulled).
    pub image: String,
    /// Current state.
    pub state: ContainerState,
    /// The previous run, after a restart.
    pub last_state: Option<ContainerState>,
    /// How often it was restarted.
    pub restart_count: i32,
    /// A fake runtime id, new per run.
    pub container_id: String,
    /// Running, but its startup probe has not passed yet (`started: false`, not ready).
    pub probing: bool,
}

impl ContainerRecord {
    /// A container waiting with `reason`.
    pub fn waiting(container: &Container, reason: &str) -> Self {
        Self {
            name: container.name.clone(),
            image: container.image.clone().unwrap_or_default(),
            state: ContainerState::Waiting {
                reason: reason.to_owned(),
                message: None,
            },
            last_state: None,
            restart_count: 0,
            container_id: String::new(),
            probing: false,
        }
    }

    /// Marks the container running now.
    pub fn started(&mut self, started_at: DateTime<Utc>) {
        if let ContainerState::Terminated { .. } = self.state {
            self.last_state = Some(self.state.clone());
            self.restart_count += 1;
        }
        self.container_id = format!("kube-sim://{}", uuid::Uuid::new_v4().simple());
        self.state = ContainerState::Running { started_at };
        self.probing = false;
    }

    /// Marks the container stopped.
    pub fn terminated(&mut self, exit: ContainerExit) {
        let started_at = match &self.state {
            ContainerState::Running { started_at } => *started_at,
            _ => exit.finished_at,
        };
        self.state = ContainerState::Terminated { exit, started_at };
        self.probing = false;
    }

    /// Whether it is running now.
    pub fn is_running(&self) -> bool {
        matches!(self.state, ContainerState::Running { .. })
    }

    /// Running and past its startup probe (if any).
    pub fn is_started(&self) -> bool {
        self.is_running() && !self.probing
    }

    /// The exit, if it stopped.
    pub fn exit(&self) -> Option<&ContainerExit> {
        match &self.state {
            ContainerState::Terminated { exit, .. } => Some(exit),
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        let mut status = json!({
            "name": self.name,
            "image": self.image,
            "imageID": format!("kube-sim://{}", self.image),
            "ready": self.is_started(),
            "started": self.is_started(),
            "restartCount": self.restart_count,
            "state": self.state.to_json(&self.container_id),
            "lastState": self.last_state.as_ref().map_or(json!({}), |s| s.to_json("")),
        });
        if !self.container_id.is_empty() {
            status["containerID"] = json!(self.container_id);
        }
        status
    }
}

/// The pod-level phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Accepted, containers not all started.
    Pending,
    /// Main containers started.
    Running,
    /// All main containers exited 0.
    Succeeded,
    /// A main container failed and will not restart.
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
        }
    }

    /// Succeeded or Failed.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// Everything the kubelet reports for one pod.
#[derive(Debug, Clone)]
pub struct PodReport {
    /// The phase.
    pub phase: Phase,
    /// When the kubelet accepted the pod.
    pub start_time: DateTime<Utc>,
    /// Init containers (incl. native sidecars), in spec order.
    pub init: Vec<ContainerRecord>,
    /// Main containers, in spec order.
    pub main: Vec<ContainerRecord>,
    /// When volumes and config were ready, if they are.
    pub sandbox_ready_at: Option<DateTime<Utc>>,
    /// When init containers finished (sidecars started), if they did.
    pub initialized_at: Option<DateTime<Utc>>,
    /// When readiness last changed.
    pub ready_changed_at: DateTime<Utc>,
    /// Readiness as last reported.
    pub ready: bool,
    /// Why the pod ended early (`DeadlineExceeded`), with a message.
    pub failure: Option<(String, String)>,
}

impl PodReport {
    /// The report of a freshly accepted pod: everything waiting.
    pub fn new(pod: &Pod) -> Self {
        let now = Utc::now();
        let spec = pod.spec.as_ref();
        let init = spec
            .and_then(|s| s.init_containers.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| ContainerRecord::waiting(c, "PodInitializing"))
                    .collect()
            })
            .unwrap_or_default();
        let has_init =
            spec.is_some_and(|s| s.init_containers.as_ref().is_some_and(|c| !c.is_empty()));
        let main_reason = if has_init {
            "PodInitializing"
        } else {
            "ContainerCreating"
        };
        let main = spec
            .map(|s| {
                s.containers
                    .iter()
                    .map(|c| ContainerRecord::waiting(c, main_reason))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            phase: Phase::Pending,
            start_time: now,
            init,
            main,
            sandbox_ready_at: None,
            initialized_at: None,
            ready_changed_at: now,
            ready: false,
            failure: None,
        }
    }

    /// Recomputes readiness: running, every main container running, every sidecar running.
    pub fn refresh_readiness(&mut self, sidecar_names: &[String]) {
        let sidecars_running = self
            .init
            .iter()
            .filter(|c| sidecar_names.contains(&c.name))
            .all(ContainerRecord::is_started);
        let ready = self.phase == Phase::Running
            && sidecars_running
            && self.main.iter().all(ContainerRecord::is_running);
        if ready != self.ready {
            self.ready = ready;
            self.ready_changed_at = Utc::now();
        }
    }

    /// The `status` object written through `pods/status`.
    pub fn to_json(&self) -> Value {
        let condition = |kind: &str, since: Option<&DateTime<Utc>>, reason: Option<&str>| {
            let mut c = json!({
                "type": kind,
                "status": if since.is_some() { "True" } else { "False" },
                "lastTransitionTime": time(since.unwrap_or(&self.start_time)),
                "lastProbeTime": null,
            });
            if let Some(r) = reason {
                c["reason"] = json!(r);
            }
            c
        };
        let not_ready_reason = if self.phase.is_terminal() {
            Some("PodCompleted")
        } else if self.ready {
            None
        } else {
            Some("ContainersNotReady")
        };
        let ready_since = self.ready.then_some(&self.ready_changed_at);
        let ready_condition = |kind: &str| {
            let mut c = condition(kind, ready_since, not_ready_reason);
            c["lastTransitionTime"] = json!(time(&self.ready_changed_at));
            c
        };
        let mut status = json!({
            "phase": self.phase.as_str(),
            "conditions": [
                condition("PodReadyToStartContainers", self.sandbox_ready_at.as_ref(), None),
                condition("Initialized", self.initialized_at.as_ref(), None),
                ready_condition("Ready"),
                ready_condition("ContainersReady"),
                condition("PodScheduled", Some(&self.start_time), None),
            ],
            "hostIP": POD_IP,
            "hostIPs": [{"ip": POD_IP}],
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "startTime": time(&self.start_time),
            "qosClass": "BestEffort",
            "containerStatuses": self.main.iter().map(ContainerRecord::to_json).collect::<Vec<_>>(),
        });
        if let Some((reason, message)) = &self.failure {
            status["reason"] = json!(reason);
            status["message"] = json!(message);
        }
        if !self.init.is_empty() {
            status["initContainerStatuses"] = json!(
                self.init
                    .iter()
                    .map(ContainerRecord::to_json)
                    .collect::<Vec<_>>()
            );
        }
        status
    }
}
