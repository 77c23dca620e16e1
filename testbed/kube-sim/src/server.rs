//! Running the simulator: bind, serve, hand out URLs, kubeconfigs and clients.
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::api::Cluster;
use crate::config::KubeSimConfig;
use crate::error::KubeSimError;
use crate::http::{AppState, router};

/// A started simulator; dropping it without `shutdown` leaves the server task running until the runtime ends.
#[derive(Debug)]
pub struct RunningKubeSim {
    addr: SocketAddr,
    cluster: Arc<Cluster>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningKubeSim {
    /// Loads CRDs, binds `listen` (port 0: any free port) and starts serving.
    pub async fn start(cfg: KubeSimConfig, listen: SocketAddr) -> Result<Self, KubeSimError> {
        let crds = match &cfg.crds_dir {
            Some(dir) => crate::crd::load_dir(dir)?,
            None => Vec::new(),
        };
        let cluster = Arc::new(Cluster::new(cfg));
        for crd in crds {
            let name = crate::meta::name(&crd).to_string();
            cluster.install_crd(crd).map_err(|e| KubeSimError::Crd {
                path: name,
                message: e.message,
            })?;
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| KubeSimError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr()?;
        let tokens = crate::sa_tokens::TokenIssuer::generate().map_err(KubeSimError::SigningKey)?;
        let app = router(AppState {
            cluster: cluster.clone(),
            address: addr.to_string(),
            tokens: Arc::new(tokens),
        });
        let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "kube-sim server stopped");
            }
        });
        tracing::info!(%addr, "kube-sim listening");
        Ok(Self {
            addr,
            cluster,
            shutdown,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The in-process cluster state (for tests that need to inspect or seed it directly).
    pub fn cluster(&self) -> Arc<Cluster> {
        self.cluster.clone()
    }

    /// A kubeconfig pointing at this server (context `kube-sim`, namespace `default`, any token accepted).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    /// A kube client for this server, namespace `default`.
    pub async fn client(&self) -> kube::Client {
        let mut config = kube::Config::new(self.url().parse().unwrap_or_default());
        config.default_namespace = "default".into();
        kube::Client::try_from(config)
            .unwrap_or_else(|e| panic!("kube client for {}: {e}", self.url()))
    }

    /// Makes matching requests fail (429, 500, 503, ...) — for testing clients' retries and back-off.
    pub fn inject_fault(&self, fault: crate::faults::Fault) {
        self.cluster.faults.add(fault);
    }

    /// From now on, records when each request with `method` and a path ending in `path_suffix`
    /// is answered, and with which status (see [`Self::journal`]).
    pub fn record_requests(&self, method: &str, path_suffix: &str) {
        self.cluster.journal.record(method, path_suffix);
    }

    /// The requests recorded since [`Self::record_requests`].
    pub fn journal(&self) -> Vec<crate::journal::JournalEntry> {
        self.cluster.journal.entries()
    }

    /// Ends every open watch now, as an API server restart would.
    pub fn end_watches(&self) {
        self.cluster.end_watches();
    }

    /// Forgets the event history, so the next resume of any watch gets 410 Gone and relists.
    pub fn compact_history(&self) {
        self.cluster.compact_history();
    }

    /// Stops serving; open watches end.
    pub async fn shutdown(self) {
        self.cluster.stopping.cancel();
        let _ = self.shutdown.send(());
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A kubeconfig for `url`.
pub fn kubeconfig_yaml(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {url}\ncontexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    namespace: default\n    user: kube-sim\ncurrent-context: kube-sim\nusers:\n- name: kube-sim\n  user:\n    token: kube-sim-accepts-any-token\npreferences: {{}}\n"
    )
}
