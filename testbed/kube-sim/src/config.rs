//! Start-up configuration of the simulator.
use std::path::PathBuf;
use std::time::Duration;

/// How the simulated API server behaves. `Default` suits most tests.
#[derive(Debug, Clone)]
pub struct KubeSimConfig {
    /// Directory of `*.yaml` CustomResourceDefinitions registered at start.
    pub crds_dir: Option<PathBuf>,
    /// How many watch events are retained; a watch from an older resourceVersion gets 410 Gone.
    pub event_history: usize,
    /// How often a watch with `allowWatchBookmarks=true` receives a BOOKMARK event.
    pub bookmark_interval: Duration,
    /// Upper bound for a watch's lifetime when the client sends no `timeoutSeconds`.
    pub max_watch_timeout: Duration,
    /// Namespaces that exist at start (besides `default`, `kube-system`, `kube-public`).
    pub extra_namespaces: Vec<String>,
}

impl Default for KubeSimConfig {
    fn default() -> Self {
        Self {
            crds_dir: None,
            event_history: 10_000,
            bookmark_interval: Duration::from_secs(10),
            max_watch_timeout: Duration::from_secs(1800),
            extra_namespaces: Vec::new(),
        }
    }
}
