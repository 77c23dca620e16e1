//! Real test peers, started on 127.0.0.1 with run-time ports and stopped when their guards drop:
//! moto (ECR + STS), docker-registry with htpasswd, and Debian's dockerd. A missing peer fails
//! the test with "run `make peers`". Other crates' tests include this file by `#[path]`, so it
//! depends on nothing but `std` and `tempfile`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password moto's `GetAuthorizationToken` hands out for account 123456789012 (user `AWS`).
pub const MOTO_PASSWORD: &str = "123456789012-auth-token";

/// Where `make peers` installed the Python venv.
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("AZP_PEERS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join(".cache/peers"),
    }
}

/// The workspace root: the nearest ancestor of the test crate holding `Cargo.lock`.
pub fn workspace_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(crate_dir)
        .to_owned()
}

/// Panics with the fix when a peer binary is missing.
pub fn require(path: &Path) -> PathBuf {
    assert!(
        path.exists(),
        "test peer {} is missing: run `make peers`",
        path.display()
    );
    path.to_owned()
}

/// A port that was free a moment ago (the peers take a port number, not a listening socket).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < timeout,
            "{what} did not become ready within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A child process stopped with SIGTERM (then SIGKILL) on drop, so daemons can clean up their children.
pub struct Daemon {
    pub(crate) child: Child,
    name: &'static str,
}

impl Daemon {
    pub(crate) fn spawn(name: &'static str, command: &mut Command, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (run `make peers`)"));
        Self { child, name }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop on SIGTERM; killing", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto_server: ECR and STS on `http://127.0.0.1:<port>`.
pub struct Moto {
    _daemon: Daemon,
    /// Endpoint URL.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub fn start() -> Self {
        let binary = require(&peers_dir().join("venv/bin/moto_server"));
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let daemon = Daemon::spawn(
            "moto_server",
            Command::new(binary).args(["-H", "127.0.0.1", "-p", &port.to_string()]),
            &dir.path().join("moto.log"),
        );
        wait_until("moto_server", Duration::from_secs(30), || port_open(port));
        Self {
            _daemon: daemon,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

/// docker-registry (distribution v2) with htpasswd user `AWS` / [`MOTO_PASSWORD`], plain HTTP.
pub struct Registry {
    _daemon: Daemon,
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// Temp dir holding config and data.
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Starts the registry and waits until `/v2/` asks for credentials.
    pub fn start() -> Self {
        let binary = require(Path::new("/usr/bin/docker-registry"));
        let htpasswd = require(Path::new("/usr/bin/htpasswd"));
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let out = Command::new(htpasswd)
            .args(["-Bbn", "AWS", MOTO_PASSWORD])
            .output()
            .unwrap();
        assert!(out.status.success(), "htpasswd failed");
        std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let config = format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {data}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd: {{realm: basic-realm, path: {pw}}}\n",
            data = dir.path().join("data").display(),
            pw = dir.path().join("htpasswd").display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let daemon = Daemon::spawn(
            "docker-registry",
            Command::new(binary).arg("serve").arg(&config_path),
            &dir.path().join("registry.log"),
        );
        wait_until("docker-registry", Duration::from_secs(20), || {
            port_open(port)
        });
        Self {
            _daemon: daemon,
            host: format!("127.0.0.1:{port}"),
            dir,
        }
    }
}

/// Debian's dockerd (20.10, BuildKit built in) on its own socket, vfs storage, no bridge, no iptables.
pub struct Dockerd {
    /// Stopped first on drop (see `Drop`).
    daemon: Option<Daemon>,
    /// `unix:///…/docker.sock`.
    pub host: String,
    /// Its data root, exec root, socket and log (`dockerd.log`).
    pub dir: tempfile::TempDir,
}

/// The Debian docker client; `/usr/local/bin/docker` (newer) needs buildx for BuildKit builds.
pub const DOCKER_CLI: &str = "/usr/bin/docker";

impl Dockerd {
    /// Starts dockerd trusting `insecure_registry` over plain HTTP, waits until `docker version` answers.
    pub fn start(insecure_registry: &str) -> Self {
        Self::start_with_storage(insecure_registry, "vfs")
    }

    /// [`Dockerd::start`] with another storage driver (`overlay2` loads and runs large images
    /// much faster than `vfs`, which copies every layer in full).
    pub fn start_with_storage(insecure_registry: &str, storage_driver: &str) -> Self {
        let binary = require(Path::new("/usr/sbin/dockerd"));
        require(Path::new(DOCKER_CLI));
        // Short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("azpd")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path();
        let socket = root.join("docker.sock");
        let host = format!("unix://{}", socket.display());
        let daemon = Daemon::spawn(
            "dockerd",
            Command::new(binary)
                .arg("--data-root")
                .arg(root.join("data"))
                .arg("--exec-root")
                .arg(root.join("exec"))
                .arg("--pidfile")
                .arg(root.join("dockerd.pid"))
                .args([
                    "-H",
                    &host,
                    "--iptables=false",
                    "--ip6tables=false",
                    "--bridge=none",
                ])
                .arg(format!("--storage-driver={storage_driver}"))
                .args(["--insecure-registry", insecure_registry]),
            &root.join("dockerd.log"),
        );
        wait_until("dockerd", Duration::from_secs(60), || {
            Command::new(DOCKER_CLI)
                .args(["-H", &host, "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        Self {
            daemon: Some(daemon),
            host,
            dir,
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Stop dockerd, then release the network-namespace mount it leaves under its exec root
        // (`exec/netns/default`, an nsfs mount that outlives it): with it mounted the temporary
        // directory, hundreds of MB of image layers, could not be removed.
        drop(self.daemon.take());
        let netns = self.dir.path().join("exec/netns/default");
        if netns.exists() {
            let _ = Command::new("umount")
                .arg("--lazy")
                .arg(&netns)
                .stderr(Stdio::null())
                .status();
        }
    }
}
