//! The real BuildKit (v0.32.2 from `$AZP_PEERS_DIR/buildkit/`), run rootless as in the pod's
//! sidecar: `rootlesskit buildkitd --oci-worker-no-process-sandbox` as a NON-ROOT user. When the
//! tests run as root (CI), the daemon drops to the user [`BUILD_USER`] (created by `make peers`
//! with /etc/subuid and /etc/subgid ranges); otherwise it runs as the current user.
//!
//! One daemon per test: a start takes about a second, and nextest runs every test in its own
//! process, so a daemon shared "per test binary" would still be one per test (and a static
//! one would never be stopped).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Daemon, free_port, peers_dir, require};

/// The non-root user rootless BuildKit runs as when the tests run as root.
pub const BUILD_USER: &str = "azpbuild";

/// `buildctl` from the peers directory.
pub fn buildctl() -> PathBuf {
    require(&peers_dir().join("buildkit/buildctl"))
}

fn buildkitd_binary() -> PathBuf {
    require(&peers_dir().join("buildkit/buildkitd"))
}

fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

fn user_ids(user: &str) -> (String, String) {
    let id = |flag: &str| {
        let output = Command::new("id").args([flag, user]).output().unwrap();
        assert!(
            output.status.success(),
            "user {user} is missing: run `make peers` (it creates {user} with subuid/subgid ranges)"
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    (id("-u"), id("-g"))
}

/// Client certificate files for a TLS-listening daemon (`buildctl --tlsdir` layout).
pub struct ClientTls {
    /// Directory with `ca.pem`, `cert.pem`, `key.pem`.
    pub dir: PathBuf,
}

/// How the daemon listens.
pub enum Listen {
    /// `unix://<tempdir>/buildkitd.sock` (the sidecar's way).
    Unix,
    /// `tcp://127.0.0.1:<port>` with mutual TLS (a shared remote buildkitd's way); the server
    /// certificate, key and the CA that signs clients are in this directory as
    /// `ca.pem`, `cert.pem`, `key.pem`.
    TcpMutualTls {
        /// The server's TLS files.
        server_dir: PathBuf,
    },
}

/// A rootless `buildkitd`, stopped (SIGTERM to rootlesskit) when dropped.
pub struct Buildkitd {
    /// The address for `buildctl --addr` / `BUILDKIT_HOST`.
    pub addr: String,
    /// The daemon's state directory (`--root`), empty at start.
    pub root: PathBuf,
    _daemon: Daemon,
    /// Holds socket, state and log; dropped after the daemon.
    pub dir: tempfile::TempDir,
}

impl Buildkitd {
    /// Starts a daemon on a unix socket with an empty state, waits until it answers.
    pub fn start() -> Self {
        Self::start_listening(Listen::Unix, None)
    }

    /// Starts a daemon as described, waits until `buildctl debug workers` answers (with
    /// `client` when the daemon demands client certificates).
    pub fn start_listening(listen: Listen, client: Option<&ClientTls>) -> Self {
        let rootlesskit = require(Path::new("/usr/bin/rootlesskit"));
        require(Path::new("/usr/bin/newuidmap"));
        let buildkitd = buildkitd_binary();
        // Short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("azbk")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path().join("state");
        let runtime_dir = dir.path().join("run");
        std::fs::create_dir(&runtime_dir).unwrap();
        // The daemon user may not reach the checkout (a clone under /root, a 0700 temporary
        // directory): it runs its own copy of the binary, in its own directory.
        let own_bin = dir.path().join("bin");
        std::fs::create_dir(&own_bin).unwrap();
        let buildkitd = {
            let copy = own_bin.join("buildkitd");
            std::fs::copy(&buildkitd, &copy).unwrap();
            copy
        };
        let (addr, tls_args) = match &listen {
            Listen::Unix => (
                format!("unix://{}", runtime_dir.join("buildkitd.sock").display()),
                Vec::new(),
            ),
            Listen::TcpMutualTls { server_dir } => {
                // The daemon user must read the server key: copy it into the daemon's own dir.
                let own = dir.path().join("tls");
                std::fs::create_dir(&own).unwrap();
                let mut args = Vec::new();
                for (flag, file) in [
                    ("--tlscacert", "ca.pem"),
                    ("--tlscert", "cert.pem"),
                    ("--tlskey", "key.pem"),
                ] {
                    std::fs::copy(server_dir.join(file), own.join(file)).unwrap();
                    args.push(flag.to_owned());
                    args.push(own.join(file).display().to_string());
                }
                (format!("tcp://127.0.0.1:{}", free_port()), args)
            }
        };
        let user = if running_as_root() {
            BUILD_USER.to_owned()
        } else {
            std::env::var("USER").unwrap_or_default()
        };
        let mut command = if running_as_root() {
            let (uid, gid) = user_ids(BUILD_USER);
            let chown = Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{gid}"))
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success(), "chown of the buildkitd dir failed");
            let mut command = Command::new(require(Path::new("/usr/bin/setpriv")));
            command
                .args(["--reuid", &uid, "--regid", &gid, "--init-groups"])
                .arg(&rootlesskit);
            command
        } else {
            Command::new(&rootlesskit)
        };
        // A clean environment as a login of that user would have: buildkitd takes `USER=root`
        // for a rootful daemon and then wants /run/buildkit.
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("USER", &user)
            .env("LOGNAME", &user)
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .args(["--net=host", "--copy-up=/etc", "--state-dir"])
            .arg(runtime_dir.join("rootlesskit"))
            .arg(&buildkitd)
            .args(["--addr", &addr, "--root"])
            .arg(&root)
            .arg("--oci-worker-no-process-sandbox")
            .args(&tls_args);
        let log = dir.path().join("buildkitd.log");
        let mut daemon = Daemon::spawn("rootlesskit buildkitd", &mut command, &log);
        let start = Instant::now();
        loop {
            let mut probe = Command::new(buildctl());
            if let Some(client) = client {
                probe.arg("--tlsdir").arg(&client.dir);
            }
            let answered = probe
                .args(["--addr", &addr, "debug", "workers"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if answered {
                break;
            }
            let exited = daemon.child.try_wait().unwrap();
            let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                exited.is_none(),
                "rootless buildkitd exited ({exited:?}) before answering:\n{}",
                log_text()
            );
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "rootless buildkitd did not answer within 60 s:\n{}",
                log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            addr,
            root,
            _daemon: daemon,
            dir,
        }
    }

    /// The daemon's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("buildkitd.log")).unwrap_or_default()
    }
}
